"""Lifecycle workflows: the YAML format and its validation.

The engine (scheduler, enrollments) walks the typed model in `model.py`; audience conditions
compile to SQL in `mailengine.store.audience_sql`. It may import the shared vocabulary,
`render` (to check templates) and `cron`; nothing of `store` or the packages above it.
"""

from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.data_filters import event_matches
from mailengine.workflows.loader import WorkflowSet, load_workflow_file, load_workflows
from mailengine.workflows.model import (
    BranchStep,
    Condition,
    Coupon,
    EventTrigger,
    ExitGoal,
    ExitStep,
    Holdout,
    Reentry,
    ScheduleTrigger,
    SendStep,
    Step,
    Trigger,
    WaitStep,
    Workflow,
    YearlyTrigger,
)
from mailengine.workflows.problems import Problem, WorkflowError
from mailengine.workflows.validation import validate_workflows

__all__ = [
    "AudienceContext",
    "BranchStep",
    "Condition",
    "Coupon",
    "EventTrigger",
    "ExitGoal",
    "ExitStep",
    "Holdout",
    "Problem",
    "Reentry",
    "ScheduleTrigger",
    "SendStep",
    "Step",
    "Trigger",
    "WaitStep",
    "Workflow",
    "WorkflowError",
    "WorkflowSet",
    "YearlyTrigger",
    "event_matches",
    "load_workflow_file",
    "load_workflows",
    "validate_workflows",
]
