"""Single-use coupon codes: one per customer and send, valid online and in store until expiry."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailengine.store.models import Coupon

coupon_table = Coupon.__table__  # type: ignore[attr-defined]
# No 0/O, 1/I/L: codes are read aloud at the till and typed from paper.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class IssuedCoupon:
    code: str
    percent: int | None
    amount_minor: int | None
    currency: str | None
    expires_at: datetime
    redeemed_at: datetime | None = None


@dataclass(frozen=True)
class CouponOffer:
    percent: int | None
    amount_minor: int | None
    currency: str | None
    expires_at: datetime


def new_code(prefix: str = "ME") -> str:
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"{prefix}-{body[:4]}-{body[4:]}"


def issue_for_send(
    session: Session, outbox_id: int, customer_id: int | None, offer: CouponOffer, now: datetime
) -> IssuedCoupon:
    """The coupon of this send: made on first call, the same one on every retry."""
    existing = _by(session, coupon_table.c.outbox_id == outbox_id)
    if existing is not None:
        return existing
    for _ in range(5):
        code = new_code()
        try:
            with session.begin_nested():
                session.execute(
                    insert(coupon_table).values(
                        code=code,
                        customer_id=customer_id,
                        outbox_id=outbox_id,
                        percent=offer.percent,
                        amount_minor=offer.amount_minor,
                        currency=offer.currency,
                        created_at=now,
                        expires_at=offer.expires_at,
                    )
                )
        except IntegrityError:
            continue  # a code collision (or a concurrent issue for this send): look again
        issued = _by(session, coupon_table.c.outbox_id == outbox_id)
        if issued is not None:
            return issued
    raise RuntimeError(f"could not make a unique coupon code for send {outbox_id}")


def coupon_of_send(session: Session, outbox_id: int) -> IssuedCoupon | None:
    """The coupon issued for this send, if one was."""
    return _by(session, coupon_table.c.outbox_id == outbox_id)


def coupons_of_sends(session: Session, outbox_ids: Collection[int]) -> dict[int, IssuedCoupon]:
    """The coupons issued for these sends, by outbox id (sends without one left out)."""
    if not outbox_ids:
        return {}
    c = coupon_table.c
    rows = session.execute(
        select(c.outbox_id, *_issued_columns()).where(c.outbox_id.in_(sorted(outbox_ids)))
    )
    return {row.outbox_id: IssuedCoupon(*row[1:]) for row in rows}


def find_coupon(session: Session, code: str) -> IssuedCoupon | None:
    return _by(session, coupon_table.c.code == code.strip().upper())


def redeem(
    session: Session, code: str, order: str, channel: str, now: datetime
) -> tuple[bool, str]:
    """Use a code once, online or in store; returns (accepted, why not)."""
    normalized = code.strip().upper()
    c = coupon_table.c
    result = session.execute(
        update(coupon_table)
        .where(c.code == normalized, c.redeemed_at.is_(None), c.expires_at > now)
        .values(redeemed_at=now, redeemed_order=order, redeemed_channel=channel)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True, ""
    found = find_coupon(session, normalized)
    if found is None:
        return False, "no such code"
    if found.redeemed_at is not None:
        return False, f"already used on {found.redeemed_at.date().isoformat()}"
    return False, f"expired on {found.expires_at.date().isoformat()}"


def _by(session: Session, condition: object) -> IssuedCoupon | None:
    row = session.execute(
        select(*_issued_columns()).where(condition)  # type: ignore[arg-type]
    ).first()
    return IssuedCoupon(**row._mapping) if row is not None else None


def _issued_columns() -> list[Any]:
    """The coupon table's columns of an IssuedCoupon, in its fields' order."""
    return [coupon_table.c[field.name] for field in fields(IssuedCoupon)]
