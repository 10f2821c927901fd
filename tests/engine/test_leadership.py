"""One engine per PostgreSQL cluster keeps the schedules; the others wait to take over."""

from __future__ import annotations

import pytest

from mailengine.engine.leadership import Leadership
from mailengine.store.database import Database

pytestmark = pytest.mark.postgres


def test_only_one_engine_leads_and_another_takes_over(postgres_url: str) -> None:
    first, second = Database(postgres_url), Database(postgres_url)
    a, b = Leadership(first), Leadership(second)
    try:
        assert a.try_lead()
        assert not b.try_lead()
        assert (a.leading, b.leading) == (True, False)
        a.release()
        assert b.try_lead()
        assert not a.try_lead()
    finally:
        a.release()
        b.release()
        first.dispose()
        second.dispose()


def test_sqlite_always_leads(sqlite_database: Database) -> None:
    assert Leadership(sqlite_database).leading
