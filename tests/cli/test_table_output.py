"""Tables as people and programs read them: whole in a pipe, fitted on a terminal, CSV, JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from datetime import datetime, timedelta
from fcntl import ioctl

from mailengine.store.database import Database
from mailengine.store.orders import upsert_orders
from mailengine.store.records import OrderUpsert
from mailengine.store.tickets import open_ticket
from tests.cli.conftest import REPO, Shop
from tests.conftest import NOW
from tests.web.conftest import add_customers
from tests.web.test_report import add_send

LONG_WORKFLOW = "black-friday-early-access-for-our-most-loyal-customers"
DAY = timedelta(days=1)
LONG_SUBJECT = "My parcel went to the neighbours' old address " + "and nobody answers " * 5


def _shop_with_sends(shop: Shop) -> None:
    """Four customers mailed by a long-named workflow who each order 12.34 EUR a day later;
    two others mailed by win-back."""
    people = [(f"c{n}@example.com", "granted") for n in range(1, 7)]
    with shop.database() as database:
        ids = add_customers(database, people, NOW - 60 * DAY)
        for number, (email, _) in enumerate(people, start=1):
            if number <= 4:
                add_send(database, ids[email], LONG_WORKFLOW, "sent", step="early-access-coupon")
                add_order(database, email, f"W{number}", NOW - 9 * DAY, 12, cents=34)
            else:
                add_send(database, ids[email], "win-back", "sent")


def add_order(
    database: Database, email: str, number: str, at: datetime, euros: int, cents: int
) -> None:
    minor = euros * 100 + cents
    order = OrderUpsert(
        external_id=number,
        email=email,
        channel="online",
        amount_minor=minor,
        currency="EUR",
        base_amount_minor=minor,
        placed_at=at,
    )
    with database.transaction() as session:
        upsert_orders(session, [order], at)


def _subprocess_env() -> dict[str, str]:
    """The environment of a cron job: no COLUMNS telling a width."""
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


def _command(shop: Shop, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.cli.frozen_mailengine",
        NOW.isoformat(),
        "--config",
        str(shop.config),
        *args,
    ]


def test_report_through_a_pipe_is_printed_whole(shop: Shop) -> None:
    """`mailengine report | cat`: rich cut the table at 80 columns into "d… bo… o…"."""
    _shop_with_sends(shop)
    piped = subprocess.run(
        _command(shop, "report"),
        cwd=REPO,
        env=_subprocess_env(),
        capture_output=True,  # stdout is a pipe, as in `mailengine report | cat`
        text=True,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert "…" not in piped.stdout
    header = next(line for line in lines if "workflow / step" in line)
    for title in ("sent", "deliv.", "bounced", "opened", "clicked", "unsub.", "conv.", "revenue"):
        assert f" {title} " in f"{header} "
    assert "per recip." in header and "conv. mailed/held" in header and "lift" in header
    step = next(line for line in lines if "early-access-coupon" in line)
    assert f"{LONG_WORKFLOW} · early-access-coupon" in step  # one line, not wrapped
    assert "€49.36" in step  # 4 x 12.34 EUR ordered a day after 4 sends: all revenue shown
    assert max(len(line) for line in lines) > 80  # wider than the 80 columns it was cut to


def test_a_terminal_still_gets_a_table_that_fits_its_width() -> None:
    """On a terminal 60 columns wide the report is laid out to fit, as rich does."""
    main, secondary = pty.openpty()
    ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    script = (
        "from mailengine.cli.tables import Column, Rows, TablePrinter\n"
        "from zoneinfo import ZoneInfo\n"
        "columns = [Column(f'column{n}') for n in range(12)]\n"
        "row = {f'column{n}': 'x' * 12 for n in range(12)}\n"
        "TablePrinter('table', ZoneInfo('UTC')).print(Rows('t', columns, [row]))\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=_subprocess_env(),
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=subprocess.DEVNULL,
    ) as process:
        os.close(secondary)
        output = _read_until_closed(main, process)
        process.wait(timeout=60)
    text = output.decode()
    assert process.returncode == 0
    lines = [line for line in text.replace("\r", "").split("\n") if line.strip()]
    assert lines
    assert max(len(_printable(line)) for line in lines) <= 60


def _read_until_closed(terminal: int, process: subprocess.Popen[bytes]) -> bytes:
    """What the program wrote to its terminal, until it ended (bounded by a deadline)."""
    output = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([terminal], [], [], 1)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the terminal's other side closed: the program ended
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(terminal)
    return output


def _printable(line: str) -> str:
    """A terminal line without its colour and style escapes."""
    out, skipping = [], False
    for character in line:
        if character == "\x1b":
            skipping = True
        elif skipping and character.isalpha():
            skipping = False
        elif not skipping:
            out.append(character)
    return "".join(out)


def test_report_as_csv_and_json(shop: Shop) -> None:
    _shop_with_sends(shop)
    as_csv = shop.run("report", "--format", "csv")
    assert as_csv.code == 0, as_csv.err
    rows = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert list(rows[0])[:4] == ["workflow", "step", "sent", "delivered"]
    step = next(row for row in rows if row["step"] == "early-access-coupon")
    assert (step["workflow"], step["sent"], step["revenue"]) == (LONG_WORKFLOW, "4", "49.36")

    as_json = shop.run("report", "--format", "json", "--since", "2026-11-01")
    document = json.loads(as_json.out)
    assert document["since"] == "2026-11-01T00:00:00+01:00"  # the shop's midnight, its offset
    assert document["until"] == "2026-11-23T10:00:00+01:00"
    step = next(row for row in document["rows"] if row["step"] == "early-access-coupon")
    assert step["sent"] == 4 and step["revenue"] == 49.36 and step["conversion_rate"] == 1.0
    assert "label" not in step  # the table's own column stays in the table


def test_status_as_csv_and_json(shop: Shop) -> None:
    _shop_with_sends(shop)
    document = json.loads(shop.run("status", "--format", "json").out)
    assert document["customers"] == {"customers": 6, "consent_granted": 6}
    assert document["orders"]["orders"] == 4
    assert document["orders"]["revenue"] == 49.36 and document["orders"]["currency"] == "EUR"
    assert document["orders"]["last_order_at"] == "2026-11-14T10:00:00+01:00"

    as_csv = shop.run("status", "--format", "csv").out.splitlines()
    assert as_csv[0] == "section,figure,value"
    assert "customers,consent_granted,6" in as_csv
    assert "orders,revenue,49.36" in as_csv
    assert "orders,last_order_at,2026-11-14T10:00:00+01:00" in as_csv


def test_tickets_whole_in_a_pipe_and_as_csv_and_json(shop: Shop) -> None:
    with shop.database() as database, database.transaction() as session:
        open_ticket(session, None, "someone@elsewhere.example", LONG_SUBJECT, NOW)
    table = shop.run("tickets")
    assert table.code == 0, table.err
    line = next(line for line in table.out.splitlines() if "T-1" in line)
    assert LONG_SUBJECT.strip() in line and "2026-11-23 10:00" in line  # whole, shop's time

    document = json.loads(shop.run("tickets", "--format", "json").out)
    assert document["tickets"] == [
        {
            "reference": "T-1",
            "number": 1,
            "state": "open",
            "from": "someone@elsewhere.example",
            "address": "someone@elsewhere.example",
            "customer_id": None,
            "subject": LONG_SUBJECT,
            "opened_at": "2026-11-23T10:00:00+01:00",
            "last_message_at": "2026-11-23T10:00:00+01:00",
            "closed_at": None,
            "messages": 0,
            "acknowledged_at": None,
            "waiting": 0.0,  # seconds the customer has waited for a person (the clock is NOW)
            "first_answer": None,
        }
    ]
    rows = list(csv.DictReader(io.StringIO(shop.run("tickets", "--open", "--format", "csv").out)))
    assert [(row["reference"], row["subject"], row["acknowledged_at"]) for row in rows] == [
        ("T-1", LONG_SUBJECT, "")
    ]
    shown = json.loads(shop.run("ticket", "show", "T-1", "--format", "json").out)
    assert shown["ticket"]["subject"] == LONG_SUBJECT
    assert shown["orders"] == [] and shown["messages"] == []


def test_audience_sample_as_csv_and_json(shop: Shop) -> None:
    customers = shop.write(
        "customers.csv",
        "email,first_name,last_name,locale,timezone,consent\n"
        "ann@example.com,Ann,Lee,en_GB,Europe/London,granted\n"
        "bo@example.com,Bo,,de_DE,Europe/Berlin,granted\n",
    )
    assert shop.run("import", "customers", str(customers)).code == 0
    document = json.loads(shop.run("audience", "welcome", "--format", "json").out)
    assert document["workflow"] == "welcome" and isinstance(document["customers"], int)
    assert document["sql"] is None
    assert {row["email"] for row in document["sample"]} <= {"ann@example.com", "bo@example.com"}
    assert len(document["sample"]) == document["customers"]

    as_csv = shop.run("audience", "thank-you", "--format", "csv", "--limit", "5")
    assert as_csv.code == 0, as_csv.err
    lines = as_csv.out.splitlines()
    assert lines[0] == "id,email,name,locale,timezone"
    assert sorted(lines[1:]) == [
        "1,ann@example.com,Ann Lee,en_GB,Europe/London",
        "2,bo@example.com,Bo,de_DE,Europe/Berlin",
    ]
