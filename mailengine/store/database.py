"""Engines and sessions for SQLite (embedded default) and PostgreSQL (the scale path)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlmodel import Session

from mailengine.errors import StoreError
from mailengine.store.write_turn import write_turn

MIGRATIONS = Path(__file__).parent / "migrations"
# Tables other software keeps in the same database (APScheduler's job store).
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})
# How long a unit of work waits for another thread's on the same SQLite file before it asks
# SQLite itself (whose busy timeout then decides, as without this lock): the connections'
# busy timeout.
SQLITE_BUSY_SECONDS = 30.0
# A pooled PostgreSQL connection that comes back into use after this long idle is asked
# whether it still works (`SELECT 1`) before it is handed out; one in steady use is not. The
# pool's `pre_ping` asked every time: one more round trip for each of the API's group
# commits. A connection that broke while in steady use (the server restarted) fails its
# next statement instead, and SQLAlchemy then drops every connection of that moment.
IDLE_PING_SECONDS = 10.0
_IDLE_SINCE = "mailengine_idle_since"
# SQLite's default: the connection whose commit brings the WAL to this many pages copies them
# into the database file (and syncs it) before its commit returns.
INLINE_CHECKPOINT_PAGES = 1000
# Where the engine's checkpointer copies the WAL (`store.wal_checkpoints`), a commit checkpoints
# only past this many pages: should the checkpointer stall, the WAL still stays bounded.
BACKSTOP_CHECKPOINT_PAGES = 20_000


def normalize_url(url: str) -> str:
    """Pick the drivers mailengine ships with: psycopg 3 for PostgreSQL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """One database: an engine, sessions, and its schema migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {"echo": echo}
        # A file of its own: SQLite's (not in memory), whose units of work take write turns.
        database = parsed.database if self.dialect == "sqlite" else None
        if database == ":memory:":
            database = None
        if database:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if self.dialect == "sqlite":
            options["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS}
        self.engine: Engine = create_engine(self.url, **options)
        if self.dialect != "sqlite":
            event.listen(self.engine, "checkin", _note_idle)
            event.listen(self.engine, "checkout", _ping_after_idle(self.engine))
        # Units of work (`transaction`) on SQLite take the write lock as they begin.
        self._writing: Engine = self.engine
        self._write_turn = write_turn(database, SQLITE_BUSY_SECONDS) if database else None
        self.sqlite_file = Path(database) if database else None
        self._checkpoint_pages = INLINE_CHECKPOINT_PAGES
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", self._sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
            self._writing = self.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on error.

        On SQLite it begins with the write lock (BEGIN IMMEDIATE), waiting up to the busy
        timeout for another writer: a transaction that read first and wrote later would
        otherwise fail at its first write whenever another connection (a thread, or another
        dispatcher process) had committed in between (SQLITE_BUSY_SNAPSHOT, which no busy
        timeout waits out). Reads outside a unit of work (`session`) do not take the lock.

        Units of work on one SQLite file wait for each other's end in a queue of their own
        first (`write_turn`: threads on a thread lock, processes on a file lock), which hands
        the turn over at once: SQLite's busy handler polls the write lock with sleeps of up
        to 100 ms, so a writer that found it taken slept on long after it was free.
        """
        with (
            self.write_turn(),
            Session(self._writing, expire_on_commit=False) as session,
            _committed(session),
        ):
            yield session

    def writers_waiting(self) -> bool:
        """Whether an HTTP worker waits for SQLite's write turn now (`announce_waits`; never
        on PostgreSQL, where writers do not queue for one lock)."""
        return self._write_turn is not None and self._write_turn.others_waiting()

    def write_turn(self) -> contextlib.AbstractContextManager[None]:
        """The file's write turn (`store.write_turn`) without a transaction: what units of
        work wait for (a no-op on PostgreSQL and in memory)."""
        return self._write_turn() if self._write_turn is not None else contextlib.nullcontext()

    def leave_checkpoints_to_engine(self) -> None:
        """This process's commits no longer copy SQLite's WAL into the database file at 1,000
        pages (`store.wal_checkpoints`: the engine's checkpointer does, outside the write
        turn), only past `BACKSTOP_CHECKPOINT_PAGES`. For the processes of `mailengine run`."""
        if self.dialect == "sqlite" and self._checkpoint_pages != BACKSTOP_CHECKPOINT_PAGES:
            self._checkpoint_pages = BACKSTOP_CHECKPOINT_PAGES
            self.engine.dispose()  # pooled connections were opened with the default

    def _sqlite_pragmas(self, dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling starts transactions late and lets a SAVEPOINT
        # commit for good; SQLAlchemy's recipe: let SQLAlchemy emit BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 64 MiB of page cache: indexes on random keys (addresses) stay in memory during imports.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(self._checkpoint_pages)}")
        cursor.close()

    @contextmanager
    def bulk_transaction(self) -> Iterator[Session]:
        """`transaction` for a statement that changes many rows at once (a chunk of a
        broadcast): on SQLite its statement journal goes to a temporary file.

        Inside a transaction SQLite journals the first change of every page that existed
        before a statement, for as long as it runs, to undo that statement alone. Rows whose
        keys fall all over an index (Message-IDs) change up to a page (4 KB) each: with the
        connection's `temp_store=MEMORY` (kept for sorts) 40 MB per 72,000 rows on a nearly
        empty outbox, more on a big one. A file stays in the operating system's cache,
        outside the process's memory, at no cost in time. The setting can change only
        between transactions, so it is set before BEGIN and put back after the end.
        """
        if self.dialect != "sqlite":
            with self.transaction() as session:
                yield session
            return
        with self.write_turn(), self._writing.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA temp_store = FILE")
            try:
                with Session(connection, expire_on_commit=False) as session, _committed(session):
                    yield session
            finally:
                raw.execute("PRAGMA temp_store = MEMORY")

    def upgrade(self, revision: str = "head") -> None:
        """Apply every migration that has not run yet (`mailengine db upgrade`), or those up to
        `revision`."""
        try:
            with self.engine.begin() as connection:
                config = _alembic_config(self.url)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
        except OperationalError as error:
            raise StoreError(f"cannot reach the database {self.safe_url}: {error.orig}") from error

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def check_schema(self) -> None:
        """Refuse to work on a database whose schema is not the one this version expects."""
        head = ScriptDirectory.from_config(_alembic_config(self.url)).get_current_head()
        try:
            current = self.current_revision()
        except OperationalError as error:
            raise StoreError(f"cannot reach the database {self.safe_url}: {error.orig}") from error
        if current != head:
            raise StoreError(
                f"the database {self.safe_url} is at schema {current or 'empty'}, "
                f"this mailengine needs {head}: run `mailengine db upgrade`"
            )

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


def upsert_insert(session: Session) -> Any:
    """The INSERT of the session's dialect, which knows ON CONFLICT (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@contextmanager
def _committed(session: Session) -> Iterator[None]:
    """Commit the session's work at the end of the block, or roll it back on error."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _note_idle(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_after_idle(engine: Engine) -> Callable[[Any, Any, Any], None]:
    """A checkout listener: a connection idle for `IDLE_PING_SECONDS` or longer is pinged; one
    that does not answer is replaced (the pool takes a `DisconnectionError` from a checkout
    listener as the sign to connect again)."""

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"a pooled connection did not answer: {error}") from error

    return checkout


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


def include_object(
    item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any
) -> bool:
    """For schema comparisons: leave out tables mailengine does not own."""
    table = item.table.name if kind in ("index", "column") else name
    return table not in FOREIGN_TABLES


def _alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
