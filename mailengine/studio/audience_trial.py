"""An audience as the Audiences page shows it: its size, a sample and its SQL, for a workflow's
saved audience or for an expression a person is trying out.

A tried expression is YAML in the syntax of a workflow file's `audience:` and goes through
the workflow loader's own condition parser, so a mistake is reported at its line and column
in the expression. Only the compiler's output is ever run (fields come from the allow-list,
values are bound), under a time limit, at most `MEASURING_AT_ONCE` at a time, and off the
event loop (callers use `run_in_threadpool`). May import `store`, `workflows`, `money`.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlparse

from mailengine.config import Settings
from mailengine.errors import SourceError, SourceLocation
from mailengine.money import decimals
from mailengine.store.audience_queries import (
    AudienceRow,
    audience_sql,
    count_audience,
    sample_audience,
)
from mailengine.store.database import Database
from mailengine.store.query_budget import QueryTimeout, time_limit
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.conditions import parse_condition
from mailengine.workflows.loader import WorkflowSet, load_workflows
from mailengine.workflows.model import Condition, Workflow
from mailengine.workflows.problems import Problem, ProblemLog
from mailengine.yamlsource import load_yaml_text

EXPRESSION_NAME = "expression"  # problems read `expression:2:5: ...`
SAMPLE_SIZE = 20
MAX_EXPRESSION = 20_000
MEASURING_AT_ONCE = 2  # audience queries running at once; the rest are told to wait
_measuring = threading.BoundedSemaphore(MEASURING_AT_ONCE)
_TOP_LEVEL = re.compile(r"^[^\s#]")


class AudienceBusy(RuntimeError):
    """Other audience queries are running; the page asks the person to try again."""


@dataclass(frozen=True)
class ParsedExpression:
    """A tried expression: its condition (None: no condition, everyone eligible), or the
    problems found, each at `expression:line:col`."""

    text: str
    condition: Condition | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class AudienceFigures:
    """What the database says about one audience now."""

    count: int
    sample: list[AudienceRow]
    sql: str
    seconds: float


def audience_context(settings: Settings, now: datetime) -> AudienceContext:
    return AudienceContext(
        now=now, zone=settings.zone, currency_exponent=decimals(settings.currency)
    )


def current_workflows(folder: Path) -> WorkflowSet:
    """The workflow files of `folder` as they are on disk now (loading is fast: no template
    checks), paths shown relative to the folder's parent."""
    return load_workflows([folder], folder.parent) if folder.is_dir() else WorkflowSet()


def parse_expression(text: str) -> ParsedExpression:
    """Parse a tried audience expression as the workflow loader parses `audience:`."""
    if len(text) > MAX_EXPRESSION:
        where = SourceLocation(EXPRESSION_NAME, 1, 1)
        message = f"the expression is {len(text):,} characters long; at most {MAX_EXPRESSION:,}"
        return ParsedExpression(text, None, [Problem(where, message)])
    if not text.strip():
        return ParsedExpression(text, None, [])
    try:
        document = load_yaml_text(text, EXPRESSION_NAME)
    except SourceError as error:
        where = error.location or SourceLocation(EXPRESSION_NAME)
        return ParsedExpression(text, None, [Problem(where, error.message)])
    if document.data is None:
        return ParsedExpression(text, None, [])
    log = ProblemLog(document)
    condition = parse_condition(document.data, (), log)
    problems = sorted(log.problems, key=lambda p: (p.location.line or 0, p.location.column or 0))
    return ParsedExpression(text, condition if not problems else None, problems)


def with_audience(workflow: Workflow, condition: Condition | None) -> Workflow:
    """The workflow as if its file said `audience: <condition>` (eligibility rules unchanged)."""
    return dataclasses.replace(workflow, audience=condition)


def saved_expression(workflow_file: Path) -> str:
    """The text of the file's `audience:` value, comments kept, dedented; empty if none."""
    try:
        lines = workflow_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for index, line in enumerate(lines):
        if not line.startswith("audience:"):
            continue
        inline = line[len("audience:") :].strip()
        body = []
        for following in lines[index + 1 :]:
            if _TOP_LEVEL.match(following):
                break
            body.append(following)
        while body and not body[-1].strip():
            body.pop()
        if inline and not inline.startswith("#"):
            return inline
        return textwrap.dedent("\n".join(body))
    return ""


def measure_audience(
    database: Database, workflow: Workflow, context: AudienceContext, seconds: float
) -> AudienceFigures:
    """Count the audience and take its first customers, in at most `seconds` of database
    time; raises `QueryTimeout` past that, `AudienceBusy` when others are measuring."""
    if not _measuring.acquire(timeout=1.0):
        raise AudienceBusy(
            f"{MEASURING_AT_ONCE} audience queries are running already; try again in a moment"
        )
    try:
        started = time.perf_counter()
        sql = readable_sql(audience_sql(workflow, context, database.engine))
        with (
            database.session() as session,
            time_limit(session, seconds, "counting this audience"),
        ):
            count = count_audience(session, workflow, context)
            sample = sample_audience(session, workflow, context, SAMPLE_SIZE)
        return AudienceFigures(count, sample, sql, time.perf_counter() - started)
    finally:
        _measuring.release()


def readable_sql(sql: str) -> str:
    """One condition per line, sub-queries indented (sqlparse's layout)."""
    return str(sqlparse.format(sql, reindent=True, indent_width=2)).strip()


__all__ = [
    "AudienceBusy",
    "AudienceFigures",
    "ParsedExpression",
    "QueryTimeout",
    "audience_context",
    "current_workflows",
    "measure_audience",
    "parse_expression",
    "saved_expression",
    "with_audience",
]
