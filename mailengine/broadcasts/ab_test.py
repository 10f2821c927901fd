"""Read a broadcast's `ab_test:`: its variants with their shares, and the winner rule.

```yaml
ab_test:
  variants:
    - {name: A, share: 10%}                          # the broadcast's subject and template
    - {name: B, share: 10%, subject: "Last days: 20 % off"}
  winner: {metric: clicks, after: 4 hours}          # omit for a plain split (100 % in all)
```
Shares are percents (`10%`, `10`, `12.5%`) kept as basis points (10 % is 1,000).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from mailengine.broadcasts.model import METRICS, SPLIT_BUCKETS, Variant, WinnerRule
from mailengine.errors import SourceLocation
from mailengine.workflows import phrases
from mailengine.workflows.problems import ProblemLog, did_you_mean
from mailengine.yamlsource import PathKey

AB_TEST_KEYS = ("variants", "winner")
VARIANT_KEYS = ("name", "share", "subject", "preheader", "template")
WINNER_KEYS = ("metric", "after")
SHORTEST_WAIT = timedelta(minutes=15)
LONGEST_WAIT = timedelta(days=7)
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
_PERCENT = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*%?\s*$")
CheckTemplate = Callable[[Any, PathKey], None]


@dataclass(frozen=True)
class Defaults:
    """What a variant sends when it does not say: the broadcast's own, and where it is."""

    template: str
    subject: str
    preheader: str | None
    template_at: SourceLocation
    subject_at: SourceLocation
    preheader_at: SourceLocation | None


def parse_ab_test(
    data: Any, defaults: Defaults, log: ProblemLog, check_template: CheckTemplate
) -> tuple[tuple[Variant, ...], WinnerRule | None]:
    """The variants and the winner rule written at `ab_test`; `check_template(value, at)`
    checks a variant's own template name. Problems go to `log`."""
    at: PathKey = ("ab_test",)
    if not isinstance(data, dict):
        log.at(at, "write ab_test: {variants: [...], winner: {metric: clicks, after: 4 hours}}")
        return (), None
    log.unknown_keys(data, AB_TEST_KEYS, at, "ab_test")
    winner = _parse_winner(data["winner"], log) if "winner" in data else None
    if "variants" not in data:
        log.at(at, "an A/B test needs variants: a list of at least two")
        return (), winner
    variants = _parse_variants(data["variants"], defaults, log, check_template)
    written = data["variants"]
    if variants and isinstance(written, list) and len(variants) == len(written):
        _check_total(variants, log, with_winner="winner" in data)
    return variants, winner


def parse_share(value: object) -> int:
    """`10%`, `10`, `12.5%` or `12.5` as basis points (1,000 for 10 %); ValueError if wrong."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a share is a percentage such as 10% or 12.5%, got {value!r}")
    match = _PERCENT.match(str(value))
    if match is None:
        raise ValueError(f"a share is a percentage such as 10% or 12.5%, got {value!r}")
    try:
        basis_points = Decimal(match.group(1)) * 100
    except InvalidOperation:
        raise ValueError(f"a share is a percentage such as 10% or 12.5%, got {value!r}") from None
    if basis_points != basis_points.to_integral_value():
        raise ValueError(f"{value}: write a share with at most two decimals, e.g. 12.25%")
    if not 0 < basis_points <= SPLIT_BUCKETS:
        raise ValueError(f"{value}: a share is above 0% and at most 100%")
    return int(basis_points)


def shown_share(basis_points: int) -> str:
    """1,000 as `10 %`, 1,250 as `12.5 %`."""
    text = f"{Decimal(basis_points) / 100:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " %"


def _parse_variants(
    data: Any, defaults: Defaults, log: ProblemLog, check_template: CheckTemplate
) -> tuple[Variant, ...]:
    at: PathKey = ("ab_test", "variants")
    if not isinstance(data, list) or len(data) < 2:
        log.at(at, "an A/B test needs a list of at least two variants, e.g. {name: A, share: 10%}")
        return ()
    variants: list[Variant] = []
    names: dict[str, int] = {}
    for index, item in enumerate(data):
        variant = _parse_variant(item, (*at, index), defaults, log, check_template)
        if variant is None:
            continue
        if variant.name in names:
            log.at(
                (*at, index, "name"),
                f"the variant name '{variant.name}' is already used by variant "
                f"{names[variant.name] + 1}: names must be unique",
            )
            continue
        names[variant.name] = index
        variants.append(variant)
    return tuple(variants)


def _parse_variant(
    item: Any, at: PathKey, defaults: Defaults, log: ProblemLog, check_template: CheckTemplate
) -> Variant | None:
    if not isinstance(item, dict):
        log.at(at, "a variant is a mapping such as {name: A, share: 10%, subject: ...}")
        return None
    before = len(log.problems)
    log.unknown_keys(item, VARIANT_KEYS, at, "a variant")
    name = item.get("name")
    if name is None:
        log.at(at, "a variant needs a name, e.g. name: A")
    elif not isinstance(name, str) or not _VARIANT_NAME.match(name):
        log.at((*at, "name"), f"a variant name is 1 to 20 letters, digits, '-' or '_': {name!r}")
    share = 0
    if "share" not in item:
        log.at(at, "a variant needs a share of the audience, e.g. share: 10%")
    else:
        try:
            share = parse_share(item["share"])
        except ValueError as error:
            log.at((*at, "share"), str(error))
    for key in ("subject", "preheader"):
        value = item.get(key)
        if key in item and (not isinstance(value, str) or not value.strip()):
            log.at((*at, key), f"expected text, got {value!r}")
    if "template" in item:
        check_template(item["template"], (*at, "template"))
    if len(log.problems) != before:
        return None
    where = log.document.location
    own = item.keys()
    return Variant(
        name=str(name),
        share=share,
        template=str(item.get("template", defaults.template)),
        subject=str(item.get("subject", defaults.subject)),
        preheader=item.get("preheader", defaults.preheader),
        location=where(at),
        template_at=where((*at, "template")) if "template" in own else defaults.template_at,
        subject_at=where((*at, "subject")) if "subject" in own else defaults.subject_at,
        preheader_at=where((*at, "preheader")) if "preheader" in own else defaults.preheader_at,
    )


def _check_total(variants: tuple[Variant, ...], log: ProblemLog, *, with_winner: bool) -> None:
    total = sum(variant.share for variant in variants)
    at: PathKey = ("ab_test", "variants")
    if with_winner and total >= SPLIT_BUCKETS:
        log.at(
            at,
            f"the shares total {shown_share(total)}: with a winner the variants are tested on "
            "part of the audience and the winner goes to the rest, so they must total less "
            "than 100 % (e.g. 10% each)",
        )
    elif not with_winner and total != SPLIT_BUCKETS:
        log.at(
            at,
            f"the shares total {shown_share(total)}: without a winner the variants split the "
            "whole audience and must total 100 % (or add winner: {metric: clicks, after: "
            "4 hours} to send the best one to the rest)",
        )


def _parse_winner(data: Any, log: ProblemLog) -> WinnerRule | None:
    at: PathKey = ("ab_test", "winner")
    if not isinstance(data, dict):
        log.at(at, "write winner: {metric: clicks, after: 4 hours}")
        return None
    before = len(log.problems)
    log.unknown_keys(data, WINNER_KEYS, at, "winner")
    for key in WINNER_KEYS:
        if key not in data:
            log.at(at, f"a winner rule needs {key}, e.g. {{metric: clicks, after: 4 hours}}")
    metric = data.get("metric")
    if "metric" in data and metric not in METRICS:
        log.at(
            (*at, "metric"),
            f"unknown metric {metric!r}{did_you_mean(str(metric), METRICS)}; "
            f"use {', '.join(METRICS)}",
        )
    after = timedelta(0)
    if "after" in data:
        try:
            after = phrases.parse_duration(data["after"])
        except ValueError as error:
            log.at((*at, "after"), str(error))
        else:
            if not SHORTEST_WAIT <= after <= LONGEST_WAIT:
                log.at(
                    (*at, "after"),
                    f"'{data['after']}': the winner is chosen between 15 minutes and 7 days "
                    "after the test is sent",
                )
    if len(log.problems) != before:
        return None
    chosen = next(known for known in METRICS if known == metric)
    return WinnerRule(chosen, after)
