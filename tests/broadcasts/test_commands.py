"""`mailengine validate` with broadcasts, `broadcast list` and `broadcast show`, run through
the command's entry point on a shop folder with a frozen clock (23 November 2026)."""

from __future__ import annotations

import json
import shutil

from sqlalchemy import and_, func, select

from mailengine.store.customers import customer_table
from mailengine.store.models import Suppression
from tests.cli.conftest import Shop
from tests.workflows.conftest import SHIPPED_OK


def test_validate_checks_the_example_broadcasts_too(shop: Shop) -> None:
    done = shop.run("validate")
    assert done.code == 0, done.out
    lines = done.out.splitlines()
    assert lines[:2] == [
        SHIPPED_OK,
        "2 broadcast(s) OK: december-newsletter, winter-sale",
    ]
    assert lines[2].startswith("rendered 14 send step(s) ")
    assert lines[3].startswith("rendered 3 broadcast variant(s) 48 times: ")


def test_validate_without_a_broadcasts_folder_checks_workflows_only(shop: Shop) -> None:
    shutil.rmtree(shop.folder / "broadcasts")
    done = shop.run("validate", "--no-render")
    assert (done.code, done.out.splitlines()) == (
        0,
        [SHIPPED_OK],
    )


def test_validate_names_a_broadcast_problem_and_one_its_mail_has_when_rendered(
    shop: Shop,
) -> None:
    sale = shop.folder / "broadcasts" / "winter-sale.yaml"
    sale.write_text(
        sale.read_text(encoding="utf-8").replace("metric: clicks", "metric: click"),
        encoding="utf-8",
    )
    letter = shop.folder / "broadcasts" / "december-newsletter.yaml"
    letter.write_text(
        letter.read_text(encoding="utf-8").replace("      price: 179.00\n", ""),
        encoding="utf-8",
    )
    done = shop.run("validate")
    assert done.code == 1
    lines = done.out.splitlines()
    assert lines[0] == (
        "broadcasts/winter-sale.yaml:17:12: unknown metric 'click' (did you mean 'clicks'?); "
        "use opens, clicks, conversions, revenue"
    )
    assert lines[1] == (
        "broadcasts/december-newsletter.yaml:3:1: the mail (newsletter/newsletter) fails for 8 "
        "of 8 customers tried (tried no more); first:"
    )
    assert lines[2].startswith("  sample customer 1: templates/newsletter/newsletter.mjml:")
    assert "price" in lines[2]
    assert lines[-1] == "2 problem(s) in 2 file(s); 8 workflow(s) loaded, 1 broadcast(s) loaded"
    # a broadcast file named alone is checked alone
    alone = shop.run("validate", str(sale))
    assert alone.code == 1
    assert alone.out.splitlines()[-1] == "1 problem(s) in 1 file(s); 0 broadcast(s) loaded"


def test_list_names_every_broadcast_and_says_what_is_wrong(shop: Shop) -> None:
    done = shop.run("broadcast", "list", "--format", "json")
    assert done.code == 0, done.err
    listed = json.loads(done.out)["broadcasts"]
    assert listed == [
        {
            "name": "december-newsletter",
            "file": "broadcasts/december-newsletter.yaml",
            "when": "2026-12-17 10:00 in each customer's zone",
            "audience": "everyone with consent",
            "variants": None,
            "state": "not scheduled",
        },
        {
            "name": "winter-sale",
            "file": "broadcasts/winter-sale.yaml",
            "when": "2027-01-14 09:00 Europe/Berlin",
            "audience": "orders_count >= 1",
            "variants": "A 10 %, B 10 %; winner by clicks after 4 hours",
            "state": "not scheduled",
        },
    ]
    (shop.folder / "broadcasts" / "broken.yaml").write_text("name: broken\n", encoding="utf-8")
    done = shop.run("broadcast", "list")
    assert done.code == 1
    assert "winter-sale" in done.out and "december-newsletter" in done.out
    assert done.err.splitlines()[0] == (
        "broadcasts/broken.yaml:1:1: missing 'template': every broadcast needs name, template, "
        "subject, send_at"
    )


def test_show_resolves_time_audience_variants_winner_and_pace(shop: Shop) -> None:
    assert shop.run("demo-data", "--customers", "120", "--seed", "3").code == 0
    with shop.database() as database, database.session() as session:
        c = customer_table.c
        suppressed = select(Suppression.__table__.c.address_hash)  # type: ignore[attr-defined]
        buyers = session.execute(
            select(func.count()).where(
                and_(
                    c.consent_status == "granted",
                    c.forgotten_at.is_(None),
                    c.orders_count >= 1,
                    c.email_hash.not_in(suppressed),
                )
            )
        ).scalar_one()
    assert buyers > 20
    done = shop.run("broadcast", "show", "winter-sale", "--format", "json")
    assert done.code == 0, done.err
    shown = json.loads(done.out)
    facts = shown["broadcast"]
    assert facts["send_at"] == "2027-01-14 09:00 Europe/Berlin (CET, UTC+0100)"
    assert facts["send_at_utc"] == "2027-01-14 08:00 UTC"
    assert facts["send_in"] == "in 51 days 23 h"
    assert facts["audience_now"] == buyers
    assert facts["state"] == "not scheduled"
    assert facts["winner"] == (
        "the variant with the most clicks, 4 hours after the test goes, is sent to the other 80 %"
    )
    assert facts["winner_at"] == "2027-01-14 13:00 Europe/Berlin (12:00 UTC)"
    assert facts["throttle"] == "20,000 messages an hour"
    test_part = round(buyers * 0.2)
    assert facts["test_takes"] == f"under a minute for {test_part} customers"
    assert facts["coupon"] == "20 % off, valid 7 days from the send"
    variants = shown["variants"]
    assert [(v["variant"], v["share"], v["customers"]) for v in variants] == [
        ("A", "10 %", round(buyers * 0.1)),
        ("B", "10 %", round(buyers * 0.1)),
        ("rest", "80 %", round(buyers * 0.8)),
    ]
    assert variants[1]["subject"] == "Only this week: 20 % off, just for you"


def test_show_explains_a_send_in_each_customers_zone(shop: Shop) -> None:
    done = shop.run("broadcast", "show", "december-newsletter", "--format", "json")
    assert done.code == 0, done.err
    facts = json.loads(done.out)["broadcast"]
    assert facts["send_at"] == "10:00 in each customer's own zone"
    assert facts["send_on"] == "2026-12-17 (their date)"
    assert facts["first_send"] == "2026-12-16 20:00 UTC"
    assert facts["last_send"] == "2026-12-17 22:00 UTC"
    assert facts["without_zone"] == "10:00 Europe/Berlin = 2026-12-17 09:00 UTC"
    assert facts["audience_now"] == 0
    assert facts["ab_test"] is None
    table = shop.run("broadcast", "show", "december-newsletter")
    assert "a broadcast sends only after `mailengine broadcast schedule NAME`" in table.out


def test_show_of_an_unknown_or_broken_broadcast_says_why(shop: Shop) -> None:
    done = shop.run("broadcast", "show", "summer-sale")
    assert done.code == 1
    assert done.err.strip() == (
        "error: no broadcast named 'summer-sale' in "
        f"{shop.folder / 'broadcasts'} (known: december-newsletter, winter-sale)"
    )
    sale = shop.folder / "broadcasts" / "winter-sale.yaml"
    sale.write_text(
        sale.read_text(encoding="utf-8").replace("per_hour: 20000", "per_hour: 10"),
        encoding="utf-8",
    )
    done = shop.run("broadcast", "show", "winter-sale")
    assert done.code == 1
    assert done.err.strip() == (
        "error: broadcasts/winter-sale.yaml:12:12: per_hour is a whole number of messages an "
        "hour, at least 60: 10"
    )
