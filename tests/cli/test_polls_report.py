"""`mailengine polls report NAME`: NPS per month and per product category of the order each
mail asked about, from answers stored by the poll pages' store functions."""

from __future__ import annotations

import json
from datetime import timedelta

from mailengine.store.customers import upsert_customers
from mailengine.store.orders import upsert_orders
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.polls import GivenAnswer, record_poll_answer
from mailengine.store.records import CustomerUpsert, OrderUpsert, PlannedSend
from tests.cli.conftest import Shop
from tests.conftest import NOW

SHIRT = {"sku": "TS-1", "name": "Shirt", "quantity": 1, "category": "shirts"}
SHOES = {"sku": "SN-1", "name": "Shoes", "quantity": 1, "category": "shoes"}
# (days before now, score, items of the order asked about or None for no mail)
ANSWERS = [
    (70, 10, [SHIRT]),  # September
    (70, 3, [SHIRT, SHOES]),
    (40, 9, [SHOES]),  # October
    (40, 8, [SHOES]),
    (10, 6, None),  # November, about no order
]


def _store(shop: Shop) -> None:
    with shop.database() as database, database.transaction() as session:
        for number, (days, score, items) in enumerate(ANSWERS):
            email = f"c{number}@example.com"
            when = NOW - timedelta(days=days)
            ids = upsert_customers(session, [CustomerUpsert(email=email)], when).customer_ids
            outbox_id = None
            if items is not None:
                order = OrderUpsert(
                    f"W{number}", email, "online", 100, "EUR", 100, when, items=items
                )
                upsert_orders(session, [order], when)
                send = PlannedSend(
                    f"k{number}", "thank-you", "5", ids[email], email, "thank-you/how-likely",
                    "Q", f"<m{number}@x>", kind="transactional",
                    payload={"trigger": {"external_id": f"W{number}"}},
                )  # fmt: skip
                plan_sends(session, [send], when)
                outbox_id = session.execute(
                    outbox_table.select()
                    .with_only_columns(outbox_table.c.id)
                    .where(outbox_table.c.idempotency_key == f"k{number}")
                ).scalar_one()
            given = GivenAnswer(str(score), score)
            record_poll_answer(
                session, ids[email], "delivery_nps", given, when, outbox_id=outbox_id
            )


def test_the_report_gives_nps_per_month_and_per_category(shop: Shop) -> None:
    _store(shop)
    done = shop.run("polls", "report", "delivery_nps", "--days", "90", "--format", "json")
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert report["total"] == {"answers": 5, "nps": 0}  # 2 promoters, 2 detractors of 5
    months = {row["label"]: (row["answers"], row["nps"]) for row in report["periods"]}
    assert months == {
        "2026-08": (0, None),
        "2026-09": (2, 0),
        "2026-10": (2, 50),
        "2026-11": (1, -100),
    }
    categories = {row["label"]: (row["answers"], row["nps"]) for row in report["categories"]}
    assert categories == {"shoes": (3, 0), "shirts": (2, 0), "no order": (1, -100)}

    table = shop.run("polls", "report", "delivery_nps", "--days", "90", "--by", "week")
    assert table.code == 0 and "2026-W48" in table.out and "By product category" in table.out


def test_an_unknown_poll_is_named_with_the_known_ones(shop: Shop) -> None:
    done = shop.run("polls", "report", "delivery_nsp")
    assert done.code != 0
    assert "no poll named 'delivery_nsp'" in done.err and "delivery_nps" in done.err


def test_validate_names_a_wrong_poll_file_at_its_place(shop: Shop) -> None:
    (shop.folder / "polls" / "delivery_nps.yaml").write_text(
        "name: delivery_nps\nquestion: How likely?\nscale: {from: 0, to: 20}\n", encoding="utf-8"
    )
    done = shop.run("validate", "--no-render")
    assert done.code == 1
    assert "delivery_nps.yaml:3:1: a scale runs over 2 to 11 whole numbers" in done.out + done.err
