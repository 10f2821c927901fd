"""`mailengine broadcast test`: one message per variant and address, queued now and sent by
`mailengine run --once` into the capture server's Maildir (a real SMTP server on loopback)."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from sqlalchemy import select

from mailengine.store.outbox import outbox_table
from tests.cli.conftest import Shop


def captured(shop: Shop) -> list[EmailMessage]:
    inbox = shop.folder / "var" / "mail" / "new"
    found = []
    for path in sorted(inbox.iterdir()) if inbox.is_dir() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content())


def outbox_rows(shop: Shop) -> list[tuple[str, str, str, str, str]]:
    o = outbox_table.c
    with shop.database() as database, database.session() as session:
        rows = session.execute(
            select(o.workflow, o.step, o.kind, o.recipient, o.idempotency_key)
            .where(o.workflow.like("broadcast%"))
            .order_by(o.id)
        )
        return [tuple(row) for row in rows]


def test_each_variant_goes_to_each_address_with_the_test_subject(shop: Shop) -> None:
    done = shop.run(
        "broadcast", "test", "winter-sale", "--to", "me@shop.example", "--to", "Boss@Shop.example"
    )
    assert done.code == 0, done.err
    assert done.out.splitlines() == [
        "queued variant A to me@shop.example: [Test] D'Artagnan, 20 % off our winter favourites",
        "queued variant A to boss@shop.example: [Test] D'Artagnan, 20 % off our winter favourites",
        "queued variant B to me@shop.example: [Test] Only this week: 20 % off, just for you",
        "queued variant B to boss@shop.example: [Test] Only this week: 20 % off, just for you",
        "4 test message(s) of winter-sale, rendered for sample customer 1: the running engine "
        "sends them (or `mailengine run --once`)",
    ]
    rows = outbox_rows(shop)
    assert [row[:4] for row in rows] == [
        ("broadcast-test:winter-sale", "A", "transactional", "me@shop.example"),
        ("broadcast-test:winter-sale", "A", "transactional", "boss@shop.example"),
        ("broadcast-test:winter-sale", "B", "transactional", "me@shop.example"),
        ("broadcast-test:winter-sale", "B", "transactional", "boss@shop.example"),
    ]
    # testing again sends again: every message has a key of its own
    assert shop.run("broadcast", "test", "winter-sale", "--to", "me@shop.example").code == 0
    keys = [row[4] for row in outbox_rows(shop)]
    assert len(keys) == len(set(keys)) == 6

    sent = shop.run("run", "--once")
    assert sent.code == 0, sent.err
    assert "sent 6," in sent.out
    mails = captured(shop)
    assert sorted((str(m["To"]), str(m["Subject"])) for m in mails) == sorted(
        [
            ("me@shop.example", "[Test] D'Artagnan, 20 % off our winter favourites"),
            ("boss@shop.example", "[Test] D'Artagnan, 20 % off our winter favourites"),
            ("me@shop.example", "[Test] Only this week: 20 % off, just for you"),
            ("boss@shop.example", "[Test] Only this week: 20 % off, just for you"),
            ("me@shop.example", "[Test] D'Artagnan, 20 % off our winter favourites"),
            ("me@shop.example", "[Test] Only this week: 20 % off, just for you"),
        ]
    )
    for message in mails:
        html, text = body(message, "html"), body(message, "plain")
        assert "The winter sale" in html and "The winter sale" in text
        assert "Merino sweater" in text and "Selvedge jeans" in text
        assert "€71.20" in text and "€103.20" in text  # the shop's currency, the sample's locale
        assert "TEST-CODE" in text  # a code no customer can use
        assert "Your personal code, valid for a week" in html  # the preheader
        assert message["List-Unsubscribe"] is None  # not marketing: nobody's consent is asked
        assert "Example Shop GmbH" in text  # the shop's own footer, not the sample's


def test_a_customer_of_the_shop_can_be_the_one_it_is_rendered_for(
    shop: Shop, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "email,first_name,locale,timezone,consent\n"
        "ann@example.com,Ann,de_DE,Europe/Berlin,withdrawn\n",
        encoding="utf-8",
    )
    assert shop.run("import", "customers", str(customers)).code == 0
    done = shop.run(
        "broadcast",
        "test",
        "december-newsletter",
        "--to",
        "me@shop.example",
        "--customer",
        "Ann@Example.com",
    )
    assert done.code == 0, done.err
    assert done.out.splitlines()[0] == (
        "queued variant all to me@shop.example: [Test] Ann, unser Dezember-Brief"
    )
    assert shop.run("run", "--once").code == 0
    mails = [m for m in captured(shop) if str(m["To"]) == "me@shop.example"]
    assert [str(m["Subject"]) for m in mails] == ["[Test] Ann, unser Dezember-Brief"]  # de_DE
    text = body(mails[0], "plain")
    assert "Hallo Ann," in text and "Hello" not in text  # German copy for a de_DE customer
    assert "Warmes für kalte Tage" in text and "179,00\xa0€" in text  # Ann's language
    assert not [m for m in captured(shop) if str(m["To"]) == "ann@example.com"]


def test_what_cannot_be_tested_is_refused_before_anything_is_queued(shop: Shop) -> None:
    done = shop.run("broadcast", "test", "winter-sale", "--to", "not an address")
    assert done.code == 1
    assert (
        done.err.strip()
        == "error: --to not an address: 'not an address' is not a valid e-mail address"
    )
    done = shop.run(
        "broadcast", "test", "winter-sale", "--to", "me@shop.example", "--customer", "x@y.example"
    )
    assert (done.code, done.err.strip()) == (1, "error: no customer has the address x@y.example")
    done = shop.run("broadcast", "test", "winter-sale")
    assert done.code == 2
    assert outbox_rows(shop) == []
