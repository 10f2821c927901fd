"""A simulation drawn as a timeline: one lane each for the workflow's mail, other workflows'
mail, the trigger's misses and the engine's decisions, over the simulated days.

Every mark has a tooltip with its full text; the page lists the same events in words.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta

from markupsafe import Markup

from mailengine.studio.simulation_view import MailEvent, MissEvent, SimulationView
from mailengine.studio.svg import INK, MUTED, RULE, document, element, group, path, text

WIDTH = 960.0
LABEL_WIDTH = 150.0
RIGHT = 28.0
TOP = 12.0
LANE = 46.0
AXIS = 34.0
MAX_DAY_LABELS = 12
MAIL, HELD, OTHER, MISS, DECISION = "#1d4ed8", "#1d4ed8", "#6b7280", "#b91c1c", "#6d28d9"
LANES = ("This workflow", "Other workflows", "Not enrolled", "Decisions")


class _Scale:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        # A little room inside the lanes, so a mark at the very start is not cut in half.
        self.left, self.width = LABEL_WIDTH + 12, WIDTH - LABEL_WIDTH - RIGHT - 24

    def x(self, moment: datetime) -> float:
        share = (moment - self.start) / (self.end - self.start)
        return self.left + min(max(share, 0.0), 1.0) * self.width


def timeline_svg(view: SimulationView, ident: str = "timeline") -> Markup:
    scale = _Scale(view.start, view.end)
    height = TOP + LANE * len(LANES) + AXIS
    body = [*_lanes(), *_days(view, scale)]
    body.append(group([_mail(mail, scale, 0) for mail in view.mails], class_="mails"))
    body.append(group([_mail(mail, scale, 1) for mail in view.others], class_="other-mails"))
    body.append(group([_miss(miss, scale) for miss in view.misses], class_="misses"))
    body.append(
        group([_decision(at, words, scale) for at, words in view.decisions], class_="decisions")
    )
    title = f"Timeline of {view.workflow.name} for {view.email} over {view.days} days"
    return document(WIDTH, height, title, _description(view), ident, body)


def _description(view: SimulationView) -> str:
    sent, held = len(view.sent), len(view.mails) - len(view.sent)
    parts = [f"{sent} mail{'s' if sent != 1 else ''} from {view.workflow.name}"]
    if held:
        parts.append(f"{held} held out")
    parts.append(f"{len(view.others)} from other workflows")
    parts.append(f"{sum(miss.count for miss in view.misses)} trigger occurrences that miss")
    return (
        f"From {view.start:%Y-%m-%d %H:%M} to {view.end:%Y-%m-%d %H:%M} ({view.zone.key}): "
        + ", ".join(parts)
        + ". The list below gives every event in words."
    )


def _lane_y(index: int) -> float:
    """The middle of lane `index`."""
    return TOP + LANE * index + LANE / 2


def _lanes() -> list[Markup]:
    marks = []
    for index, name in enumerate(LANES):
        y = _lane_y(index)
        marks.append(path([(LABEL_WIDTH, y), (WIDTH - RIGHT, y)], stroke=RULE, stroke_width=1))
        marks.append(
            text(
                LABEL_WIDTH - 12,
                y + 4,
                name,
                fill=INK,
                font_size=12,
                text_anchor="end",
                class_="lane",
            )
        )
    return marks


def _days(view: SimulationView, scale: _Scale) -> list[Markup]:
    """A tick at each local midnight, a date on every few of them."""
    bottom = TOP + LANE * len(LANES)
    marks = [
        path(
            [(scale.left, bottom), (scale.left + scale.width, bottom)], stroke=MUTED, stroke_width=1
        )
    ]
    midnights = []
    day = view.start.date() + timedelta(days=1)
    while (midnight := datetime.combine(day, time(0), tzinfo=view.zone)) <= view.end:
        midnights.append(midnight)
        day += timedelta(days=1)
    every = math.ceil(len(midnights) / MAX_DAY_LABELS) or 1
    for index, midnight in enumerate(midnights):
        x = scale.x(midnight)
        marks.append(path([(x, TOP), (x, bottom + 4)], stroke=RULE, stroke_width=1))
        if index % every == 0:
            marks.append(
                text(
                    x,
                    bottom + 20,
                    f"{midnight:%b %-d}",
                    fill=MUTED,
                    font_size=11,
                    text_anchor="middle",
                    class_="day",
                )
            )
    return marks


def _mail(mail: MailEvent, scale: _Scale, lane: int) -> Markup:
    x, y = scale.x(mail.at), _lane_y(lane)
    held = " (held out: not sent)" if mail.held_out else ""
    tip = f"{mail.at:%Y-%m-%d %H:%M} {mail.workflow} send {mail.number}: {mail.subject}{held}"
    if lane == 1:
        shape = element("rect", {"x": x - 4, "y": y - 4, "width": 8, "height": 8, "fill": OTHER})
        return group([element("title", {}, tip), shape], class_="other-mail")
    dot = element(
        "circle",
        {
            "cx": x,
            "cy": y,
            "r": 7,
            "fill": "#ffffff" if mail.held_out else MAIL,
            "stroke": HELD,
            "stroke_width": 2,
            "stroke_dasharray": "3 2" if mail.held_out else None,
        },
    )
    label = text(
        x, y - 12, str(mail.number), fill=INK, font_size=11, font_weight=700, text_anchor="middle"
    )
    kind = "held-out" if mail.held_out else "mail"
    return group([element("title", {}, tip), dot, label], class_=kind, data_step=mail.step_id)


def _miss(miss: MissEvent, scale: _Scale) -> Markup:
    y = _lane_y(2)
    left, right = scale.x(miss.first), scale.x(miss.last)
    bar = element(
        "rect",
        {
            "x": left - 2,
            "y": y - 6,
            "width": max(right - left, 0) + 4,
            "height": 12,
            "rx": 3,
            "fill": MISS,
            "fill_opacity": 0.85,
        },
    )
    tip = f"{miss.span}: {'; '.join(miss.reasons)}"
    return group([element("title", {}, tip), bar], class_="miss")


def _decision(at: datetime, words: str, scale: _Scale) -> Markup:
    x, y = scale.x(at), _lane_y(3)
    diamond = element("path", {"d": f"M{x:.1f} {y - 6:.1f} l6 6 l-6 6 l-6 -6 z", "fill": DECISION})
    return group([element("title", {}, f"{at:%Y-%m-%d %H:%M} {words}"), diamond], class_="decision")
