"""Read a coupon offer (`coupon: {percent: 20, valid_for: 7 days}`), as a send step and a
broadcast write it: a percentage or an amount off, valid for a while after it is issued."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mailengine.workflows import phrases
from mailengine.workflows.model import Coupon
from mailengine.workflows.problems import ProblemLog
from mailengine.yamlsource import PathKey

COUPON_KEYS = ("percent", "amount", "valid_for")


def parse_coupon(data: Any, at: PathKey, log: ProblemLog) -> Coupon | None:
    """The coupon written at `at`, or None (with problems logged) when it is wrong."""
    if not isinstance(data, dict):
        log.at(at, "write e.g. {percent: 10, valid_for: 30 days} or {amount: 5, valid_for: ...}")
        return None
    before = len(log.problems)
    log.unknown_keys(data, COUPON_KEYS, at, "coupon")
    if ("percent" in data) == ("amount" in data):
        log.at(at, "a coupon takes either percent or amount (not both)")
    percent = amount = None
    if "percent" in data:
        try:
            percent = phrases.parse_percent(data["percent"], low=1, high=100)
        except ValueError as error:
            log.at((*at, "percent"), str(error))
    if "amount" in data:
        raw = data["amount"]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
            log.at((*at, "amount"), f"expected an amount above zero such as 5 or 7.50, got {raw!r}")
        else:
            amount = Decimal(str(raw))
    if "valid_for" not in data:
        log.at(at, "a coupon needs valid_for, e.g. valid_for: 14 days")
        return None
    try:
        valid_for = phrases.parse_duration(data["valid_for"])
    except ValueError as error:
        log.at((*at, "valid_for"), str(error))
        return None
    if len(log.problems) != before:
        return None
    return Coupon(valid_for=valid_for, percent=percent, amount=amount)
