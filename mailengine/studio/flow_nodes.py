"""A workflow as a tree of readable nodes: trigger, then steps, branches with their arms, ends.

Both the diagram (`flow_layout`, `flow_diagram`) and the ordered list beside it are drawn
from this one tree, so they always say the same. Texts are complete here; the diagram
shortens them to fit its boxes and keeps the full text in each box's tooltip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from mailengine.engine.audience_reasons import describe
from mailengine.studio.number_format import NumberFormat
from mailengine.studio.step_figures import StepFigures, WorkflowFigures
from mailengine.workflows.model import (
    BranchStep,
    Comparison,
    Condition,
    EventTrigger,
    ExitStep,
    ScheduleTrigger,
    SendStep,
    Step,
    WaitStep,
    Workflow,
)

_ELSE_ARM = re.compile(r"{%-?\s*else\s*-?%}.*?{%-?\s*endif\s*-?%}", re.DOTALL)
_TAG = re.compile(r"{%.*?%}", re.DOTALL)
_EXPRESSION = re.compile(r"{{-?\s*([\w.]+).*?}}", re.DOTALL)
NodeKind = Literal["trigger", "send", "wait", "branch", "exit", "end"]
_UNITS = (
    (timedelta(weeks=1), "week"),
    (timedelta(days=1), "day"),
    (timedelta(hours=1), "hour"),
    (timedelta(minutes=1), "minute"),
)


@dataclass(frozen=True)
class FigureLine:
    text: str
    idle: bool = False  # every figure on it is zero: the diagram draws it muted

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class FlowNode:
    key: str  # "trigger", a step id, or "end"
    kind: NodeKind
    heading: str  # "Send 2 · step 3"
    summary: str  # what it does: the template, the wait, the condition
    detail: str = ""  # the subject of a send (its Jinja shortened), the trigger's audience
    figures: tuple[FigureLine, ...] = ()
    source: str = ""  # a send's subject as the workflow file writes it


@dataclass(frozen=True)
class Arm:
    label: Literal["yes", "no"]
    items: tuple[FlowItem, ...]


@dataclass(frozen=True)
class FlowItem:
    node: FlowNode
    arms: tuple[Arm, ...] = ()  # a branch's then (yes) and else (no)

    @property
    def ends(self) -> bool:
        """No customer goes on past this item: an exit, or a branch whose arms both end."""
        if self.node.kind == "exit":
            return True
        return bool(self.arms) and all(arm.items and arm.items[-1].ends for arm in self.arms)


def flow_tree(
    workflow: Workflow, figures: WorkflowFigures | None, numbers: NumberFormat
) -> tuple[FlowItem, ...]:
    """The trigger, the steps in order, and an end node when customers can finish."""
    builder = _Builder(workflow, figures, numbers)
    items = (FlowItem(builder.trigger()), *builder.items(workflow.steps))
    if not items[-1].ends:
        items = (*items, FlowItem(builder.end()))
    return items


class _Builder:
    def __init__(
        self, workflow: Workflow, figures: WorkflowFigures | None, numbers: NumberFormat
    ) -> None:
        self.workflow, self.figures, self.numbers = workflow, figures, numbers
        self.send_numbers = {step.id: n for n, step in enumerate(workflow.sends(), 1)}

    def items(self, steps: tuple[Step, ...]) -> tuple[FlowItem, ...]:
        return tuple(self.item(step) for step in steps)

    def item(self, step: Step) -> FlowItem:
        if isinstance(step, BranchStep):
            arms = (Arm("yes", self.items(step.then)), Arm("no", self.items(step.otherwise)))
            return FlowItem(self.node(step), arms)
        return FlowItem(self.node(step))

    def node(self, step: Step) -> FlowNode:
        figures = self._step_figures(step)
        if isinstance(step, SendStep):
            number = self.send_numbers[step.id]
            return FlowNode(
                step.id,
                "send",
                f"Send {number} · step {step.id}" + (" · at the best hour" if step.at else ""),
                step.template,
                f"“{subject_outline(step.subject)}”",
                figures,
                step.subject,
            )
        if isinstance(step, WaitStep):
            return FlowNode(
                step.id, "wait", f"Wait · step {step.id}", wait_words(step), figures=figures
            )
        if isinstance(step, BranchStep):
            return FlowNode(
                step.id,
                "branch",
                f"If · step {step.id}",
                condition_words(step.condition),
                figures=figures,
            )
        return FlowNode(step.id, "exit", f"Exit · step {step.id}", "leaves the workflow")

    def trigger(self) -> FlowNode:
        workflow = self.workflow
        audience = condition_words(workflow.audience) if workflow.audience else "everyone eligible"
        lines: tuple[FigureLine, ...] = ()
        if self.figures is not None:
            f, count = self.figures, self.numbers.count
            states = f.states
            lines = (
                FigureLine(
                    f"enrolled {count(f.enrolled)} · active {count(states.get('active', 0))}",
                    idle=not f.enrolled,
                ),
                FigureLine(
                    f"completed {count(states.get('completed', 0))} · exited "
                    f"{count(states.get('exited', 0))} · held out {count(f.held_out)}",
                    idle=not f.enrolled,
                ),
            )
        return FlowNode(
            "trigger", "trigger", "Trigger", trigger_words(workflow), f"audience: {audience}", lines
        )

    def end(self) -> FlowNode:
        lines: tuple[FigureLine, ...] = ()
        if self.figures is not None:
            done = self.figures.states.get("completed", 0)
            lines = (FigureLine(f"completed {self.numbers.count(done)}", idle=not done),)
        return FlowNode("end", "end", "End", "the workflow is done", figures=lines)

    def _step_figures(self, step: Step) -> tuple[FigureLine, ...]:
        if self.figures is None or isinstance(step, ExitStep):
            return ()
        return figure_lines(self.figures.of(step.id), self.numbers)


def figure_lines(figures: StepFigures, numbers: NumberFormat) -> tuple[FigureLine, ...]:
    count = numbers.count
    queue = FigureLine(
        f"here {count(figures.resting)} · waiting {count(figures.waiting)} · "
        f"due in 24 h {count(figures.due_soon)}",
        idle=not figures.resting,
    )
    if not figures.sends:
        return (queue,)
    return (
        FigureLine(
            f"sent {count(figures.sent)} · opened {numbers.share(figures.opened, figures.sent)}",
            idle=not figures.sent,
        ),
        FigureLine(
            f"clicked {count(figures.clicked)} · converted {count(figures.converted)} · "
            f"{numbers.money(figures.revenue_minor)}",
            idle=not (figures.clicked or figures.converted),
        ),
        queue,
    )


def condition_words(condition: Condition) -> str:
    """`describe`'s phrase, with an equals sign where it writes a bare value (`orders_count 0`)."""
    words = describe(condition)
    if isinstance(condition, Comparison) and condition.operator == "eq":
        return f"{condition.field} = {words.removeprefix(condition.field).strip()}"
    return words


def trigger_words(workflow: Workflow) -> str:
    trigger = workflow.trigger
    if isinstance(trigger, EventTrigger):
        where = " (with matching data)" if trigger.where else ""
        return f"when {trigger.event} arrives{where}"
    if isinstance(trigger, ScheduleTrigger):
        return f"on schedule {trigger.cron}"
    return f"yearly on their {trigger.on.replace('_', ' ')} at {trigger.at:%H:%M} their time"


def wait_words(step: WaitStep) -> str:
    parts = []
    if step.duration is not None:
        parts.append(duration_words(step.duration))
    if step.until is not None:
        parts.append(f"until {step.until:%H:%M} their time")
    return ", then ".join(parts)


def duration_words(span: timedelta) -> str:
    """A duration as a workflow writes it: 3 days, 1 week, 12 hours."""
    for unit, name in _UNITS:
        if span >= unit and span % unit == timedelta(0):
            count = span // unit
            return f"{count} {name}{'s' if count != 1 else ''}"
    return f"{int(span.total_seconds())} seconds"


def subject_outline(subject: str) -> str:
    """A subject with its Jinja shortened for a glance: `{{ customer.first_name | ... }}`
    becomes `‹first name›`, an `if` keeps its first arm."""
    kept = _TAG.sub("", _ELSE_ARM.sub("", subject))
    return _EXPRESSION.sub(lambda match: f"‹{_field_words(match.group(1))}›", kept).strip()


def _field_words(name: str) -> str:
    return name.rsplit(".", 1)[-1].replace("_", " ")
