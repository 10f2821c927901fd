"""A time limit on the statements of one session: pages that let a person ask the database a
question (an audience count over a million customers, a search that reads every row) must
not hold a connection or a server thread for minutes.

PostgreSQL gets `SET LOCAL statement_timeout` (it ends with the transaction); SQLite, which has
no statement timeout, gets a progress handler that interrupts a statement past its deadline.
Either way the caller sees `QueryTimeout`. May import only the store's own modules.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from mailengine.errors import StoreError

# SQLite calls the handler every this many virtual-machine steps (a few microseconds).
_SQLITE_STEPS = 1_000


class QueryTimeout(StoreError, TimeoutError):
    """A statement ran past the time allowed for it and was stopped."""

    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(
            f"{what} took longer than {seconds:g} s and was stopped; narrow it down "
            "(a more selective condition, a longer search text) and try again"
        )
        self.seconds = seconds


@contextmanager
def time_limit(session: Session, seconds: float, what: str = "the query") -> Iterator[None]:
    """Stop any statement of `session` inside the block that runs longer than `seconds`.

    Use it on a session that only reads, inside its transaction: on PostgreSQL the limit is
    `SET LOCAL`, so it ends with the transaction."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        milliseconds = max(1, int(seconds * 1000))
        connection.execute(text(f"SET LOCAL statement_timeout = {milliseconds}"))
        try:
            yield
        except OperationalError as error:
            if _is_cancelled(error):
                raise QueryTimeout(seconds, what) from error
            raise
        return
    raw: Any = connection.connection.driver_connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), _SQLITE_STEPS)
    try:
        yield
    except OperationalError as error:
        if "interrupted" in str(error.orig).lower():
            raise QueryTimeout(seconds, what) from error
        raise
    finally:
        raw.set_progress_handler(None, _SQLITE_STEPS)


def _is_cancelled(error: OperationalError) -> bool:
    """PostgreSQL's query_canceled (57014), which statement_timeout raises."""
    return getattr(error.orig, "sqlstate", None) == "57014"
