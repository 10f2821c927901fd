"""A sent mail links to its hosted copy: the link, taken from the mail as it arrived over SMTP,
opens in the HTTP app the very HTML that was sent, rendered again from the outbox row."""

from __future__ import annotations

import email
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.outbound import Composer
from mailengine.outbound.dispatcher import Dispatcher
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTransport
from mailengine.render import TemplateLibrary
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from mailengine.store.privacy import forget_customer
from mailengine.tokens import make_message_token
from mailengine.web.app import create_app
from tests.transport.conftest import RecordingHandler, SmtpServer, start_server
from tests.web.conftest import PUBLIC_URL, SECRET, add_customers, plan_marketing

REPO = Path(__file__).resolve().parents[2]
ADA, BEA = "ada@example.com", "bea@example.com"
VIEW_LINK = re.compile(r'href="([^"]+)"[^>]*>\s*View\s+this\s+email\s+in\s+your\s+browser\s*</a>')


@pytest.fixture
def shop_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"paths": settings.paths.model_copy(update={"templates": REPO / "templates"})}
    )


@pytest.fixture
async def smtpd() -> AsyncIterator[SmtpServer]:
    server = await start_server(RecordingHandler())
    yield server
    await server.close()


def html_of(data: bytes) -> str:
    message = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(message, EmailMessage)
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


async def test_the_view_link_of_a_sent_mail_opens_the_html_that_was_sent(
    database: Database, shop_settings: Settings, clock: FrozenClock, smtpd: SmtpServer
) -> None:
    customers = add_customers(database, [(ADA, "granted"), (BEA, "granted")])
    outbox = plan_marketing(database, customers, tracking=True)
    composer = Composer(shop_settings, TemplateLibrary(REPO / "templates"), SECRET)
    transport = SmtpTransport(SmtpOptions(port=smtpd.port, local_hostname="view.test"))
    try:
        await Dispatcher(database, transport, composer, clock).drain()
    finally:
        await transport.aclose()
    handler = smtpd.handler
    assert isinstance(handler, RecordingHandler)
    sent = {message.rcpt_tos[0]: html_of(message.data) for message in handler.messages}
    assert sorted(sent) == [ADA, BEA]
    links = {}
    for address, html in sent.items():
        found = VIEW_LINK.search(html)
        assert found is not None, html[html.find("<body") :][:3000]
        links[address] = found.group(1).replace("&amp;", "&")
        assert links[address].startswith(f"{PUBLIC_URL}/v/")
    assert links[ADA] != links[BEA]  # one per message

    clock.advance(timedelta(days=40))  # read weeks later: the same mail
    app = create_app(shop_settings, database, clock=clock, secret=SECRET)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL
    ) as client:
        for address, link in links.items():
            page = await client.get(link)
            assert page.status_code == 200
            # The same document (the mail's part travels with CRLF line ends).
            assert page.text == sent[address].replace("\r\n", "\n")
            assert page.headers["cache-control"] == "private, no-store"
            assert "script-src" not in page.headers["content-security-policy"]
            assert page.headers["x-robots-tag"] == "noindex, nofollow"
        # A link altered, or made for a message that was not sent, opens nothing.
        assert (await client.get(links[ADA][:-2] + "xx")).status_code == 404
        with database.transaction() as session:
            session.execute(
                update(outbox_table).where(outbox_table.c.id == outbox[BEA]).values(state="queued")
            )
        unsent = f"/v/{make_message_token(SECRET, outbox[BEA], clock.now())}"
        assert (await client.get(unsent)).status_code == 404
        # A customer who asked to be forgotten takes their copy with them.
        with database.transaction() as session:
            forget_customer(session, ADA, clock.now())
        assert (await client.get(links[ADA])).status_code == 404
        # Past http.link_validity_days the link has expired.
        clock.advance(timedelta(days=shop_settings.http.link_validity_days))
        with database.transaction() as session:
            session.execute(
                update(outbox_table).where(outbox_table.c.id == outbox[BEA]).values(state="sent")
            )
        assert (await client.get(links[BEA])).status_code == 404
