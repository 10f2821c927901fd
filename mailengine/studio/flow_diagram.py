"""A workflow drawn as SVG: one box per trigger, step and end, lines with arrows between them.

Every box carries its full texts as a tooltip (`<title>`) because the box shortens them; the
figure lines are those of `flow_nodes`. The SVG is a picture (`role="img"`) named and
described for screen readers; the page puts the same flow beside it as an ordered list.
"""

from __future__ import annotations

from markupsafe import Markup

from mailengine.studio.flow_layout import PADDING, Box, Edge, Layout, layout
from mailengine.studio.flow_nodes import FlowItem, NodeKind
from mailengine.studio.svg import INK, MUTED, RULE, clipped, document, element, group, path, text

ACCENTS: dict[NodeKind, str] = {
    "trigger": "#6d28d9",
    "send": "#1d4ed8",
    "wait": "#b45309",
    "branch": "#0e7490",
    "exit": "#4b5563",
    "end": "#047857",
}
EDGE = "#6b7280"
IDLE = "#6b7280"  # figure lines with nothing to report (4.8:1 on white: still readable)
SUMMARY_CHARS, DETAIL_CHARS, FIGURE_CHARS = 36, 42, 48


def flow_svg(items: tuple[FlowItem, ...], title: str, ident: str = "flow") -> Markup:
    """The diagram of `items` (from `flow_nodes.flow_tree`)."""
    drawn = layout(items)
    body = [_defs(ident), *(_edge(edge, ident) for edge in drawn.edges)]
    body.extend(_box(box) for box in drawn.boxes)
    return document(drawn.width, drawn.height, title, _description(drawn), ident, body)


def _description(drawn: Layout) -> str:
    steps = [box for box in drawn.boxes if box.node.kind not in ("trigger", "end")]
    branches = sum(1 for box in steps if box.node.kind == "branch")
    return (
        f"A flow diagram of {len(steps)} steps with {branches} "
        f"{'branch' if branches == 1 else 'branches'}, from the trigger at the top down to "
        "the ends. The list beside it gives the same flow in words."
    )


def _defs(ident: str) -> Markup:
    arrow = element(
        "marker",
        {
            "id": f"{ident}-arrow",
            "viewBox": "0 0 10 10",
            "refX": 9,
            "refY": 5,
            "markerWidth": 7,
            "markerHeight": 7,
            "orient": "auto-start-reverse",
        },
        element("path", {"d": "M0 0 L10 5 L0 10 z", "fill": EDGE}),
    )
    return element("defs", {}, arrow)


def _edge(edge: Edge, ident: str) -> Markup:
    arrow = f"url(#{ident}-arrow)" if edge.arrow else None
    line = path(edge.points, stroke=EDGE, stroke_width=1.5, marker_end=arrow)
    if edge.label is None:
        return group([line], class_="edge")
    x, y = edge.points[-1] if len(edge.points) == 2 else edge.points[2]
    label = text(
        x + 6, y + 14, edge.label, fill=INK, font_size=12, font_weight=600, class_="edge-label"
    )
    return group([line, label], class_="edge branch-edge", data_label=edge.label)


def _box(box: Box) -> Markup:
    node = box.node
    parts = (node.heading, node.summary, node.source or node.detail, *map(str, node.figures))
    frame = {
        "x": box.x,
        "y": box.y,
        "width": box.width,
        "height": box.height,
        "rx": box.height / 2 if node.kind in ("exit", "end") else 8,
        "fill": "#ffffff",
        "stroke": RULE,
    }
    marks = [
        element("title", {}, "\n".join(part for part in parts if part)),
        element("rect", frame),
        _accent(box, ACCENTS[node.kind]),
        *_lines(box),
    ]
    return group(marks, class_=f"node node-{node.kind}", data_key=node.key)


def _lines(box: Box) -> list[Markup]:
    """The heading, the summary, the detail and the figure lines, top to bottom."""
    node = box.node
    x = box.x + (24 if node.kind in ("exit", "end") else 18)
    y = box.y + PADDING + 14
    heading = node.heading.upper()
    lines = [
        text(x, y, heading, fill=ACCENTS[node.kind], font_size=11, font_weight=700,
             letter_spacing=0.6, class_="heading"),
        text(x, y + 20, clipped(node.summary, SUMMARY_CHARS), fill=INK, font_size=14,
             font_weight=600, class_="summary"),
    ]  # fmt: skip
    y += 20
    if node.detail:
        y += 18
        detail = clipped(node.detail, DETAIL_CHARS)
        lines.append(text(x, y, detail, fill=MUTED, font_size=13, class_="detail"))
    for figure in node.figures:
        y += 16
        ink, kind = (IDLE, "figure idle") if figure.idle else (INK, "figure")
        lines.append(text(x, y, clipped(figure.text, FIGURE_CHARS), fill=ink, font_size=12,
                          class_=kind))  # fmt: skip
    return lines


def _accent(box: Box, color: str) -> Markup:
    """A bar down the left of a box; a dot on the rounded ends (a bar would stick out)."""
    if box.node.kind in ("exit", "end"):
        return element(
            "circle", {"cx": box.x + 12, "cy": box.y + box.height / 2, "r": 4, "fill": color}
        )
    return element(
        "rect",
        {"x": box.x, "y": box.y + 6, "width": 4, "height": box.height - 12, "rx": 2, "fill": color},
    )
