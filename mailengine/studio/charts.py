"""Line and bar charts as server-side SVG: axes with round ticks, labels, a legend, tooltips.

A `Chart` is plain data (labels along x, one or more series of numbers); `line_chart` and
`bar_chart` draw it. Pages show the same data as a table beside the picture (`Chart.rows`),
which is what screen readers and copy-paste get. Nothing here knows the store.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from mailengine.studio.svg import INK, MUTED, RULE, document, element, group, path, text

PALETTE = ("#2563eb", "#059669", "#d97706", "#7c3aed", "#dc2626", "#0e7490", "#4b5563")
WIDTH, HEIGHT = 560.0, 250.0
LEFT, RIGHT, TOP, BOTTOM = 64.0, 16.0, 40.0, 34.0
MAX_X_LABELS = 7
Formatter = Callable[[float], str]


def plain_number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


@dataclass(frozen=True)
class Chart:
    """`ident` must be unique on the page: it names the title and description elements."""

    ident: str
    title: str
    labels: Sequence[str]
    series: Sequence[Series]
    value_format: Formatter = plain_number
    axis_format: Formatter | None = None  # for the ticks; value_format when None
    integers: bool = True
    colors: Sequence[str] = field(default=PALETTE)

    def __post_init__(self) -> None:
        for each in self.series:
            if len(each.values) != len(self.labels):
                raise ValueError(
                    f"chart {self.ident}: series {each.name} has {len(each.values)} values "
                    f"for {len(self.labels)} labels"
                )

    @property
    def highest(self) -> float:
        return max((max(s.values, default=0) for s in self.series), default=0)

    def rows(self) -> list[tuple[str, list[str]]]:
        """The table fallback: one row per label, one formatted cell per series."""
        return [
            (label, [self.value_format(s.values[index]) for s in self.series])
            for index, label in enumerate(self.labels)
        ]

    def description(self) -> str:
        if not self.labels:
            return "No data."
        span = f"From {self.labels[0]} to {self.labels[-1]}."
        parts = []
        for each in self.series:
            if not any(each.values):
                parts.append(f"{each.name}: none.")
                continue
            peak = max(range(len(each.values)), key=lambda index: each.values[index])
            parts.append(
                f"{each.name}: total {self.value_format(sum(each.values))}, highest "
                f"{self.value_format(each.values[peak])} on {self.labels[peak]}."
            )
        return " ".join([span, *parts])


def nice_ticks(highest: float, count: int = 5, integers: bool = True) -> list[float]:
    """Round tick values from 0 to at least `highest`: steps of 1, 2, 2.5 or 5 times a power
    of ten (2.5 only where it stays a whole number for counts)."""
    if highest <= 0:
        return [0.0, 1.0]
    raw = highest / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    candidates = [1.0, 2.0, 2.5, 5.0, 10.0]
    if integers and power < 10:
        candidates.remove(2.5)
    step = next(power * c for c in candidates if power * c >= raw - 1e-12)
    if integers:
        step = max(step, 1.0)
    top = math.ceil(highest / step - 1e-9) * step
    return [round(index * step, 10) for index in range(round(top / step) + 1)]


@dataclass(frozen=True)
class Frame:
    """The plot area and the scales of one chart."""

    ticks: list[float]
    bands: int
    left: float = LEFT
    top: float = TOP
    width: float = WIDTH - LEFT - RIGHT
    height: float = HEIGHT - TOP - BOTTOM

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def band(self) -> float:
        return self.width / max(self.bands, 1)

    def y(self, value: float) -> float:
        return self.bottom - value / self.ticks[-1] * self.height

    def x(self, index: int) -> float:
        """The centre of band `index`."""
        return self.left + (index + 0.5) * self.band


def line_chart(chart: Chart) -> Markup:
    frame = Frame(nice_ticks(chart.highest, integers=chart.integers), len(chart.labels))
    lines = []
    for number, each in enumerate(chart.series):
        color = chart.colors[number % len(chart.colors)]
        points = [(frame.x(i), frame.y(v)) for i, v in enumerate(each.values)]
        dots = [
            element(
                "circle",
                {"cx": x, "cy": y, "r": 2.5, "fill": color},
                element("title", {}, _tip(chart, each, index)),
            )
            for index, (x, y) in enumerate(points)
        ]
        lines.append(
            group(
                [path(points, stroke=color, stroke_width=2, stroke_linejoin="round"), *dots],
                class_="series",
                data_series=each.name,
            )
        )
    return _document(chart, frame, lines)


def bar_chart(chart: Chart) -> Markup:
    frame = Frame(nice_ticks(chart.highest, integers=chart.integers), len(chart.labels))
    count = max(len(chart.series), 1)
    width = frame.band * 0.8 / count
    bars = []
    for number, each in enumerate(chart.series):
        color = chart.colors[number % len(chart.colors)]
        rects = []
        for index, value in enumerate(each.values):
            y = frame.y(value)
            x = frame.left + index * frame.band + frame.band * 0.1 + number * width
            rects.append(
                element(
                    "rect",
                    {"x": x, "y": y, "width": width, "height": frame.bottom - y, "fill": color},
                    element("title", {}, _tip(chart, each, index)),
                )
            )
        bars.append(group(rects, class_="series", data_series=each.name))
    return _document(chart, frame, bars)


def _document(chart: Chart, frame: Frame, marks: list[Markup]) -> Markup:
    body = [*_axes(chart, frame), *marks, *_legend(chart)]
    if not any(any(s.values) for s in chart.series):
        body.append(
            text(
                frame.left + frame.width / 2,
                frame.top + frame.height / 2,
                "No data yet",
                fill=MUTED,
                font_size=13,
                text_anchor="middle",
            )
        )
    return document(WIDTH, HEIGHT, chart.title, chart.description(), chart.ident, body)


def _axes(chart: Chart, frame: Frame) -> list[Markup]:
    marks = []
    for tick in frame.ticks:
        y = frame.y(tick)
        marks.append(
            path(
                [(frame.left, y), (frame.left + frame.width, y)],
                stroke=RULE if tick else MUTED,
                stroke_width=1,
                class_="grid",
            )
        )
        marks.append(
            text(
                frame.left - 8,
                y + 4,
                (chart.axis_format or chart.value_format)(tick),
                fill=MUTED,
                font_size=12,
                text_anchor="end",
                class_="y-label",
            )
        )
    every = math.ceil(len(chart.labels) / MAX_X_LABELS) or 1
    for index in range(0, len(chart.labels), every):
        marks.append(
            text(
                frame.x(index),
                frame.bottom + 18,
                chart.labels[index],
                fill=MUTED,
                font_size=12,
                text_anchor="middle",
                class_="x-label",
            )
        )
    return marks


def _legend(chart: Chart) -> list[Markup]:
    marks, x = [], LEFT
    for number, each in enumerate(chart.series):
        color = chart.colors[number % len(chart.colors)]
        marks.append(
            element("rect", {"x": x, "y": 14, "width": 12, "height": 12, "rx": 2, "fill": color})
        )
        marks.append(text(x + 18, 24, each.name, fill=INK, font_size=12, class_="legend"))
        x += 36 + 7 * len(each.name)
    return marks


def _tip(chart: Chart, series: Series, index: int) -> str:
    return f"{chart.labels[index]}: {series.name} {chart.value_format(series.values[index])}"
