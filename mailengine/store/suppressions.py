"""The suppression list: addresses not to be mailed (again), stored only as hashes.

Two kinds of entry. "No marketing" (an unsubscribe) stops marketing mail for good: it
survives imports and `customer forget`, and only a confirmed double opt-in lifts it, while
order mail and support replies still reach the customer. "Never mail" (a hard bounce, a
complaint, `customer forget`, a manual entry) stops every message. A never-mail reason
replaces a no-marketing one (an unsubscribed address that then bounces gets nothing more);
nothing ever turns a never-mail entry back into a no-marketing one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.store.database import upsert_insert
from mailengine.store.models import Suppression

suppression_table = Suppression.__table__  # type: ignore[attr-defined]
# "No marketing": every other reason (hard-bounce, complaint, forgotten, manual) is "never mail".
MARKETING_ONLY_REASONS = frozenset({"unsubscribe"})


def blocks(reason: str | None, kind: str) -> bool:
    """Whether a suppression with `reason` stops a message of `kind`: marketing mail is
    stopped by every entry; transactional mail and support replies only by never-mail ones."""
    if reason is None:
        return False
    return kind == "marketing" or reason not in MARKETING_ONLY_REASONS


def blocking_entry(hash_column: ColumnElement[str], *, marketing: bool) -> ColumnElement[bool]:
    """SQL: a suppression entry for this address hash stops mail of this kind (see `blocks`)."""
    s = suppression_table.c
    rules = [s.address_hash == hash_column]
    if not marketing:
        rules.append(s.reason.not_in(sorted(MARKETING_ONLY_REASONS)))
    return select(s.id).where(*rules).exists()


def suppress(session: Session, address: str, reason: str, now: datetime, detail: str = "") -> bool:
    """Add `address`; True if it was not suppressed before, or only from marketing and now
    from all mail. Otherwise the first entry is kept as it is."""
    return suppress_hash(session, address_hash(address), reason, now, detail)


def suppress_hash(
    session: Session, digest: str, reason: str, now: datetime, detail: str = ""
) -> bool:
    """`suppress` for an address known only by its hash (a signed link names the hash)."""
    values = {"address_hash": digest, "reason": reason, "detail": detail[:500] or None}
    insert = upsert_insert(session)(suppression_table).values(**values, created_at=now)
    if reason in MARKETING_ONLY_REASONS:
        statement = insert.on_conflict_do_nothing(index_elements=["address_hash"])
    else:  # never mail: raise a no-marketing entry, keep an earlier never-mail one
        statement = insert.on_conflict_do_update(
            index_elements=["address_hash"],
            set_={"reason": reason, "detail": values["detail"], "created_at": now},
            where=suppression_table.c.reason.in_(sorted(MARKETING_ONLY_REASONS)),
        )
    return session.execute(statement.returning(suppression_table.c.id)).first() is not None


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
