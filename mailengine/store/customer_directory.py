"""Find customers by e-mail address or name, a page at a time: the Customers page and the
preview's customer picker.

Two ways to match:
- `start` (the default): the address, the first name, the last name or "first last" starts
  with the text. Written as ranges (`email >= 'ann' AND email < 'ano'`) over indexed columns,
  so a search among a million customers reads only the rows it finds. Addresses are stored in
  lower case; names are matched as typed, in lower case and capitalised ("müller" finds
  "Müller").
- `contains`: the text anywhere in the address or name, in any case. This reads every
  customer; run it under `query_budget.time_limit`.

Forgotten customers are listed too (by their placeholder address): support must see that a
person asked to be forgotten. Results are ordered by address. May import the store's modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select, union
from sqlmodel import Session

from mailengine.store.customers import customer_table

MatchMode = Literal["start", "contains"]
MATCH_MODES: tuple[MatchMode, ...] = ("start", "contains")
PAGE_SIZE = 25
MAX_PAGE = 400  # OFFSET beyond ~10,000 rows helps nobody: narrow the search instead
MAX_TEXT = 200

_c = customer_table.c
_LISTED = (
    _c.id, _c.email, _c.first_name, _c.last_name, _c.city, _c.consent_status,
    _c.orders_count, _c.last_order_at, _c.forgotten_at,
)  # fmt: skip


@dataclass(frozen=True)
class CustomerListing:
    """One customer in a list of search results (plain data)."""

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    city: str | None
    consent_status: str
    orders_count: int
    last_order_at: datetime | None
    forgotten_at: datetime | None

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def label(self) -> str:
        """`Anna Müller <anna@example.com>`, or the address alone when there is no name."""
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class CustomerPage:
    """Page `page` (from 1) of the customers matching `text`; `has_next` if more follow."""

    text: str
    mode: MatchMode
    page: int
    page_size: int
    customers: list[CustomerListing]
    has_next: bool

    @property
    def first_number(self) -> int:
        return (self.page - 1) * self.page_size + 1


def search_text(text: str) -> str:
    """The text as searched: spaces collapsed, cut to a sane length."""
    return " ".join(text.split())[:MAX_TEXT]


def find_customers(
    session: Session,
    text: str,
    mode: MatchMode = "start",
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> CustomerPage:
    """Customers matching `text` (see the module's docstring), ordered by address."""
    wanted = search_text(text)
    page = max(1, min(page, MAX_PAGE))
    c = customer_table.c
    if not wanted:
        return CustomerPage(wanted, mode, page, page_size, [], False)
    rule = _contains(wanted) if mode == "contains" else _starts(wanted)
    statement = (
        select(*_LISTED)
        .where(rule)
        .order_by(c.email)
        .limit(page_size + 1)
        .offset((page - 1) * page_size)
    )  # fmt: skip
    rows = [CustomerListing(**row._mapping) for row in session.execute(statement)]
    return CustomerPage(wanted, mode, page, page_size, rows[:page_size], len(rows) > page_size)


def _starts(text: str) -> ColumnElement[bool]:
    """One indexed range per column and spelling, each its own SELECT of ids: with an OR of
    them and an ORDER BY, SQLite (not knowing the bound values) walks the whole address index
    in order instead (0.2 s at 100,000 customers for a text nobody has)."""
    c = customer_table.c
    ids = union(*(select(c.id).where(rule) for rule in _prefix_rules(text)))
    found: ColumnElement[bool] = c.id.in_(ids)
    return found


def _prefix_rules(text: str) -> list[ColumnElement[bool]]:
    c = customer_table.c
    rules = [_prefix(c.email, text.lower())]
    for variant in _name_variants(text):
        rules.append(_prefix(c.first_name, variant))
        rules.append(_prefix(c.last_name, variant))
    first, _, rest = text.partition(" ")
    if rest:  # "anna mü": Anna Müller
        for first_variant in _name_variants(first):
            for rest_variant in _name_variants(rest):
                rules.append(
                    and_(c.first_name == first_variant, _prefix(c.last_name, rest_variant))
                )
    return rules


def _prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    """`column` starts with `prefix`, as a range its index serves (code-point order: exact on
    SQLite and on a PostgreSQL database with the C collation), checked exactly as well."""
    upper = prefix[:-1] + chr(min(ord(prefix[-1]) + 1, 0x10FFFF))
    exact = func.substr(column, 1, len(prefix)) == prefix
    return and_(column >= prefix, column < upper, exact)


def _name_variants(text: str) -> list[str]:
    """As typed, lower case, capitalised, in title case, and with a lower-case particle first
    ("de Jong"): names are stored as people write them."""
    first, _, rest = text.lower().partition(" ")
    particle = f"{first} {rest.title()}" if rest else first  # "de Jong", "van Den Berg"
    variants = [text, text.lower(), text[:1].upper() + text[1:].lower(), text.title(), particle]
    return list(dict.fromkeys(variants))


def _contains(text: str) -> ColumnElement[bool]:
    c = customer_table.c
    full_name = func.coalesce(c.first_name, "") + " " + func.coalesce(c.last_name, "")
    return or_(
        c.email.icontains(text, autoescape=True),
        full_name.icontains(text, autoescape=True),
    )


def customer_listing(session: Session, customer_id: int) -> CustomerListing | None:
    """The customer with this id, unless forgotten (nothing is shown or previewed for them)."""
    c = customer_table.c
    statement = select(*_LISTED).where(c.id == customer_id, c.forgotten_at.is_(None))
    row = session.execute(statement).first()
    return CustomerListing(**row._mapping) if row is not None else None
