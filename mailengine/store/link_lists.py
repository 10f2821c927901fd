"""The tracked links of sent messages: one stored list per distinct list of links.

A message's tracked links, in order, are stored once under the digest of the list, however
many messages carry the same list (a broadcast's copies). A click's key says the outbox id,
the position and the digest, signed by the composer: the target is found here, for a message
that exists and whose customer was not erased. A list carried by one customer's mail only
may hold links made for them: it names that customer and is deleted when they are erased.
Links of mail sent before link lists existed stay in `tracked_link` (`api_queries.find_link`).

May import: store tables and the database helpers; nothing of HTTP or SMTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlmodel import Session

from mailengine.store.api_queries import LinkTarget
from mailengine.store.customers import customer_table
from mailengine.store.database import upsert_insert
from mailengine.store.outbox import outbox_table
from mailengine.store.web_models import LinkListRecord

link_list_table = LinkListRecord.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CarriedList:
    """A list of links and the customers whose mail in this batch carries it."""

    urls: Sequence[str]
    customers: set[int | None]


def store_link_lists(session: Session, lists: Mapping[str, CarriedList], now: datetime) -> None:
    """Store the lists (by digest) not stored yet: one statement per batch, however many
    messages. A list another customer's mail carried before no longer names a customer."""
    if not lists:
        return
    insert = upsert_insert(session)(link_list_table)
    excluded = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=["digest"],
        set_={"customer_id": None},
        where=link_list_table.c.customer_id.is_not(None)
        & (
            excluded.customer_id.is_(None) | (link_list_table.c.customer_id != excluded.customer_id)
        ),
    )
    values = [
        {
            "digest": digest,
            "urls": list(carried.urls),
            "customer_id": _only(carried.customers),
            "created_at": now,
        }
        for digest, carried in sorted(lists.items())
    ]
    session.execute(statement, values)


def _only(customers: set[int | None]) -> int | None:
    return next(iter(customers)) if len(customers) == 1 else None


def find_listed_link(
    session: Session, outbox_id: int, position: int, digest: str
) -> LinkTarget | None:
    """The link at `position` of the list (0: the message's pixel); None if the list is not
    stored or shorter, the message is gone, or its customer was erased."""
    o, ll, c = outbox_table.c, link_list_table.c, customer_table.c
    row = session.execute(
        select(ll.id, ll.urls, c.forgotten_at)
        .select_from(outbox_table.outerjoin(customer_table, c.id == o.customer_id))
        .join(link_list_table, ll.digest == digest)
        .where(o.id == outbox_id)
    ).first()
    if row is None or row.forgotten_at is not None:
        return None
    urls: list[str] = list(row.urls)
    if position == 0:
        return LinkTarget(None, outbox_id, None, 0, row.id)
    if not 0 < position <= len(urls):
        return None
    return LinkTarget(None, outbox_id, urls[position - 1], position, row.id)


def forget_link_lists(session: Session, customer_id: int) -> None:
    """Delete the lists only this customer's mail carried (their links may carry them)."""
    session.execute(delete(link_list_table).where(link_list_table.c.customer_id == customer_id))
