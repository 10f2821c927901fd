"""Importing CSV and JSON Lines: good rows land, bad rows are reported by line, nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col

from mailengine.errors import ImportFileError
from mailengine.importing.importer import ImportOptions, import_file
from mailengine.store.customers import get_customer
from mailengine.store.database import Database
from mailengine.store.models import Order
from tests.conftest import NOW

OPTIONS = ImportOptions(zone=ZoneInfo("Europe/Berlin"), currency="EUR", now=NOW, batch_size=3)


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


CUSTOMERS_CSV = """\
email,first_name,last_name,locale,timezone,birthday,zip,city,country,consent,consent_source,consent_at,attributes.shoe_size
Anna.Weber@Example.com,Anna,Weber,de_DE,Europe/Berlin,1990-04-23,10115,Berlin,de,granted,checkout,2025-01-02T10:00:00+01:00,38
not-an-address,Bad,Row,,,,,,,,,,
ben@example.com,Ben,"O'Brien, Jr.",en_GB,Europe/London,31/12/1980,,London,GB,,,,44
cleo@example.com,Cleo,"Multi
Line",fr_FR,Europe/Paris,,75001,Paris,FR,withdrawn,unsubscribe-link,,37
dan@example.com,Dan,,xx_YY,,,,,,,,,
eve@example.com,Eve,,,Mars/Olympus,,,,,,,,
anna.weber@example.com,,,,,,,,,,,,39
"""


def test_customers_csv_good_rows_land_bad_rows_reported(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path / "customers.csv", CUSTOMERS_CSV)
    report = import_file(database, path, "customers", OPTIONS)
    assert (report.inserted, report.updated) == (1, 1)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (3, "email: 'not-an-address' is not a valid e-mail address"),
        (4, "birthday: '31/12/1980' is not a date like 1990-04-23"),
        # a line break in a name would reach mail headers: every mail to her would fail
        (5, "last_name: a line break, where one line of text is expected"),
        (7, "locale: 'xx_YY' is not a known locale like de_DE"),
        (8, "timezone: 'Mars/Olympus' is not a time zone like Europe/Berlin"),
    ]
    with database.session() as session:
        anna = get_customer(session, "anna.weber@example.com")
        cleo = get_customer(session, "cleo@example.com")
    assert anna is not None and cleo is None
    assert (anna.first_name, anna.country, anna.consent_status) == ("Anna", "DE", "granted")
    assert anna.attributes == {"shoe_size": "39"}  # the later row for the same address wins


def test_customers_jsonl_with_nested_attributes(database: Database, tmp_path: Path) -> None:
    lines = [
        {"email": "fay@example.com", "first_name": "Fay", "attributes": {"waist": 32}},
        "this is not json",
        ["a", "list"],
        {"email": "gil@example.com", "favourite": "x"},
        {"email": "hana@example.com", "consent": "granted", "consent_wording": "Yes please"},
    ]
    content = "\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + "\n\n"
    path = _write(tmp_path / "customers.jsonl", content)
    report = import_file(database, path, "customers", OPTIONS)
    assert report.inserted == 2
    assert [(r.line, r.reason.split(":")[0]) for r in report.rejected] == [
        (2, "not valid JSON"),
        (3, "each line must be a JSON object"),
        (4, "unknown field(s)"),
    ]
    with database.session() as session:
        fay = get_customer(session, "fay@example.com")
    assert fay is not None and fay.attributes == {"waist": 32}


def test_orders_csv_upserts_by_external_id_and_keeps_figures(
    database: Database, tmp_path: Path
) -> None:
    items = json.dumps([{"sku": "JN-500", "name": "Jeans", "quantity": 1, "size": "32"}])
    quoted = items.replace('"', '""')
    content = (
        "external_id,email,channel,amount,currency,base_amount,status,placed_at,items\n"
        f'W1,ann@example.com,online,99.90,EUR,,paid,2026-11-01 10:00,"{quoted}"\n'
        "W2,ann@example.com,store,19.99,EUR,,delivered,2026-10-01T09:00:00Z,\n"
        "W3,ann@example.com,online,12.345,EUR,,paid,2026-11-01,\n"
        "W4,ann@example.com,online,50.00,USD,,paid,2026-11-01,\n"
        "W5,ann@example.com,online,50.00,USD,46.10,paid,2026-11-02,\n"
        "W6,ann@example.com,drone,5.00,EUR,,paid,2026-11-02,\n"
        "W7,ann@example.com,online,-5,EUR,,paid,2026-11-02,\n"
        "W1,ann@example.com,online,99.90,EUR,,cancelled,2026-11-01 10:00,\n"
        ",ann@example.com,online,1.00,EUR,,paid,2026-11-02,\n"
    )
    path = _write(tmp_path / "orders.csv", content)
    report = import_file(database, path, "orders", OPTIONS)
    assert (report.inserted, report.updated) == (3, 1)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (4, "amount: '12.345' has more than 2 decimals for EUR"),
        (
            5,
            "base_amount: the order is in USD but the shop counts in EUR; "
            "give base_amount, the amount in EUR",
        ),
        (7, "channel: 'drone' is not one of online, store"),
        (8, "amount: '-5' must be zero or more"),
        (10, "external_id: missing"),
    ]
    with database.session() as session:
        ann = get_customer(session, "ann@example.com")
        w1 = session.execute(select(Order).where(col(Order.external_id) == "W1")).scalar_one()
    assert ann is not None
    assert w1.status == "cancelled"
    assert w1.placed_at.isoformat() == "2026-11-01T09:00:00+00:00"  # naive: shop time zone
    assert ann.orders_count == 2  # W2 and W5; W1 was cancelled
    assert ann.total_spent_minor == 1999 + 4610


def test_unknown_column_fails_the_file_with_a_hint(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path / "c.csv", "email,frist_name\nx@example.com,X\n")
    with pytest.raises(
        ImportFileError,
        match=r"c\.csv:1: unknown column 'frist_name' \(did you mean 'first_name'\?\)",
    ):
        import_file(database, path, "customers", OPTIONS)


def test_undecodable_bytes_and_a_bom_are_handled(database: Database, tmp_path: Path) -> None:
    content = (
        "\ufeffemail,first_name\n".encode()
        + b"ok@example.com,J\xc3\xbcrgen\nbad@example.com,J\xfcrgen\n"
    )
    path = _write(tmp_path / "c.csv", content)
    report = import_file(database, path, "customers", OPTIONS)
    assert report.inserted == 1
    assert [(r.line, r.reason) for r in report.rejected] == [
        (3, "first_name: not valid UTF-8 text")
    ]
    with database.session() as session:
        customer = get_customer(session, "ok@example.com")
    assert customer is not None and customer.first_name == "Jürgen"


def test_a_row_the_database_refuses_does_not_stop_its_batch(
    sqlite_database: Database, tmp_path: Path
) -> None:
    with sqlite_database.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER refuse_mallory BEFORE INSERT ON customer "
                "WHEN NEW.email = 'mallory@example.com' "
                "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
            )
        )
    rows = "\n".join(f"{name}@example.com" for name in ("a", "b", "mallory", "c", "d"))
    path = _write(tmp_path / "c.csv", "email\n" + rows + "\n")
    report = import_file(sqlite_database, path, "customers", OPTIONS)
    assert report.inserted == 4
    assert [(r.line, r.reason) for r in report.rejected] == [
        (4, "the database refused the row: refused by a trigger")
    ]


def test_missing_file_and_unknown_format(database: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        import_file(database, tmp_path / "nope.csv", "customers", OPTIONS)
    with pytest.raises(ImportFileError, match="cannot tell the format"):
        import_file(database, _write(tmp_path / "c.xlsx", "x"), "customers", OPTIONS)


def test_many_rows_over_many_batches(database: Database, tmp_path: Path) -> None:
    rows = "".join(f"W{n},c{n % 7}@example.com,10.00,2026-11-0{1 + n % 9}\n" for n in range(50))
    path = _write(tmp_path / "o.csv", "external_id,email,amount,placed_at\n" + rows)
    report = import_file(database, path, "orders", OPTIONS)
    assert (report.inserted, report.updated, report.rejected) == (50, 0, [])
    with database.session() as session:
        assert session.execute(select(func.count()).select_from(Order)).scalar_one() == 50
        c0 = get_customer(session, "c0@example.com")
    assert c0 is not None
    assert c0.orders_count == 8 and c0.total_spent_minor == 8000
