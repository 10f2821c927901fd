"""Load workflow files into the typed model, collecting every problem with its `file:line:col`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailengine.cron.expression import CronExpression
from mailengine.workflows import phrases
from mailengine.workflows.conditions import parse_condition, parse_data_filter
from mailengine.workflows.model import (
    Condition,
    EventTrigger,
    ExitGoal,
    Holdout,
    Reentry,
    ScheduleTrigger,
    Trigger,
    Workflow,
    YearlyTrigger,
)
from mailengine.workflows.problems import (
    Problem,
    ProblemList,
    ProblemLog,
    WorkflowError,
    did_you_mean,
)
from mailengine.workflows.public import parse_public
from mailengine.workflows.source_files import load_named_files, yaml_files
from mailengine.workflows.steps import parse_steps
from mailengine.yamlsource import PathKey, YamlDocument, load_yaml_file

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "transactional",
    "trigger",
    "audience",
    "exit_when",
    "reenter",
    "holdout",
    "tracking",
    "steps",
    "public",
)
TRIGGER_KINDS = ("event", "schedule", "yearly_on")
YEARLY_DATES = ("birthday", "signup", "first_order")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_EVENT_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
_REENTER_AFTER = re.compile(r"^after\s+(.+)$")
DEFAULT_YEARLY_TIME = "09:00"


@dataclass
class WorkflowSet(ProblemList):
    """The workflows that loaded, and every problem found (in files that did not)."""

    workflows: dict[str, Workflow] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def workflow_files(folder: Path) -> list[Path]:
    """The workflow files in `folder`, sorted by name."""
    return yaml_files(folder)


def load_workflows(paths: Iterable[Path], display_base: Path | None = None) -> WorkflowSet:
    """Load files (a folder stands for its workflow files); names must be unique across them."""
    workflows, problems = load_named_files(paths, display_base, parse_workflow, "workflow")
    return WorkflowSet(workflows, problems)


def load_workflow_file(path: Path, display_path: str | None = None) -> Workflow:
    """One workflow; raises WorkflowError listing every problem of the file."""
    workflow, problems = parse_workflow(load_yaml_file(path, display_path))
    if workflow is None or problems:
        raise WorkflowError(problems)
    return workflow


def parse_workflow(document: YamlDocument) -> tuple[Workflow | None, list[Problem]]:
    """The workflow a parsed YAML document describes, or None and the problems found."""
    log = ProblemLog(document)
    data = document.data
    if not isinstance(data, dict):
        log.at((), "a workflow file is a mapping with name, trigger and steps")
        return None, log.problems
    log.unknown_keys(data, TOP_LEVEL_KEYS, (), "a workflow")
    for required in ("name", "trigger", "steps"):
        if required not in data:
            log.at((), f"missing '{required}': every workflow needs name, trigger and steps")
    name = _parse_name(data.get("name"), log)
    description = data.get("description", "")
    if not isinstance(description, str):
        log.at(("description",), f"expected text, got {description!r}")
    transactional = data.get("transactional", False)
    if not isinstance(transactional, bool):
        log.at(("transactional",), f"expected true or false, got {transactional!r}")
    trigger = _parse_trigger(data["trigger"], log) if "trigger" in data else None
    if transactional is True and trigger is not None and not isinstance(trigger, EventTrigger):
        log.at(("transactional",), "a transactional workflow must be triggered by an event")
    audience: Condition | None = None
    if "audience" in data:
        audience = parse_condition(data["audience"], ("audience",), log)
    goals = _parse_goals(data["exit_when"], log) if "exit_when" in data else ()
    reenter = _parse_reenter(data.get("reenter", "never"), log)
    holdout = _parse_holdout(data["holdout"], log) if "holdout" in data else None
    tracking = data.get("tracking", True)
    if not isinstance(tracking, bool):
        log.at(("tracking",), f"expected true or false, got {tracking!r}")
    if holdout is not None and transactional is True:
        log.at(("holdout",), "a transactional workflow cannot hold customers out")
    steps = parse_steps(data["steps"], ("steps",), log) if "steps" in data else ()
    public = parse_public(data["public"], log) if "public" in data else None
    if log.problems or name is None or trigger is None:
        return None, log.problems
    workflow = Workflow(
        name=name,
        description=str(description),
        path=document.path,
        version=content_version(data),
        transactional=bool(transactional),
        trigger=trigger,
        audience=audience,
        exit_when=goals,
        reenter=reenter,
        steps=steps,
        holdout=holdout,
        tracking=bool(tracking),
        public=public,
    )
    return workflow, []


def content_version(data: Any) -> str:
    """16 hex of sha256 over the data (key order, comments and layout do not count)."""
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _parse_name(value: Any, log: ProblemLog) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _NAME.match(value):
        log.at(("name",), f"a name is lower-case letters, digits and '-', e.g. win-back: {value!r}")
        return None
    return value


def _parse_trigger(data: Any, log: ProblemLog) -> Trigger | None:
    at: PathKey = ("trigger",)
    if not isinstance(data, dict):
        log.at(at, 'write e.g. trigger: {event: order.placed} or {schedule: "0 9 * * *"}')
        return None
    kinds = [key for key in TRIGGER_KINDS if key in data]
    if len(kinds) != 1:
        log.at(at, f"a trigger is exactly one of {', '.join(TRIGGER_KINDS)}")
        for key in data:
            if key not in (*TRIGGER_KINDS, "where", "at"):
                log.at(
                    (*at, key), f"unknown key '{key}' in trigger{did_you_mean(key, TRIGGER_KINDS)}"
                )
        return None
    kind = kinds[0]
    allowed = {
        "event": ("event", "where"),
        "schedule": ("schedule",),
        "yearly_on": ("yearly_on", "at"),
    }
    before = len(log.problems)
    log.unknown_keys(data, allowed[kind], at, f"a {kind.replace('_on', '')} trigger")
    if kind == "event":
        event = _parse_event_type(data["event"], (*at, "event"), log)
        where = parse_data_filter(data["where"], (*at, "where"), log) if "where" in data else None
        trigger: Trigger | None = EventTrigger(event, where) if event else None
    elif kind == "schedule":
        trigger = _parse_schedule(data["schedule"], (*at, "schedule"), log)
    else:
        trigger = _parse_yearly(data, at, log)
    return trigger if len(log.problems) == before else None


def _parse_event_type(value: Any, at: PathKey, log: ProblemLog) -> str | None:
    if not isinstance(value, str) or not _EVENT_TYPE.match(value):
        log.at(at, f"an event type is dotted lower-case words, e.g. order.placed: {value!r}")
        return None
    return value


def _parse_schedule(value: Any, at: PathKey, log: ProblemLog) -> ScheduleTrigger | None:
    if not isinstance(value, str):
        log.at(at, f'expected a cron expression in quotes such as "0 9 * * *", got {value!r}')
        return None
    try:
        CronExpression.parse(value)
    except ValueError as error:
        log.at(at, f"invalid cron expression '{value}': {error} (minute hour day month weekday)")
        return None
    return ScheduleTrigger(value)


def _parse_yearly(data: dict[str, Any], at: PathKey, log: ProblemLog) -> YearlyTrigger | None:
    on = data["yearly_on"]
    if on not in YEARLY_DATES:
        log.at(
            (*at, "yearly_on"),
            f"unknown date {on!r}{did_you_mean(str(on), YEARLY_DATES)}; "
            f"use {', '.join(YEARLY_DATES)}",
        )
        return None
    try:
        at_time = phrases.parse_time_of_day(data.get("at", DEFAULT_YEARLY_TIME))
    except ValueError as error:
        log.at((*at, "at"), str(error))
        return None
    return YearlyTrigger(on, at_time)


def _parse_goals(data: Any, log: ProblemLog) -> tuple[ExitGoal, ...]:
    items = data if isinstance(data, list) else [data]
    goals: list[ExitGoal] = []
    for index, item in enumerate(items):
        at: PathKey = ("exit_when", index) if isinstance(data, list) else ("exit_when",)
        if not isinstance(item, dict) or not ({"event", "if"} & item.keys()):
            log.at(
                at, "an exit goal is {event: order.placed} (optionally with where:) or {if: ...}"
            )
            continue
        log.unknown_keys(item, ("event", "where", "if"), at, "exit_when")
        if "where" in item and "event" not in item:
            log.at((*at, "where"), "where filters an event's data: add event:")
        event = _parse_event_type(item["event"], (*at, "event"), log) if "event" in item else None
        where = parse_data_filter(item["where"], (*at, "where"), log) if "where" in item else None
        condition = parse_condition(item["if"], (*at, "if"), log) if "if" in item else None
        goals.append(ExitGoal(event=event, where=where, condition=condition))
    return tuple(goals)


def _parse_reenter(value: Any, log: ProblemLog) -> Reentry:
    if value in ("never", "always"):
        return Reentry(value)
    match = _REENTER_AFTER.match(value.strip()) if isinstance(value, str) else None
    if match is not None:
        try:
            return Reentry("after", phrases.parse_duration(match.group(1)))
        except ValueError as error:
            log.at(("reenter",), str(error))
            return Reentry("never")
    log.at(("reenter",), f"reenter is never, always or 'after N days', got {value!r}")
    return Reentry("never")


def _parse_holdout(value: Any, log: ProblemLog) -> Holdout | None:
    try:
        return Holdout(phrases.parse_percent(value, low=1, high=50))
    except ValueError as error:
        log.at(("holdout",), str(error))
        return None
