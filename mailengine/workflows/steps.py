"""Read a workflow's steps: send, wait, if/then/else and exit, each with a stable id.

Ids are 1-based positions joined by the arm taken: "2", "3.then.1", "3.else.2".
"""

from __future__ import annotations

from typing import Any

from mailengine.workflows import phrases
from mailengine.workflows.conditions import parse_condition
from mailengine.workflows.coupons import parse_coupon
from mailengine.workflows.model import (
    BranchStep,
    ExitStep,
    SendStep,
    Step,
    WaitStep,
)
from mailengine.workflows.problems import ProblemLog, did_you_mean, unknown_key_message
from mailengine.yamlsource import PathKey

STEP_KINDS = ("send", "wait", "if", "exit")
_SEND_KEYS = ("send", "subject", "preheader", "coupon", "at")
SEND_TIMES = ("best_hour",)
_BRANCH_KEYS = ("if", "then", "else")
_TEMPLATE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_/")


def parse_steps(data: Any, at: PathKey, log: ProblemLog, prefix: str = "") -> tuple[Step, ...]:
    """The steps of a list (`steps:`, `then:`, `else:`); problems go to `log`."""
    if not isinstance(data, list) or not data:
        log.at(at, "expected a non-empty list of steps (send, wait, if, exit)")
        return ()
    steps: list[Step] = []
    ended = False
    for index, item in enumerate(data):
        where = (*at, index)
        if ended:
            log.at(where, "this step comes after an exit and is never reached: remove it")
            break
        step = _parse_step(item, where, log, f"{prefix}{index + 1}")
        if step is not None:
            steps.append(step)
            ended = ends(step)
    return tuple(steps)


def ends(step: Step) -> bool:
    """True when no customer goes past `step`: an exit, or a branch whose arms both end."""
    if isinstance(step, ExitStep):
        return True
    if isinstance(step, BranchStep):
        return _list_ends(step.then) and _list_ends(step.otherwise)
    return False


def _list_ends(steps: tuple[Step, ...]) -> bool:
    return bool(steps) and ends(steps[-1])


def _parse_step(item: Any, at: PathKey, log: ProblemLog, step_id: str) -> Step | None:
    location = log.document.location(at)
    if item == "exit":
        return ExitStep(step_id, location)
    if not isinstance(item, dict):
        log.at(at, f"a step is one of {', '.join(STEP_KINDS)}; got {item!r}")
        return None
    kinds = [key for key in STEP_KINDS if key in item]
    if len(kinds) != 1:
        if kinds:
            log.at(at, f"a step does one thing; this one has {' and '.join(kinds)}")
        else:
            first = next(iter(item))
            log.at((*at, first), unknown_key_message(first, STEP_KINDS, "a step"))
        return None
    kind = kinds[0]
    if kind == "send":
        return _parse_send(item, at, log, step_id)
    if kind == "wait":
        return _parse_wait(item, at, log, step_id)
    if kind == "if":
        return _parse_branch(item, at, log, step_id)
    log.at((*at, "exit"), "write exit on its own: '- exit'")
    return None


def _parse_send(item: dict[str, Any], at: PathKey, log: ProblemLog, step_id: str) -> Step | None:
    before = len(log.problems)
    log.unknown_keys(item, _SEND_KEYS, at, "a send step")
    template = item["send"]
    if not isinstance(template, str) or not template or not set(template) <= _TEMPLATE_NAME_CHARS:
        log.at(
            (*at, "send"), f"expected a template name such as 'win-back/coupon', got {template!r}"
        )
    subject = item.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        log.at((*at, "send"), 'a send step needs a subject, e.g. subject: "We miss you"')
    preheader = item.get("preheader")
    if preheader is not None and not isinstance(preheader, str):
        log.at((*at, "preheader"), f"expected text, got {preheader!r}")
    coupon = parse_coupon(item["coupon"], (*at, "coupon"), log) if "coupon" in item else None
    send_time = item.get("at")
    if send_time is not None and send_time not in SEND_TIMES:
        log.at(
            (*at, "at"),
            f"a send step's at: is best_hour (the customer's best hour to read mail, in their "
            f"zone), got {send_time!r}{did_you_mean(str(send_time), SEND_TIMES)}",
        )
    if len(log.problems) != before:
        return None
    return SendStep(
        step_id,
        log.document.location(at),
        template=template,
        subject=str(subject),
        preheader=preheader,
        coupon=coupon,
        subject_at=log.document.location((*at, "subject")),
        preheader_at=log.document.location((*at, "preheader")) if preheader else None,
        at="best_hour" if send_time == "best_hour" else None,
    )


def _parse_wait(item: dict[str, Any], at: PathKey, log: ProblemLog, step_id: str) -> Step | None:
    log.unknown_keys(item, ("wait",), at, "a wait step")
    value = item["wait"]
    where = (*at, "wait")
    if isinstance(value, dict):
        before = len(log.problems)
        log.unknown_keys(value, ("for", "until"), where, "wait")
        if not value.keys() & {"for", "until"}:
            log.at(where, 'write e.g. wait: 3 days, or wait: {until: "09:00"}')
            return None
        duration = until = None
        try:
            if "for" in value:
                duration = phrases.parse_duration(value["for"])
        except ValueError as error:
            log.at((*where, "for"), str(error))
        try:
            if "until" in value:
                until = phrases.parse_time_of_day(value["until"])
        except ValueError as error:
            log.at((*where, "until"), str(error))
        if len(log.problems) != before:
            return None
        return WaitStep(step_id, log.document.location(at), duration=duration, until=until)
    try:
        duration = phrases.parse_duration(value)
    except ValueError as error:
        log.at(where, str(error))
        return None
    return WaitStep(step_id, log.document.location(at), duration=duration)


def _parse_branch(item: dict[str, Any], at: PathKey, log: ProblemLog, step_id: str) -> Step | None:
    before = len(log.problems)
    log.unknown_keys(item, _BRANCH_KEYS, at, "an if step")
    condition = parse_condition(item["if"], (*at, "if"), log)
    if "then" not in item:
        log.at((*at, "if"), "an if step needs then: a list of steps")
        return None
    then = parse_steps(item["then"], (*at, "then"), log, f"{step_id}.then.")
    otherwise = (
        parse_steps(item["else"], (*at, "else"), log, f"{step_id}.else.") if "else" in item else ()
    )
    if condition is None or len(log.problems) != before:
        return None
    return BranchStep(step_id, log.document.location(at), condition, then, otherwise)
