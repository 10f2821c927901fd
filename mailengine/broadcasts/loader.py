"""Load broadcast files (`broadcasts/NAME.yaml`) into the typed model, every problem with its
`file:line:col`; text sent to the API (JSON is YAML) goes through the same parser.

```yaml
name: december-sale
template: newsletter/newsletter
subject: "{{ customer.first_name | default('Hello') }}, 20 % off knitwear"
send_at: "2026-12-10 09:00"
audience: {city: {in: [Berlin, Wien]}}          # optional: everyone with consent
```
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mailengine.broadcasts.ab_test import Defaults, parse_ab_test
from mailengine.broadcasts.model import Broadcast, LocalTime, Throttle, Variant, WinnerRule
from mailengine.broadcasts.schedule import parse_send_at, parse_throttle
from mailengine.errors import SourceError, SourceLocation
from mailengine.workflows.conditions import parse_condition
from mailengine.workflows.coupons import parse_coupon
from mailengine.workflows.loader import content_version
from mailengine.workflows.model import Condition
from mailengine.workflows.problems import Problem, ProblemList, ProblemLog, WorkflowError
from mailengine.workflows.source_files import YAML_SUFFIXES, load_named_files, position
from mailengine.yamlsource import PathKey, YamlDocument, load_yaml_text

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "topic",
    "audience",
    "template",
    "subject",
    "preheader",
    "coupon",
    "send_at",
    "throttle",
    "tracking",
    "contact_pressure",
    "content",
    "ab_test",
)
REQUIRED_KEYS = ("name", "template", "subject", "send_at")
DEFAULT_TOPIC = "newsletter"
CONTACT_PRESSURE = ("apply", "waive")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_TOPIC = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_TEMPLATE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_/")


class BroadcastError(WorkflowError):
    """One or more broadcast files are wrong; `problems` lists every mistake found."""


@dataclass
class BroadcastSet(ProblemList):
    """The broadcasts that loaded, and every problem found (in files that did not)."""

    broadcasts: dict[str, Broadcast] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    error_type: ClassVar[type[WorkflowError]] = BroadcastError


def load_broadcasts(paths: Iterable[Path], display_base: Path | None = None) -> BroadcastSet:
    """Load files (a folder stands for its YAML files; a folder that is not there holds
    none); names must be unique across them. One broken file never stops the others."""
    present = [path for path in paths if path.exists() or path.suffix in YAML_SUFFIXES]
    broadcasts, problems = load_named_files(present, display_base, parse_broadcast, "broadcast")
    return BroadcastSet(broadcasts, problems)


def parse_broadcast_text(text: str, display_path: str) -> tuple[Broadcast | None, list[Problem]]:
    """A broadcast from YAML or JSON text (an API request's body), named `display_path` in
    problems; None and every problem when it is wrong."""
    try:
        document = load_yaml_text(text, display_path)
    except SourceError as error:
        return None, [Problem(error.location or SourceLocation(display_path), error.message)]
    found, problems = parse_broadcast(document)
    return found, sorted(problems, key=position)


def parse_broadcast(document: YamlDocument) -> tuple[Broadcast | None, list[Problem]]:
    """The broadcast a parsed YAML document describes, or None and the problems found."""
    log = ProblemLog(document)
    data = document.data
    if not isinstance(data, dict):
        log.at((), "a broadcast file is a mapping with name, template, subject and send_at")
        return None, log.problems
    log.unknown_keys(data, TOP_LEVEL_KEYS, (), "a broadcast")
    for required in REQUIRED_KEYS:
        if required not in data:
            log.at((), f"missing '{required}': every broadcast needs {', '.join(REQUIRED_KEYS)}")
    name = _name(data.get("name"), log)
    description = _text(data, "description", log, default="")
    topic = _topic(data.get("topic", DEFAULT_TOPIC), log)
    template = _template(data["template"], ("template",), log) if "template" in data else None
    subject = _text(data, "subject", log, default=None)
    preheader = _text(data, "preheader", log, default=None)
    audience: Condition | None = None
    if "audience" in data:
        audience = parse_condition(data["audience"], ("audience",), log)
    coupon = parse_coupon(data["coupon"], ("coupon",), log) if "coupon" in data else None
    send_at = parse_send_at(data["send_at"], log) if "send_at" in data else None
    throttle = parse_throttle(data["throttle"], log) if "throttle" in data else None
    tracking = _flag(data, "tracking", log)
    pressure = data.get("contact_pressure", "apply")
    if pressure not in CONTACT_PRESSURE:
        log.at(
            ("contact_pressure",),
            f"contact_pressure is apply (the caps of config contact_pressure count this mail) "
            f"or waive (they do not), got {pressure!r}",
        )
    content = _content(data["content"], log) if "content" in data else {}
    where = document.location
    variants: tuple[Variant, ...] = ()
    winner: WinnerRule | None = None
    if "ab_test" in data:
        defaults = Defaults(
            template or "",
            subject or "",
            preheader,
            where(("template",)),
            where(("subject",)),
            where(("preheader",)) if preheader is not None else None,
        )

        def check_template(value: Any, at: PathKey) -> None:
            _template(value, at, log)

        variants, winner = parse_ab_test(data["ab_test"], defaults, log, check_template)
    if isinstance(send_at, LocalTime):
        _local_rules(throttle, winner, log)
    if log.problems or name is None or template is None or subject is None or send_at is None:
        return None, log.problems
    broadcast = Broadcast(
        name=name,
        description=description or "",
        path=document.path,
        version=content_version(data),
        topic=topic,
        audience=audience,
        template=template,
        subject=subject,
        preheader=preheader,
        send_at=send_at,
        location=where(()),
        coupon=coupon,
        throttle=throttle,
        tracking=tracking,
        contact_pressure=pressure == "apply",
        variants=variants,
        winner=winner,
        content=content,
        template_at=where(("template",)),
        subject_at=where(("subject",)),
        preheader_at=where(("preheader",)) if preheader is not None else None,
    )
    return broadcast, []


def _local_rules(throttle: Throttle | None, winner: WinnerRule | None, log: ProblemLog) -> None:
    """What a `local` send time cannot be combined with, and why."""
    if throttle is not None:
        log.at(
            ("throttle",),
            "a local send time already spreads the mail over the day's time zones; "
            "give either send_at with local or a throttle, not both",
        )
    if winner is not None:
        log.at(
            ("ab_test", "winner"),
            "a winner cannot be picked for a local send time: the test cells would be read "
            "at different hours in different zones; use a plain split (shares totalling "
            "100%) or a send time in the shop's zone",
        )


def _name(value: Any, log: ProblemLog) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _NAME.match(value):
        log.at(
            ("name",),
            f"a name is lower-case letters, digits and '-', e.g. december-sale: {value!r}",
        )
        return None
    return value


def _topic(value: Any, log: ProblemLog) -> str:
    if not isinstance(value, str) or not _TOPIC.match(value):
        log.at(
            ("topic",),
            f"a topic is a lower-case word such as newsletter or promotions: {value!r}",
        )
        return DEFAULT_TOPIC
    return value


def _template(value: Any, at: PathKey, log: ProblemLog) -> str | None:
    if not isinstance(value, str) or not value or not set(value) <= _TEMPLATE_NAME_CHARS:
        log.at(at, f"expected a template name such as 'newsletter/newsletter', got {value!r}")
        return None
    return value


def _text(data: dict[str, Any], key: str, log: ProblemLog, default: str | None) -> str | None:
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, str) or (key != "description" and not value.strip()):
        log.at((key,), f"expected text, got {value!r}")
        return default
    return value


def _flag(data: dict[str, Any], key: str, log: ProblemLog) -> bool:
    value = data.get(key, True)
    if not isinstance(value, bool):
        log.at((key,), f"expected true or false, got {value!r}")
        return True
    return value


def _content(value: Any, log: ProblemLog) -> dict[str, object]:
    """`content:` as the template gets it: plain data that the outbox keeps as JSON."""
    if not isinstance(value, dict):
        log.at(("content",), "content is a mapping, e.g. {headline: ..., blocks: [...]}")
        return {}
    _plain(value, ("content",), log)
    return value


def _plain(value: Any, at: PathKey, log: ProblemLog) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _plain(item, (*at, key), log)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _plain(item, (*at, index), log)
    elif isinstance(value, float) and not math.isfinite(value):
        log.at(at, f"content holds numbers that JSON can keep, not {value}")
    elif value is not None and not isinstance(value, str | int | float | bool):
        log.at(
            at,
            f"content holds text, numbers, true/false, lists and mappings; write {value} in "
            f"quotes ('{value}')",
        )
