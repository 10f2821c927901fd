"""The workflow diagram: every step in order, branches with both arms, nothing overlapping."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from mailengine.studio.flow_diagram import flow_svg
from mailengine.studio.flow_layout import Box, layout
from mailengine.studio.flow_nodes import flow_tree, subject_outline
from mailengine.studio.number_format import NumberFormat
from mailengine.studio.step_figures import StepFigures, WorkflowFigures
from mailengine.workflows.loader import load_workflows
from mailengine.workflows.model import Workflow
from tests.conftest import NOW
from tests.workflows.conftest import SHIPPED

REPO = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
NUMBERS = NumberFormat("en_US", "EUR")
NESTED = """\
name: nested
description: Two branches, one inside the other, and an arm that exits.
trigger:
  event: customer.created
reenter: never
steps:
  - send: welcome/hello
    subject: "Hello <b>&</b> {{ customer.first_name | default('you') }}"
  - if: {orders_count: 0}
    then:
      - wait: 2 days
      - if: {consent: granted}
        then:
          - exit
        else:
          - send: welcome/our-favourites
            subject: Favourites
    else:
      - send: welcome/first-order-coupon
        subject: Coupon
  - send: welcome/hello
    subject: Last
"""


def shipped(name: str) -> Workflow:
    return load_workflows([REPO / "workflows"]).workflows[name]


def nested(tmp_path: Path) -> Workflow:
    (tmp_path / "nested.yaml").write_text(NESTED, encoding="utf-8")
    found = load_workflows([tmp_path])
    assert found.problems == []
    return found.workflows["nested"]


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def node_keys(root: ET.Element) -> list[str]:
    return [g.attrib["data-key"] for g in root.iter(f"{SVG}g") if "data-key" in g.attrib]


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("name", SHIPPED)
def test_every_step_of_a_shipped_workflow_is_drawn_in_order(name: str) -> None:
    workflow = shipped(name)
    root = parsed(flow_svg(flow_tree(workflow, None, NUMBERS), workflow.name))
    steps = [step.id for step in workflow.all_steps()]
    assert node_keys(root) == ["trigger", *steps, "end"]
    assert root.attrib["role"] == "img"
    assert root.find(f"{SVG}title").text == workflow.name  # type: ignore[union-attr]
    assert "diagram of" in root.find(f"{SVG}desc").text  # type: ignore[operator,union-attr]
    assert not_overlapping(layout(flow_tree(workflow, None, NUMBERS)).boxes)


@time_machine.travel(NOW, tick=False)
def test_a_branch_has_a_yes_and_a_no_line_and_they_meet_again() -> None:
    workflow = shipped("welcome")  # step 5: if no order yet, then the coupon; else nothing
    drawn = layout(flow_tree(workflow, None, NUMBERS))
    branch, coupon, end = drawn.box("5"), drawn.box("5.then.1"), drawn.box("end")
    labelled = {edge.label: edge for edge in drawn.edges if edge.label}
    assert set(labelled) == {"yes", "no"}
    assert labelled["yes"].points[0] == labelled["no"].points[0] == (branch.centre, branch.bottom)
    assert labelled["yes"].points[-1] == (coupon.centre, coupon.y)
    assert labelled["no"].points[-1][0] > coupon.x + coupon.width  # its own lane, to the right
    assert not labelled["no"].arrow
    into_end = [edge for edge in drawn.edges if edge.points[-1] == (end.centre, end.y)]
    assert len(into_end) == 2  # from the coupon, and the "no" lane
    root = parsed(flow_svg(flow_tree(workflow, None, NUMBERS), "welcome"))
    labels = [g.attrib["data-label"] for g in root.iter(f"{SVG}g") if "data-label" in g.attrib]
    assert labels == ["yes", "no"]


@time_machine.travel(NOW, tick=False)
def test_nested_branches_and_an_exiting_arm(tmp_path: Path) -> None:
    workflow = nested(tmp_path)
    items = flow_tree(workflow, None, NUMBERS)
    drawn = layout(items)
    ids = ["1", "2", "2.then.1", "2.then.2", "2.then.2.then.1", "2.then.2.else.1", "2.else.1", "3"]
    assert [box.node.key for box in drawn.boxes] == ["trigger", *ids, "end"]
    assert not_overlapping(drawn.boxes)
    inner, outer = drawn.box("2.then.2"), drawn.box("2")
    assert drawn.box("2.then.2.then.1").centre < inner.centre < drawn.box("2.then.2.else.1").centre
    assert drawn.box("2.then.1").centre < outer.centre < drawn.box("2.else.1").centre
    last = drawn.box("3")
    into_last = [edge for edge in drawn.edges if edge.points[-1] == (last.centre, last.y)]
    # The exit ends its arm: only the favourites send and the coupon lead on to step 3.
    starts = sorted(edge.points[0] for edge in into_last)
    favourites, coupon = drawn.box("2.then.2.else.1"), drawn.box("2.else.1")
    assert starts == sorted(
        [(favourites.centre, favourites.bottom), (coupon.centre, coupon.bottom)]
    )
    assert last.y > max(box.bottom for box in drawn.boxes if box.node.key.startswith("2"))
    assert drawn.width >= max(box.x + box.width for box in drawn.boxes)
    assert drawn.height >= max(box.bottom for box in drawn.boxes)


@time_machine.travel(NOW, tick=False)
def test_texts_are_escaped_shortened_and_complete_in_the_tooltip(tmp_path: Path) -> None:
    workflow = nested(tmp_path)
    svg = flow_svg(flow_tree(workflow, None, NUMBERS), "nested <flow>")
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    root = parsed(svg)
    first = next(g for g in root.iter(f"{SVG}g") if g.attrib.get("data-key") == "1")
    tooltip = first.find(f"{SVG}title").text or ""  # type: ignore[union-attr]
    assert "Hello <b>&</b> {{ customer.first_name | default('you') }}" in tooltip
    shown = [t.text for t in first.iter(f"{SVG}text")]
    assert "“Hello <b>&</b> ‹first name›”" in shown
    assert subject_outline("{% if x %}{{ x }}, we{% else %}We{% endif %} miss you") == (
        "‹x›, we miss you"
    )


@time_machine.travel(NOW, tick=False)
def test_the_figures_are_written_into_the_boxes() -> None:
    workflow = shipped("win-back")
    figures = WorkflowFigures(
        since=NOW - timedelta(days=30), until=NOW, window=timedelta(days=5),
        states={"active": 7, "completed": 40, "exited": 3}, held_out=5, older_versions=0,
        steps={
            "1": StepFigures(sends=True, sent=120, opened=54, clicked=12, converted=4,
                             revenue_minor=31_980),
            "3": StepFigures(resting=7, waiting=6, due_soon=2, sends=True, sent=80),
        },
    )  # fmt: skip
    root = parsed(flow_svg(flow_tree(workflow, figures, NUMBERS), "win-back"))
    texts = {
        g.attrib["data-key"]: [
            t.text for t in g.iter(f"{SVG}text") if "figure" in t.attrib["class"]
        ]
        for g in root.iter(f"{SVG}g")
        if "data-key" in g.attrib
    }
    assert texts["trigger"] == [
        "enrolled 50 · active 7", "completed 40 · exited 3 · held out 5",
    ]  # fmt: skip
    assert texts["1"] == [
        "sent 120 · opened 54 (45.0 %)",
        "clicked 12 · converted 4 · €319.80",
        "here 0 · waiting 0 · due in 24 h 0",
    ]
    assert texts["3"][-1] == "here 7 · waiting 6 · due in 24 h 2"
    assert texts["2"] == ["here 0 · waiting 0 · due in 24 h 0"]
    idle = [t.text for t in root.iter(f"{SVG}text") if t.attrib["class"] == "figure idle"]
    assert (
        "here 0 · waiting 0 · due in 24 h 0" in idle and "clicked 0 · converted 0 · €0.00" in idle
    )
    assert "sent 120 · opened 54 (45.0 %)" not in idle
    assert texts["end"] == ["completed 40"]


def not_overlapping(boxes: list[Box]) -> bool:
    return all(
        a.x + a.width <= b.x or b.x + b.width <= a.x or a.bottom <= b.y or b.bottom <= a.y
        for a, b in itertools.combinations(boxes, 2)
    )
