"""The suppression list: addresses never to be mailed again, stored only as hashes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.store.database import upsert_insert
from mailengine.store.models import Suppression

suppression_table = Suppression.__table__  # type: ignore[attr-defined]
# An unsubscribe stops marketing mail for good (it survives imports and `forget`), while
# order confirmations and support replies still reach the customer. Every other reason
# (hard bounce, complaint, forgotten, manual) stops all mail.
MARKETING_ONLY_REASONS = frozenset({"unsubscribe"})


def blocks(reason: str | None, kind: str) -> bool:
    """Whether a suppression with `reason` stops a message of `kind` (marketing, ...)."""
    if reason is None:
        return False
    return kind == "marketing" or reason not in MARKETING_ONLY_REASONS


def suppress(session: Session, address: str, reason: str, now: datetime, detail: str = "") -> bool:
    """Add `address`; True if it was not suppressed before. The first reason is kept."""
    insert = upsert_insert(session)
    statement = (
        insert(suppression_table)
        .values(
            address_hash=address_hash(address),
            reason=reason,
            detail=detail[:500] or None,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["address_hash"])
        .returning(suppression_table.c.id)
    )
    return session.execute(statement).first() is not None


def is_suppressed(session: Session, address: str) -> bool:
    return bool(suppressed_hashes(session, [address_hash(address)]))


def suppressed_hashes(session: Session, hashes: Iterable[str]) -> set[str]:
    wanted = list(set(hashes))
    found: set[str] = set()
    for start in range(0, len(wanted), 2000):
        statement = select(suppression_table.c.address_hash).where(
            suppression_table.c.address_hash.in_(wanted[start : start + 2000])
        )
        found.update(session.execute(statement).scalars())
    return found


def reasons_by_hash(session: Session, hashes: Iterable[str]) -> dict[str, str]:
    """The suppression reason of each of these address hashes that is suppressed."""
    wanted = list(set(hashes))
    found: dict[str, str] = {}
    c = suppression_table.c
    for start in range(0, len(wanted), 2000):
        statement = select(c.address_hash, c.reason).where(
            c.address_hash.in_(wanted[start : start + 2000])
        )
        found.update({digest: reason for digest, reason in session.execute(statement)})
    return found


def suppression_reason(session: Session, address: str) -> str | None:
    statement = select(suppression_table.c.reason).where(
        suppression_table.c.address_hash == address_hash(address)
    )
    reason: str | None = session.execute(statement).scalar_one_or_none()
    return reason
