"""`mailengine broadcast show` laid out: the facts and variant rows `engine.broadcast_facts`
resolves, as the CLI's tables (and JSON or CSV)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from mailengine.broadcasts.model import Broadcast
from mailengine.broadcasts.timing import when
from mailengine.cli.tables import Column, Fact, Facts, Rows
from mailengine.engine import broadcast_facts
from mailengine.engine.broadcast_facts import (
    NOT_SCHEDULED,
    Audience,
    audience_words,
    variants_words,
)

__all__ = [
    "NOT_SCHEDULED",
    "Audience",
    "audience_words",
    "facts",
    "variant_rows",
    "variants_words",
    "when",
]


def facts(
    broadcast: Broadcast,
    zone: ZoneInfo,
    now: datetime,
    audience: Audience,
    state: str,
    currency: str,
) -> Facts:
    """Everything about the broadcast, resolved, for `show`."""
    found = broadcast_facts.facts(broadcast, zone, now, audience, state, currency)
    return Facts(
        "broadcast",
        [Fact(item.key, item.label, item.value, indent=item.indent) for item in found],
        title=f"Broadcast {broadcast.name}",
    )


def variant_rows(broadcast: Broadcast, audience: Audience) -> Rows:
    """Each variant (or the one mail, `all`) with its share and customers; with a winner,
    the rest that gets it."""
    columns = [
        Column("variant"),
        Column("share", right=True),
        Column("customers", "customers now", right=True),
        Column("template"),
        Column("subject", wrap=True),
        Column("preheader", wrap=True),
    ]
    rows = broadcast_facts.variant_rows(broadcast, audience)
    return Rows("variants", columns, rows, title="Variants")
