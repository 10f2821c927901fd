"""The tracked links of sent messages: one stored list per distinct list of links.

A message's tracked links, in order, are stored once under the digest of the list, however
many messages carry the same list (a broadcast's copies), and its outbox row names the list.
A click's key says the outbox id, the position and the digest (signed by the composer); the
target is found here, only for the message that names the list. Links of mail sent before
link lists existed stay in `tracked_link` (`api_queries.find_link`).

May import: store tables and the database helpers; nothing of HTTP or SMTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlmodel import Session

from mailengine.store.database import upsert_insert
from mailengine.store.outbox import outbox_table
from mailengine.store.web_models import LinkListRecord

link_list_table = LinkListRecord.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ListedLink:
    """What a tracked key leads to: the message, and the URL (None: the open pixel)."""

    outbox_id: int
    position: int
    url: str | None


def store_link_lists(
    session: Session,
    lists: Mapping[str, Sequence[str]],
    sends: Mapping[int, str],
    now: datetime,
) -> None:
    """Store the lists (digest -> URLs) not stored yet, and name each send's list (outbox id ->
    digest): one statement per distinct list, whatever the number of messages."""
    if lists:
        statement = upsert_insert(session)(link_list_table).on_conflict_do_nothing(
            index_elements=["digest"]
        )
        values = [
            {"digest": digest, "urls": list(urls), "created_at": now}
            for digest, urls in sorted(lists.items())
        ]
        session.execute(statement, values)
    by_list: dict[str, list[int]] = {}
    for outbox_id, digest in sends.items():
        by_list.setdefault(digest, []).append(outbox_id)
    o = outbox_table.c
    for digest, outbox_ids in sorted(by_list.items()):
        session.execute(
            update(outbox_table).where(o.id.in_(sorted(outbox_ids))).values(link_list=digest)
        )


def find_listed_link(
    session: Session, outbox_id: int, position: int, digest: str
) -> ListedLink | None:
    """The link at `position` of the list the message names (0: its pixel); None if the message
    names another list or none (erased), or the list is shorter."""
    o, ll = outbox_table.c, link_list_table.c
    row = session.execute(
        select(ll.urls)
        .select_from(outbox_table.join(link_list_table, ll.digest == o.link_list))
        .where(o.id == outbox_id, o.link_list == digest)
    ).first()
    if row is None:
        return None
    urls: list[str] = list(row.urls)
    if position == 0:
        return ListedLink(outbox_id, 0, None)
    if not 0 < position <= len(urls):
        return None
    return ListedLink(outbox_id, position, urls[position - 1])


def listed_urls(session: Session, digests: Sequence[str]) -> dict[str, list[str]]:
    """The stored lists by digest."""
    ll = link_list_table.c
    if not digests:
        return {}
    rows = session.execute(select(ll.digest, ll.urls).where(ll.digest.in_(set(digests))))
    return {row.digest: list(row.urls) for row in rows}


def forget_link_lists(session: Session, customer_id: int) -> None:
    """The links in the customer's mail stop working; lists no other message names are deleted
    (a list can hold links made for this customer only)."""
    o, ll = outbox_table.c, link_list_table.c
    mine = o.customer_id == customer_id
    named = set(
        session.execute(select(o.link_list).where(mine, o.link_list.is_not(None)).distinct())
        .scalars()
        .all()
    )
    if not named:
        return
    session.execute(update(outbox_table).where(mine).values(link_list=None))
    session.execute(
        delete(link_list_table).where(
            ll.digest.in_(sorted(named)), ~exists().where(o.link_list == ll.digest)
        )
    )
