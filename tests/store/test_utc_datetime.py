"""Moments stored in UTC: remembered conversions never mix up two instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects import sqlite

from mailengine.store.types import UTCDateTime
from tests.conftest import NOW


@pytest.mark.parametrize("name", ["sqlite", "postgresql"])
def test_both_readings_of_a_repeated_wall_time_are_stored_apart(name: str) -> None:
    """Moments with one time zone compare by wall time: 02:30 before and after the clocks
    go back are equal, yet an hour apart."""
    convert = UTCDateTime().process_bind_param
    dialect = create_engine(f"{name}://").dialect
    berlin = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=berlin)
    second = first.replace(fold=1)
    assert first == second
    stored = [convert(moment, dialect) for moment in (first, second, first)]
    expected = [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    ]
    if dialect.name == "sqlite":
        assert stored == ["2026-10-25 00:30:00.000000", "2026-10-25 01:30:00.000000",
                          "2026-10-25 00:30:00.000000"]  # fmt: skip
    else:
        assert stored == [*expected, expected[0]]


def test_the_same_instant_in_any_zone_is_stored_alike_and_naive_ones_are_refused() -> None:
    convert = UTCDateTime().process_bind_param
    dialect = sqlite.dialect()
    india = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert convert(NOW, dialect) == convert(india, dialect) == "2026-11-23 09:00:00.000000"
    for _ in range(2):  # refused every time, not only before something was remembered
        with pytest.raises(ValueError, match="naive"):
            convert(NOW.replace(tzinfo=None), dialect)
