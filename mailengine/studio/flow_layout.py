"""Where each box and line of a workflow diagram goes: a top-down flow with side-by-side arms.

Steps stack downwards in one lane. A branch opens two lanes below it, `yes` on the left and
`no` on the right (an empty arm is a narrow lane with only a line); where neither arm exits,
their lines meet again above the next step. Lines run at right angles. Pure geometry over
`flow_nodes`' tree; drawing is `flow_diagram`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailengine.studio.flow_nodes import FlowItem, FlowNode

Point = tuple[float, float]

NODE_WIDTH = 320.0
EMPTY_LANE = 72.0  # an arm without steps: room for its line and label
LANE_GAP = 36.0
ROW_GAP = 44.0
MARGIN = 24.0
PADDING = 10.0
HEADING_HEIGHT = 20.0
LINE_HEIGHT = 18.0
FIGURE_HEIGHT = 16.0


@dataclass(frozen=True)
class Box:
    node: FlowNode
    x: float
    y: float
    width: float
    height: float

    @property
    def centre(self) -> float:
        return self.x + self.width / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class Edge:
    points: tuple[Point, ...]
    label: str | None = None  # "yes" / "no" on the lines out of a branch
    arrow: bool = True  # False for the line into an empty arm: it points at no step


@dataclass
class Layout:
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0

    def box(self, key: str) -> Box:
        return next(box for box in self.boxes if box.node.key == key)


# An open end: where a line leaves towards the next step, with the label it carries.
Opening = tuple[Point, str | None]


def node_height(node: FlowNode) -> float:
    lines = 1 + bool(node.detail)
    return PADDING * 2 + HEADING_HEIGHT + lines * LINE_HEIGHT + len(node.figures) * FIGURE_HEIGHT


def lane_width(items: tuple[FlowItem, ...]) -> float:
    """The width a list of items needs: a box, or a branch's two lanes side by side."""
    if not items:
        return EMPTY_LANE
    return max(_item_width(item) for item in items)


def _item_width(item: FlowItem) -> float:
    if not item.arms:
        return NODE_WIDTH
    arms = sum(lane_width(arm.items) for arm in item.arms)
    return max(NODE_WIDTH, arms + LANE_GAP * (len(item.arms) - 1))


def layout(items: tuple[FlowItem, ...]) -> Layout:
    result = Layout()
    width = lane_width(items)
    bottom, _ = _place(result, items, MARGIN, width, MARGIN, [])
    result.width = width + 2 * MARGIN
    result.height = bottom + MARGIN
    return result


def _place(
    result: Layout,
    items: tuple[FlowItem, ...],
    left: float,
    width: float,
    top: float,
    openings: list[Opening],
) -> tuple[float, list[Opening]]:
    """Lay `items` out in the lane [left, left + width] from `top`; `openings` lead into
    the first. Returns the lane's bottom and the open ends that lead on from its last item."""
    centre = left + width / 2
    y = top
    for item in items:
        box = Box(item.node, centre - NODE_WIDTH / 2, y, NODE_WIDTH, node_height(item.node))
        result.boxes.append(box)
        for point, label in openings:
            result.edges.append(Edge(_route(point, (box.centre, box.y)), label))
        if item.arms:
            y, openings = _place_arms(result, item, box, left, width)
        elif item.node.kind in ("exit", "end"):
            y, openings = box.bottom, []
        else:
            y, openings = box.bottom, [((box.centre, box.bottom), None)]
        y += ROW_GAP
    return y - ROW_GAP, openings


def _place_arms(
    result: Layout, item: FlowItem, box: Box, left: float, width: float
) -> tuple[float, list[Opening]]:
    widths = [lane_width(arm.items) for arm in item.arms]
    total = sum(widths) + LANE_GAP * (len(widths) - 1)
    lane_left = left + (width - total) / 2
    top = box.bottom + ROW_GAP
    bottom, leaving = top, []
    for arm, arm_width in zip(item.arms, widths, strict=True):
        start: Opening = ((box.centre, box.bottom), arm.label)
        if arm.items:
            arm_bottom, ends = _place(result, arm.items, lane_left, arm_width, top, [start])
        else:
            lane = (lane_left + arm_width / 2, top)
            result.edges.append(Edge(_route(start[0], lane), arm.label, arrow=False))
            arm_bottom, ends = top, [(lane, None)]
        bottom = max(bottom, arm_bottom)
        leaving.extend(ends)
        lane_left += arm_width + LANE_GAP
    return bottom, leaving


def _route(start: Point, end: Point) -> tuple[Point, ...]:
    """Down from `start`, across half a gap above `end`, down into `end`."""
    (x1, _), (x2, y2) = start, end
    if x1 == x2:
        return (start, end)
    turn = y2 - ROW_GAP / 2
    return (start, (x1, turn), (x2, turn), end)
