"""Lookups of many keys at once on SQLite in the driver's own SQL: what the API's group
commits read inside the write turn (stored answers, customers by address, orders by external
id, events by key).

Every microsecond inside SQLite's write turn is one every other writer waits. Built by
SQLAlchemy (`column IN (...)`, one placeholder per value, a statement compiled and cached per
count, each result row processed), such a lookup cost 0.1-0.4 ms of Python for a group of
four orders, five of them a group; the statement took a few microseconds. Here the text is
fixed, the keys go as one JSON parameter that `json_each` unpacks (the column's unique index
still serves each key: `IN (SELECT value FROM json_each(?))`), and the statement runs on the
DB-API connection under the session, inside its transaction.

May import: mailengine.json_text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from mailengine.json_text import json_text


def sqlite_driver(session: Session) -> sqlite3.Connection | None:
    """The sqlite3 connection under the session (in its transaction), or None on another
    database."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return None
    found = connection.connection.driver_connection
    assert isinstance(found, sqlite3.Connection)
    return found


def rows_of_keys(
    driver: sqlite3.Connection, statement: str, keys: Sequence[Any], *leading: Any
) -> list[Any]:
    """The rows `statement` gives for `keys`: its last parameter is the keys as a JSON list
    (`IN (SELECT value FROM json_each(?))`), after `leading` ones."""
    if not keys:
        return []
    return driver.execute(statement, (*leading, json_text(list(keys)))).fetchall()
