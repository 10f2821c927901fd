"""The dispatcher over a real database and the in-memory transport shipped for tests."""

from __future__ import annotations

import asyncio
import email
import re
from datetime import timedelta
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher, DispatchOptions
from mailengine.outbound.tracking_links import read_key
from mailengine.outbound.transport.base import DeliveryResult, Envelope
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.outbound.verp import decode_bounce_address
from mailengine.render.library import TemplateLibrary
from mailengine.store.coupons import coupon_table
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.link_lists import find_listed_link
from mailengine.store.outbox import count_by_state, outbox_table
from mailengine.store.privacy import save_preferences
from mailengine.store.records import ConsentStatement, CustomerUpsert
from mailengine.store.suppressions import is_suppressed, suppress
from tests.conftest import NOW
from tests.delivery.conftest import SECRET, add_customers, make_dispatcher, plan, states

PEOPLE = [
    ("anna@example.com", "Anna", "granted"),
    ("ben@example.com", "Ben", "granted"),
    ("cleo@example.com", "Cleo", "withdrawn"),
]


async def test_consenting_customers_get_a_personal_message(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    ids = add_customers(database, PEOPLE)
    plan(database, ids)
    transport = MemoryTransport()
    report = await make_dispatcher(database, transport, composer, clock).drain()
    assert (report.sent, report.suppressed) == (2, 1)
    assert states(database) == {
        "anna@example.com": "sent",
        "ben@example.com": "sent",
        "cleo@example.com": "suppressed",
    }
    anna = next(e for e in transport.outbox if e.rcpt_to == "anna@example.com")
    message = email.message_from_bytes(anna.data, policy=default_policy)
    assert message["Subject"] == "Hallo Anna"
    assert message["Message-ID"] == f"<test.welcome.hello.{ids['anna@example.com']}@shop.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/u/" in message["List-Unsubscribe"]
    assert decode_bounce_address(
        anna.mail_from, local_part="bounces", domain="shop.example", secret=SECRET
    ) == _outbox_id(database, "anna@example.com")
    body = message.get_body(("plain",))
    assert body is not None
    assert "Anna" in body.get_content()


async def test_consent_and_suppression_are_checked_at_send_time(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    ids = add_customers(database, PEOPLE[:2])
    plan(database, ids)
    plan(database, ids, template="thank-you/order-confirmed", kind="transactional")
    # After planning: Anna withdraws consent, Ben's address hard-bounced elsewhere.
    with database.transaction() as session:
        upsert_customers(
            session,
            [
                CustomerUpsert(
                    email="anna@example.com",
                    consent=ConsentStatement("withdrawn", "one-click", NOW),
                )
            ],
            NOW,
        )
        suppress(session, "ben@example.com", "hard-bounce", NOW)
    transport = MemoryTransport()
    await make_dispatcher(database, transport, composer, clock).drain()
    assert [e.rcpt_to for e in transport.outbox] == ["anna@example.com"]
    with database.session() as session:
        rows = session.execute(
            select(
                outbox_table.c.recipient,
                outbox_table.c.template,
                outbox_table.c.state,
                outbox_table.c.last_reply,
            )
        ).all()
    verdicts = {(r.recipient, r.template): (r.state, r.last_reply) for r in rows}
    assert verdicts[("anna@example.com", "welcome/hello")] == (
        "suppressed",
        "no marketing consent at send time (withdrawn)",
    )
    # An order confirmation needs no marketing consent ...
    assert verdicts[("anna@example.com", "thank-you/order-confirmed")][0] == "sent"
    # ... but nothing goes to a suppressed address.
    assert verdicts[("ben@example.com", "thank-you/order-confirmed")] == (
        "suppressed",
        "address suppressed (hard-bounce)",
    )


async def test_an_unsubscribe_stops_marketing_but_not_order_mail(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    ids = add_customers(database, PEOPLE[:1])
    with database.transaction() as session:
        suppress(session, "anna@example.com", "unsubscribe", NOW)
    plan(database, ids)
    plan(database, ids, template="thank-you/order-confirmed", kind="transactional")
    transport = MemoryTransport()
    report = await make_dispatcher(database, transport, composer, clock).drain()
    assert (report.sent, report.suppressed) == (1, 1)
    assert transport.outbox[0].rcpt_to == "anna@example.com"


async def test_a_hard_bounce_suppresses_and_never_replays_the_others(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    ids = add_customers(database, PEOPLE[:2])
    plan(database, ids)
    transport = MemoryTransport(replies={"ben@example.com": (550, "5.1.1 no such user")})
    report = await make_dispatcher(database, transport, composer, clock).drain()
    assert (report.sent, report.failed) == (1, 1)
    assert states(database) == {"anna@example.com": "sent", "ben@example.com": "failed"}
    with database.session() as session:
        assert is_suppressed(session, "ben@example.com")
        assert not is_suppressed(session, "anna@example.com")
    again = await make_dispatcher(database, transport, composer, clock).drain()
    assert again.handled == 0
    assert [e.rcpt_to for e in transport.outbox] == ["anna@example.com"]


async def test_the_servers_reply_is_kept_as_it_said_it(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    """The reply's enhanced status code is kept once, as the server wrote it (the studio and
    `mailengine outbox` show it: "2.0.0 2.0.0 OK" read as a fault of ours)."""
    ids = add_customers(database, PEOPLE[:2])
    plan(database, ids)
    replies = {
        "anna@example.com": (250, "2.0.0 OK: queued as 4XyZ"),
        "ben@example.com": (550, "5.1.1 <ben@example.com>: no such user"),
    }
    transport = MemoryTransport(replies=replies)
    await make_dispatcher(database, transport, composer, clock).drain()
    with database.session() as session:
        rows = session.execute(select(outbox_table.c.recipient, outbox_table.c.last_reply))
        kept = {recipient: reply for recipient, reply in rows}
    assert kept == {address: text for address, (_, text) in replies.items()}


async def test_a_temporary_failure_is_retried_with_backoff_then_given_up(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    ids = add_customers(database, PEOPLE[:1])
    plan(database, ids)
    transport = MemoryTransport(replies={"anna@example.com": (451, "4.3.0 try again later")})
    dispatcher = make_dispatcher(database, transport, composer, clock)
    assert (await dispatcher.drain()).deferred == 1
    assert (await dispatcher.drain()).handled == 0  # not due yet
    clock.advance(timedelta(minutes=3))
    assert (await dispatcher.drain()).deferred == 1
    transport.replies.clear()
    clock.advance(timedelta(minutes=6))
    assert (await dispatcher.drain()).sent == 1
    with database.session() as session:
        row = session.execute(select(outbox_table.c.attempts, outbox_table.c.state)).one()
    assert tuple(row) == (3, "sent")


async def test_deferral_ends_in_failure_after_the_retry_period(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    ids = add_customers(database, PEOPLE[:1])
    plan(database, ids)
    transport = MemoryTransport(replies={"anna@example.com": (452, "4.2.2 mailbox full")})
    dispatcher = make_dispatcher(database, transport, composer, clock)
    for _ in range(40):
        await dispatcher.drain()
        clock.advance(timedelta(hours=5))
    with database.session() as session:
        state, reply = session.execute(
            select(outbox_table.c.state, outbox_table.c.last_reply)
        ).one()
    assert state == "failed"
    assert reply.startswith("gave up after ")


async def test_a_render_error_fails_one_customer_and_names_them(
    database: Database, settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    (tmp_path / "strict").mkdir()
    (tmp_path / "strict" / "hello.mjml").write_text(
        "<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ customer.last_name }}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>",
        encoding="utf-8",
    )
    composer = Composer(settings, TemplateLibrary(tmp_path), SECRET)
    ids = add_customers(database, PEOPLE[:2])
    with database.transaction() as session:
        upsert_customers(
            session, [CustomerUpsert(email="ben@example.com", fields={"last_name": "Berg"})], NOW
        )
    plan(database, ids, template="strict/hello")
    transport = MemoryTransport()
    report = await make_dispatcher(database, transport, composer, clock).drain()
    assert (report.sent, report.failed) == (1, 1)
    with database.session() as session:
        reply = session.execute(
            select(outbox_table.c.last_reply).where(outbox_table.c.state == "failed")
        ).scalar_one()
    assert reply.startswith("render error: ")
    assert "anna@example.com" in reply
    assert "last_name" in reply


async def test_a_coupon_is_issued_once_and_shown(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    ids = add_customers(database, PEOPLE[:1])
    plan(
        database,
        ids,
        template="win-back/coupon",
        coupon={"percent": 50, "valid_seconds": 14 * 86400},
    )
    transport = MemoryTransport(replies={"anna@example.com": (451, "4.3.0 later")})
    dispatcher = make_dispatcher(database, transport, composer, clock)
    await dispatcher.drain()
    transport.replies.clear()
    clock.advance(timedelta(minutes=5))
    await dispatcher.drain()
    message = email.message_from_bytes(transport.outbox[0].data, policy=default_policy)
    text = message.get_body(("plain",))
    assert text is not None
    with database.session() as session:
        codes = session.execute(select(coupon_table.c.code)).scalars().all()
    assert len(codes) == 1
    assert codes[0] in text.get_content()


def _outbox_id(database: Database, recipient: str) -> int:
    with database.session() as session:
        return int(
            session.execute(
                select(outbox_table.c.id).where(outbox_table.c.recipient == recipient)
            ).scalar_one()
        )


async def test_tracked_links_are_stored_before_the_mail_goes(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    ids = add_customers(database, PEOPLE[:1])
    plan(database, ids, tracking=True)
    transport = MemoryTransport()
    await make_dispatcher(database, transport, composer, clock).drain()
    message = email.message_from_bytes(transport.outbox[0].data, policy=default_policy)
    html = message.get_body(("html",))
    assert html is not None
    keys = re.findall(r"/c/([A-Za-z0-9_-]{32})\b", html.get_content())
    assert keys, "no tracked links in the HTML part"
    assert re.search(r"/o/[A-Za-z0-9_-]{32}\.gif", html.get_content())
    said = read_key(SECRET, keys[0])
    assert said is not None and said.position == 1
    with database.session() as session:
        target = find_listed_link(session, said.outbox_id, said.position, said.digest)
    assert target is not None
    assert target.url is not None
    assert target.url.startswith("https://shop.example")


async def test_a_workflow_the_customer_opted_out_of_is_not_sent(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    ids = add_customers(database, PEOPLE[:2])
    with database.transaction() as session:
        save_preferences(session, ids["anna@example.com"], {"test": False}, NOW)
    plan(database, ids)
    transport = MemoryTransport()
    report = await make_dispatcher(database, transport, composer, clock).drain()
    assert (report.sent, report.suppressed) == (1, 1)
    assert [e.rcpt_to for e in transport.outbox] == ["ben@example.com"]


class _GatedTransport(MemoryTransport):
    """Two connections; each message waits at the gate before it is taken."""

    concurrency = 2

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def _deliver(self, envelope: Envelope) -> DeliveryResult:
        await self.gate.wait()
        return await super()._deliver(envelope)


def _sending(database: Database) -> int:
    with database.session() as session:
        return count_by_state(session).get("sending", 0)


async def test_messages_held_but_not_begun_are_handed_back_unsent_on_stop(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    people = [(f"p{i}@example.com", f"P{i}", "granted") for i in range(10)]
    plan(database, add_customers(database, people))
    stop = asyncio.Event()
    transport = _GatedTransport()
    options = DispatchOptions(batch_size=4, per_domain_connections=2)
    dispatcher = Dispatcher(database, transport, composer, clock, options=options)
    serving = asyncio.create_task(dispatcher.serve(stop))
    try:
        # Two in flight at the gate, two more of the first batch and a second batch held.
        for _ in range(600):
            if _sending(database) >= 8:
                break
            await asyncio.sleep(0.05)
        assert _sending(database) >= 8
        stop.set()
        transport.gate.set()
        await asyncio.wait_for(serving, timeout=30)
    finally:
        stop.set()
        transport.gate.set()
        await asyncio.gather(serving, return_exceptions=True)
    assert len(transport.outbox) == 2  # the messages in flight were finished, nothing more
    with database.session() as session:
        rows = session.execute(
            select(outbox_table.c.state, outbox_table.c.attempts, outbox_table.c.claimed_by)
        ).all()
    assert sorted(state for state, _, _ in rows) == ["queued"] * 8 + ["sent"] * 2
    assert {(attempts, by) for state, attempts, by in rows if state == "queued"} == {(0, None)}
    again = await make_dispatcher(database, MemoryTransport(), composer, clock).drain()
    assert again.sent == 8


class _CountingDispatcher(Dispatcher):
    commits: int = 0

    def write_outcomes(self, items: Any, at: Any = None) -> None:
        self.commits += 1
        super().write_outcomes(items, at)


async def test_outcomes_arriving_together_share_a_commit(
    database: Database, composer: Composer, clock: FrozenClock
) -> None:
    people = [(f"p{i}@example.com", f"P{i}", "granted") for i in range(40)]
    plan(database, add_customers(database, people))
    dispatcher = _CountingDispatcher(database, MemoryTransport(), composer, clock)
    assert (await dispatcher.drain()).sent == 40
    assert dispatcher.commits <= 40 // 4  # 8 workers: groups of several outcomes, not one each
