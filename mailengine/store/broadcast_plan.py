"""Planning a broadcast into the outbox inside the database: one INSERT ... SELECT per chunk.

The audience is never loaded into Python. Each statement selects one range of customer ids
through the audience's SQL, puts every customer in their variant by the keyed bucket of their
id (`broadcasts.model.bucket_of`, computed here in SQL), computes the keyed Message-ID of
their idempotency key (`message_ids.keyed_message_id`: in PostgreSQL from its built-in
`sha256`, in SQLite by a function registered on the connection) and inserts the rows with ON
CONFLICT (idempotency_key) DO NOTHING: planning a chunk twice, after a crash or by a second
engine, adds nothing. The conflict is looked for in that index alone (the Message-ID follows
from the key): PostgreSQL then probes one unique index per row before inserting, not all three,
about a tenth of the statement's time.

Who is in: the audience rules with consent, no suppression and not forgotten (as for any
marketing mail), minus those who turned the broadcast's topic off on their preferences page.
Those over the contact-pressure cap get a row in state `suppressed` that says so, so that the
report counts them and a later chunk never plans them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

from mailengine.broadcasts.model import SPLIT_BUCKETS, SPLIT_PRIME
from mailengine.message_ids import hmac_pads, keyed_message_ids
from mailengine.store.audience_sql import compile_condition, eligible
from mailengine.store.customers import customer_table
from mailengine.store.outbox import outbox_table
from mailengine.store.types import UTCDateTime, json_type
from mailengine.store.web_models import MailPreference
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import Condition

preference_table = MailPreference.__table__  # type: ignore[attr-defined]
_MESSAGE_ID_FUNCTION = "mailengine_message_id"
_c = customer_table.c
_o = outbox_table.c


@dataclass(frozen=True)
class PlanCell:
    """The mail of one variant, for the customers whose bucket is in [low, high)."""

    step: str
    low: int
    high: int
    template: str
    subject: str
    preheader: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class ContactCap:
    """Skip (and record as skipped) who was planned `most` marketing mails since `since`."""

    most: int
    since: datetime
    reason: str


@dataclass(frozen=True)
class DueTimes:
    """When a chunk's mail is due: `default`, or per stored time-zone value where it differs
    (a local send hour, or the end of quiet hours in that zone)."""

    default: datetime
    by_timezone: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class BroadcastPlan:
    """Everything one planning statement needs, apart from the chunk's id range."""

    workflow_key: str  # the outbox's `workflow`: broadcast:NAME
    version: str
    audience: Condition | None
    context: AudienceContext
    topic: str
    cells: Sequence[PlanCell]
    coefficients: tuple[int, int]
    secret: bytes
    domain: str
    cap: ContactCap | None = None

    @property
    def key_prefix(self) -> str:
        return f"{self.workflow_key}:"

    def bucket_range(self) -> tuple[int, int]:
        return min(cell.low for cell in self.cells), max(cell.high for cell in self.cells)


def customer_ids_max(session: Session) -> int:
    """The highest customer id now: planning stops there (the audience is frozen)."""
    return int(session.execute(select(func.coalesce(func.max(_c.id), 0))).scalar_one())


def stored_timezones(session: Session) -> list[str]:
    """Every time-zone value customers have (a few hundred at most)."""
    rows = session.execute(select(_c.timezone).where(_c.timezone.is_not(None)).distinct())
    return sorted(str(value) for value in rows.scalars())


def chunk_end(session: Session, plan: BroadcastPlan, after_id: int, count: int) -> int | None:
    """The id of the `count`th customer of the audience after `after_id` (fewer: the last);
    None when there is nobody left. Throttled broadcasts plan one minute's worth at a time."""
    ids = select(_c.id).where(_who(plan), _c.id > after_id).order_by(_c.id).limit(count).subquery()
    found = session.execute(select(func.max(ids.c.id))).scalar_one_or_none()
    return int(found) if found is not None else None


def plan_chunk(
    session: Session,
    plan: BroadcastPlan,
    after_id: int,
    upto_id: int,
    due: DueTimes,
    now: datetime,
) -> int:
    """Insert the rows of customers with after_id < id <= upto_id; returns how many are new.
    Run it in a `Database.bulk_transaction`: its statement changes pages all over an index."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        _register_sqlite_message_id(connection, plan.secret, plan.domain)
    key = literal(plan.key_prefix, String).concat(cast(_c.id, String))
    bucket = _bucket(plan.coefficients)
    pressed = _pressed(plan.cap, after_id, upto_id) if plan.cap is not None else None
    reason = plan.cap.reason if plan.cap is not None else None
    stamp = literal(now, UTCDateTime())
    chosen = select(
        key,
        literal("marketing", String),
        literal(plan.workflow_key, String),
        literal(plan.version, String),
        _by_cell(plan.cells, bucket, lambda cell: literal(cell.step, String)),
        _c.id,
        _c.email,
        _by_cell(plan.cells, bucket, lambda cell: literal(cell.template, String)),
        _by_cell(plan.cells, bucket, lambda cell: literal(cell.subject, String)),
        _by_cell(plan.cells, bucket, lambda cell: literal(cell.preheader, String)),
        _by_cell(plan.cells, bucket, lambda cell: literal(cell.payload, json_type())),
        _message_id(dialect, key, plan.secret, plan.domain),
        _if_pressed(pressed, "suppressed", "queued"),
        _if_pressed(pressed, reason, None),
        literal(0, Integer),
        _due(due),
        stamp,
        stamp,
    ).where(_who(plan), _c.id > after_id, _c.id <= upto_id)
    columns = [
        "idempotency_key", "kind", "workflow", "workflow_version", "step", "customer_id",
        "recipient", "template", "subject", "preheader", "payload", "message_id", "state",
        "last_reply", "attempts", "next_attempt_at", "created_at", "updated_at",
    ]  # fmt: skip
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(outbox_table)
        .from_select(columns, chosen)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    result = connection.execute(statement.execution_options(preserve_rowcount=True))
    return int(result.rowcount)


def _who(plan: BroadcastPlan) -> ColumnElement[bool]:
    """The audience with eligibility for marketing, in this plan's buckets, topic not off."""
    low, high = plan.bucket_range()
    rules: list[ColumnElement[bool]] = [eligible(transactional=False)]
    if plan.audience is not None:
        rules.append(compile_condition(plan.audience, plan.context))
    if (low, high) != (0, SPLIT_BUCKETS):
        bucket = _bucket(plan.coefficients)
        rules += [bucket >= low, bucket < high]
    p = preference_table.c
    turned_off = exists().where(
        p.customer_id == _c.id, p.topic == plan.topic, p.subscribed.is_(False)
    )
    rules.append(not_(turned_off))
    return and_(*rules)


def _bucket(coefficients: tuple[int, int]) -> ColumnElement[Any]:
    multiplier, offset = coefficients
    mixed = cast(_c.id, BigInteger) * literal(multiplier, BigInteger) + literal(offset, BigInteger)
    return (mixed % literal(SPLIT_PRIME, BigInteger)) % literal(SPLIT_BUCKETS, BigInteger)


def _by_cell(
    cells: Sequence[PlanCell], bucket: ColumnElement[Any], value: Any
) -> ColumnElement[Any]:
    """One cell's value for everyone, or a CASE over the buckets of several."""
    if len(cells) == 1:
        return value(cells[0])  # type: ignore[no-any-return]
    whens = [(bucket < cell.high, value(cell)) for cell in cells[:-1]]
    return case(*whens, else_=value(cells[-1]))


def _pressed(cap: ContactCap, after_id: int, upto_id: int) -> ColumnElement[bool]:
    """Whether the customer already got `most` marketing mails planned since `since`.

    The chunk's capped customers are found once, by one range scan of the outbox's customer
    index, and probed as a set: a subquery per customer was planned as a scan of the outbox
    for each customer while the table's statistics still called it small.
    """
    capped = (
        select(_o.customer_id)
        .where(
            _o.customer_id > after_id,
            _o.customer_id <= upto_id,
            _o.kind == "marketing",
            _o.created_at >= cap.since,
            _o.state.not_in(("suppressed", "failed")),
        )
        .group_by(_o.customer_id)
        .having(func.count() >= cap.most)
    )
    in_capped: ColumnElement[bool] = _c.id.in_(capped)
    return in_capped


def _if_pressed(
    pressed: ColumnElement[bool] | None, then: str | None, otherwise: str | None
) -> ColumnElement[Any]:
    if pressed is None:
        return literal(otherwise, String)
    return case((pressed, then), else_=otherwise)


def _due(due: DueTimes) -> ColumnElement[Any]:
    default = literal(due.default, UTCDateTime())
    differing = {zone: at for zone, at in due.by_timezone.items() if at != due.default}
    if not differing:
        return default
    whens = [
        (_c.timezone == bindparam(None, zone, String), literal(at, UTCDateTime()))
        for zone, at in sorted(differing.items())
    ]
    return case(*whens, else_=default)


def _message_id(
    dialect: str, key: ColumnElement[str], secret: bytes, domain: str
) -> ColumnElement[str]:
    """`keyed_message_id(secret, domain, key)`, computed by the database."""
    if dialect != "postgresql":
        return getattr(func, _MESSAGE_ID_FUNCTION)(key)  # type: ignore[no-any-return]
    inner_key, outer_key = hmac_pads(secret)
    inner = func.sha256(
        literal(inner_key + b"message-id\x00", postgresql.BYTEA).op("||")(
            func.convert_to(key, "UTF8")
        )
    )
    outer = func.sha256(literal(outer_key, postgresql.BYTEA).op("||")(inner))
    digest = func.substr(func.encode(outer, "hex"), 1, 32)
    return literal("<me.", String).concat(digest).concat(literal(f"@{domain}>", String))


def _register_sqlite_message_id(connection: Connection, secret: bytes, domain: str) -> None:
    raw = connection.connection.driver_connection
    assert raw is not None
    message_id = keyed_message_ids(secret, domain)
    raw.create_function(_MESSAGE_ID_FUNCTION, 1, message_id, deterministic=True)
