"""Every broadcast's mail so far in two grouped statements, for a list of broadcasts: how many
messages went, and how many were opened or clicked.

The full figures (delivered, bounces, conversions, per variant and phase, with intervals) are
`broadcast_report`'s, three heavier statements per broadcast; a list of every broadcast needs
only these counts, for all of them at once. Opens are counted as the report counts them (a
click counts as an open), without leaving out messages that bounced after being opened.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlmodel import Session

from mailengine.store.api_queries import tracking_event_table
from mailengine.store.outbox import outbox_table

PREFIX = "broadcast:"


@dataclass(frozen=True)
class SoFar:
    sent: int = 0
    opened: int = 0
    clicked: int = 0


def mail_so_far(session: Session) -> dict[str, SoFar]:
    """By broadcast name: its messages sent, opened (or clicked) and clicked."""
    o, e = outbox_table.c, tracking_event_table.c
    ours = o.workflow.startswith(PREFIX, autoescape=True)
    sent = {
        workflow: count
        for workflow, count in session.execute(
            select(o.workflow, func.count(o.sent_at)).where(ours).group_by(o.workflow)
        )
    }
    engaged = session.execute(
        select(
            o.workflow,
            func.count(func.distinct(e.outbox_id)),
            func.count(func.distinct(case((e.kind == "click", e.outbox_id)))),
        )
        .join_from(tracking_event_table, outbox_table, o.id == e.outbox_id)
        .where(ours, e.kind.in_(("open", "click")))
        .group_by(o.workflow)
    )
    opened = {workflow: (int(opens), int(clicks)) for workflow, opens, clicks in engaged}
    return {
        str(workflow)[len(PREFIX) :]: SoFar(int(count), *opened.get(workflow, (0, 0)))
        for workflow, count in sent.items()
    }
