"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC: `timestamptz` on PostgreSQL, UTC text on SQLite.

    On SQLite the text is `YYYY-MM-DD HH:MM:SS.ffffff` (sorts like the time it names), written
    and read with the C-level isoformat functions: bulk imports spend much of their time here.
    Naive datetimes are refused on the way in; values always come back aware (UTC).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(26))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        offset = value.utcoffset()
        if offset is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
        return _bound(value, offset, dialect.name == "sqlite")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


@lru_cache(maxsize=4096)
def _bound(value: datetime, offset: timedelta, sqlite: bool) -> Any:
    """An aware moment as stored. Remembered: a batch of rows repeats a few moments (its
    `now`, shared order times) thousands of times, and this ran for every value of every row
    (3 us each, a fifth of writing a batch of orders on SQLite). The offset is part of the
    key: two moments with one time zone compare by their wall time alone, so the two
    readings of a wall time that a clock change repeats would otherwise be one key."""
    if not sqlite:
        return value.astimezone(UTC)
    if offset:
        value = value - offset  # the wall time in UTC; the offset text is cut off below
    return value.isoformat(sep=" ", timespec="microseconds")[:26]


def json_type() -> TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact)."""
    return JSON().with_variant(postgresql.JSONB(), "postgresql")
