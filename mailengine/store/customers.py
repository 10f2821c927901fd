"""Customer queries: bulk upsert by e-mail address, consent history, lookups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlmodel import Session, col
from sqlmodel import select as select_models

from mailengine.addresses import address_hash
from mailengine.store.models import ConsentRecord, Customer
from mailengine.store.records import ConsentStatement, CustomerUpsert, UpsertOutcome
from mailengine.store.sql_values import one_of
from mailengine.store.sqlite_lookups import rows_of_keys, sqlite_driver

customer_table = Customer.__table__  # type: ignore[attr-defined]
consent_table = ConsentRecord.__table__  # type: ignore[attr-defined]

# Columns an upsert may set; the rest (figures, hashes, timestamps) belong to the store.
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "birthday",
    "zip",
    "city",
    "country",
    "created_at",
)
_UPDATABLE = (*PROFILE_FIELDS, "birthday_md", "attributes", "consent_status", "consent_updated_at")


def upsert_customers(
    session: Session, records: Sequence[CustomerUpsert], now: datetime
) -> UpsertOutcome:
    """Insert or update customers by e-mail address in one round of set-based statements.

    Several records for one address fold into one row, applied in order; the first decides
    whether it counts as inserted, the others count as updates.
    """
    outcome = UpsertOutcome()
    if not records:
        return outcome
    merged, consents = _merged_rows(session, records, now, outcome)
    _insert_new(session, [row for row in merged.values() if row["_new"]], merged)
    _update_old(session, [row for row in merged.values() if not row["_new"]])
    _insert_consents(session, consents, merged)
    outcome.customer_ids = {email: row["id"] for email, row in merged.items()}
    return outcome


def _merged_rows(
    session: Session, records: Sequence[CustomerUpsert], now: datetime, outcome: UpsertOutcome
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, ConsentStatement]]]:
    """One row per address (the stored one, or a new one) with every record applied in order,
    and the consent statements the records bring; counts inserts and updates."""
    emails = list(dict.fromkeys(record.email for record in records))
    existing = {row["email"]: row for row in _rows_by_email(session, emails)}
    merged: dict[str, dict[str, Any]] = {}
    consents: list[tuple[str, ConsentStatement]] = []
    for record in records:
        row = merged.get(record.email)
        if row is None:
            stored = existing.get(record.email)
            row = dict(stored) if stored else _new_row(record.email, now)
            row["_new"] = stored is None
            merged[record.email] = row
            if stored is None:
                outcome.inserted += 1
            else:
                outcome.updated += 1
        else:
            outcome.updated += 1
        _apply(row, record, now, consents)
    return merged, consents


def _insert_new(
    session: Session, new_rows: list[dict[str, Any]], merged: dict[str, dict[str, Any]]
) -> None:
    if not new_rows:
        return
    values = [{key: row[key] for key in _insert_columns()} for row in new_rows]
    result = session.execute(
        insert(customer_table).returning(customer_table.c.id, customer_table.c.email),
        values,
    )
    for customer_id, email in result:
        merged[email]["id"] = customer_id


def _update_old(session: Session, old_rows: list[dict[str, Any]]) -> None:
    if not old_rows:
        return
    columns = (*_UPDATABLE, "updated_at")
    statement = (
        update(customer_table)
        .where(customer_table.c.id == bindparam("b_id"))
        .values({key: bindparam(f"b_{key}") for key in columns})
    )
    session.connection().execute(
        statement,
        [{"b_id": row["id"], **{f"b_{k}": row[k] for k in columns}} for row in old_rows],
    )


def _insert_consents(
    session: Session,
    consents: list[tuple[str, ConsentStatement]],
    merged: dict[str, dict[str, Any]],
) -> None:
    if not consents:
        return
    session.execute(
        insert(consent_table),
        [
            {
                "customer_id": merged[email]["id"],
                "purpose": statement.purpose,
                "status": statement.status,
                "source": statement.source,
                "recorded_at": statement.recorded_at,
                "ip": statement.ip,
                "wording": statement.wording,
            }
            for email, statement in consents
        ],
    )


def ensure_customers(session: Session, emails: Iterable[str], now: datetime) -> dict[str, int]:
    """Ids of these addresses, creating bare customers (no consent) for unknown ones."""
    wanted = list(dict.fromkeys(emails))
    found = customer_ids_by_email(session, wanted)
    missing = [email for email in wanted if email not in found]
    if missing:
        created = upsert_customers(session, [CustomerUpsert(email=e) for e in missing], now)
        found.update(created.customer_ids)
    return found


def customer_ids_by_email(session: Session, emails: Sequence[str]) -> dict[str, int]:
    driver = sqlite_driver(session)
    if driver is not None:  # inside the API's write turn: `store.sqlite_lookups`
        return {str(email): int(cid) for email, cid in rows_of_keys(driver, _IDS_SQLITE, emails)}
    found: dict[str, int] = {}
    for chunk in _chunks(emails, 2000):
        statement = select(customer_table.c.email, customer_table.c.id).where(
            one_of(customer_table.c.email, chunk, session.get_bind().dialect.name)
        )
        found.update({email: customer_id for email, customer_id in session.execute(statement)})
    return found


_IDS_SQLITE = "SELECT email, id FROM customer WHERE email IN (SELECT value FROM json_each(?))"


def count_customers(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(customer_table)).scalar_one())


def get_customer(session: Session, email: str) -> Customer | None:
    return session.exec(select_models(Customer).where(col(Customer.email) == email)).first()


def consent_history(session: Session, customer_id: int) -> list[ConsentRecord]:
    statement = (
        select_models(ConsentRecord)
        .where(col(ConsentRecord.customer_id) == customer_id)
        .order_by(col(ConsentRecord.recorded_at), col(ConsentRecord.id))
    )
    return list(session.exec(statement).all())


def _rows_by_email(session: Session, emails: Sequence[str]) -> list[dict[str, Any]]:
    columns = [customer_table.c.id, customer_table.c.email, *_column_list(_UPDATABLE)]
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(emails, 2000):
        statement = select(*columns).where(customer_table.c.email.in_(chunk))
        rows.extend(dict(row._mapping) for row in session.execute(statement))
    return rows


def _column_list(names: Iterable[str]) -> list[Any]:
    return [customer_table.c[name] for name in names]


def _new_row(email: str, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in _UPDATABLE}
    row.update(
        email=email,
        email_hash=address_hash(email),
        attributes={},
        consent_status="unknown",
        created_at=now,
        updated_at=now,
    )
    return row


def _insert_columns() -> tuple[str, ...]:
    return ("email", "email_hash", *_UPDATABLE, "updated_at")


def _apply(
    row: dict[str, Any],
    record: CustomerUpsert,
    now: datetime,
    consents: list[tuple[str, ConsentStatement]],
) -> None:
    for key, value in record.fields.items():
        if key not in PROFILE_FIELDS:
            raise ValueError(f"'{key}' is not a customer profile field")
        if value is not None:
            row[key] = value
    if row.get("birthday") is not None:
        row["birthday_md"] = row["birthday"].month * 100 + row["birthday"].day
    if record.attributes:
        row["attributes"] = {**(row.get("attributes") or {}), **record.attributes}
    statement = record.consent
    if statement is not None and (row["_new"] or statement.status != row["consent_status"]):
        consents.append((record.email, statement))
        row["consent_status"] = statement.status
        row["consent_updated_at"] = statement.recorded_at
    row["updated_at"] = now


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
