"""status, report and event say what is so: the shop's time, unknown workflows, real orders."""

from __future__ import annotations

import json

from sqlalchemy import select

from mailengine.store.events import event_table
from tests.cli.conftest import Shop
from tests.web.test_report import add_send

CUSTOMERS = """\
email,first_name,consent
ann@example.com,Ann,granted
bob@example.com,Bob,granted
"""
# Placed at 14:30:15.123456 UTC: 15:30:15 in Berlin (CET, +01:00).
ORDERS = """\
external_id,email,amount,placed_at
W1,ann@example.com,59.90,2026-11-20T14:30:15.123456+00:00
W2,bob@example.com,20.00,2026-11-01T08:00:00+00:00
"""


def _import(shop: Shop) -> None:
    for kind, text in (("customers", CUSTOMERS), ("orders", ORDERS)):
        done = shop.run("import", kind, str(shop.write(f"{kind}.csv", text)))
        assert done.code == 0, done.err


def test_status_shows_times_in_the_shops_zone_to_the_second(shop: Shop) -> None:
    _import(shop)
    shown = shop.run("status")
    assert shown.code == 0, shown.err
    last_order = next(line for line in shown.out.splitlines() if "last order" in line)
    assert "2026-11-20 15:30:15+01:00" in last_order
    assert ".123456" not in shown.out and "14:30" not in shown.out
    assert "2026-11-23 10:00:00+01:00" in shown.out  # the time of the status, in Berlin

    document = json.loads(shop.run("status", "--format", "json").out)
    assert document["orders"]["last_order_at"] == "2026-11-20T15:30:15+01:00"
    assert document["at"] == "2026-11-23T10:00:00+01:00"
    assert document["zone"] == "Europe/Berlin"


def test_report_of_an_unknown_workflow_is_an_error_naming_the_known_ones(shop: Shop) -> None:
    _import(shop)
    with shop.database() as database:
        add_send(database, 1, "spring-sale", "sent")  # a workflow whose file is gone
    refused = shop.run("report", "--workflow", "nosuch")
    assert refused.code == 1
    assert refused.out == ""
    assert refused.err == (
        "error: no workflow named 'nosuch'; known: birthday, churn-risk-win-back, nps-promoters, "
        "replenish, spring-sale, thank-you, vip, welcome, win-back\n"
    )
    typo = shop.run("report", "--workflow", "win-bak")
    assert typo.code == 1
    assert "no workflow named 'win-bak' (did you mean 'win-back'?)" in typo.err

    stored_only = shop.run("report", "--workflow", "spring-sale", "--format", "csv")
    assert stored_only.code == 0, stored_only.err
    assert [line.split(",")[:3] for line in stored_only.out.splitlines()[1:]] == [
        ["spring-sale", "1", "1"],
        ["spring-sale", "(all)", "1"],
    ]
    no_sends_yet = shop.run("report", "--workflow", "vip")
    assert (no_sends_yet.code, no_sends_yet.out) == (0, "No sends in this period.\n")


def test_order_placed_needs_a_stored_order_of_the_customer(shop: Shop) -> None:
    _import(shop)
    event = ("event", "order.placed", "--customer", "Ann@Example.com")

    bare = shop.run(*event)
    assert bare.code == 1
    assert "order.placed needs the order it announces" in bare.err
    assert "`mailengine import orders FILE` or POST /v1/orders" in bare.err
    assert """--data '{"external_id": "W1001"}'""" in bare.err

    unknown = shop.run(*event, "--data", '{"external_id": "W9"}')
    assert unknown.code == 1
    assert "ann@example.com has no order 'W9'" in unknown.err
    someone_elses = shop.run(*event, "--data", '{"external_id": "W2"}')
    assert someone_elses.code == 1
    assert "ann@example.com has no order 'W2'" in someone_elses.err
    with shop.database() as database, database.session() as session:
        assert session.execute(select(event_table.c.id)).all() == []

    announced = shop.run(*event, "--data", '{"external_id": "W1", "note": "from the till"}')
    assert announced.code == 0, announced.err
    assert announced.out == "event 1 recorded: order.placed\n"
    again = shop.run(*event, "--data", '{"order": "W1"}')
    assert again.out == "event 1 was recorded before: order.placed\n"  # one order, one event
    with shop.database() as database, database.session() as session:
        e = event_table.c
        rows = session.execute(select(e.data, e.occurred_at, e.idempotency_key)).all()
    assert len(rows) == 1
    data, occurred_at, key = rows[0]
    assert data == {
        "external_id": "W1",
        "note": "from the till",
        "channel": "online",
        "status": "placed",
        "amount_minor": 5990,
        "currency": "EUR",
        "base_amount_minor": 5990,
    }
    assert occurred_at.isoformat() == "2026-11-20T14:30:15.123456+00:00"
    assert key == "order.placed:W1"  # the key POST /v1/orders uses for the same order
