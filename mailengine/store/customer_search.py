"""Find customers by part of their e-mail address or name, for pickers in the studio.

Forgotten customers are never found: their data is gone, and nothing is previewed for them.
The text is matched literally (`%` and `_` are not wildcards), case-insensitively.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, or_, select
from sqlmodel import Session

from mailengine.store.customers import customer_table

SEARCH_LIMIT = 20


@dataclass(frozen=True)
class CustomerMatch:
    id: int
    email: str
    first_name: str | None
    last_name: str | None

    @property
    def label(self) -> str:
        """`Anna Müller <anna@example.com>`, or the address alone when there is no name."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part).strip()
        return f"{name} <{self.email}>" if name else self.email


def search_customers(session: Session, text: str, limit: int = SEARCH_LIMIT) -> list[CustomerMatch]:
    """Customers whose address, first name, last name or "first last" contains `text`; an
    exact address first, then by address. Empty text finds nothing."""
    wanted = " ".join(text.split())
    if not wanted:
        return []
    c = customer_table.c
    full_name = func.coalesce(c.first_name, "") + " " + func.coalesce(c.last_name, "")
    statement = (
        select(c.id, c.email, c.first_name, c.last_name)
        .where(c.forgotten_at.is_(None))
        .where(
            or_(
                c.email.icontains(wanted, autoescape=True),
                c.first_name.icontains(wanted, autoescape=True),
                c.last_name.icontains(wanted, autoescape=True),
                full_name.icontains(wanted, autoescape=True),
            )
        )
        .order_by(case((c.email == wanted.lower(), 0), else_=1), c.email)
        .limit(max(1, min(limit, 100)))
    )
    return [CustomerMatch(**row._mapping) for row in session.execute(statement)]


def customer_by_id(session: Session, customer_id: int) -> CustomerMatch | None:
    """The customer with this id, unless forgotten."""
    c = customer_table.c
    statement = select(c.id, c.email, c.first_name, c.last_name).where(
        c.id == customer_id, c.forgotten_at.is_(None)
    )
    row = session.execute(statement).first()
    return CustomerMatch(**row._mapping) if row is not None else None
