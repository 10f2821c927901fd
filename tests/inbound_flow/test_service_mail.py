"""Support mail is service mail: an unsubscribe does not silence the acknowledgement, a bounce
does, and neither the acknowledgement nor the team's copy offers List-Unsubscribe."""

from __future__ import annotations

import pytest

from mailengine.addresses import address_hash
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound.dispatcher import Dispatcher
from mailengine.store.database import Database
from mailengine.store.privacy import unsubscribe
from mailengine.store.suppressions import suppress
from tests.conftest import NOW
from tests.inbound_flow.conftest import (
    add_customer_with_order,
    deliver,
    outbox_rows,
    question,
    received,
    send_replies,
    text_of,
)
from tests.transport.conftest import SmtpServer

ANNA = "anna@customer.example"


@pytest.mark.parametrize("then", [None, "hard-bounce"])
async def test_an_unsubscribed_customer_still_gets_the_answer_to_a_question(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
    then: str | None,
) -> None:
    add_customer_with_order(database)
    with database.transaction() as session:
        unsubscribe(session, address_hash(ANNA), "one-click", None, NOW)
        if then is not None:
            suppress(session, ANNA, then, NOW, "550 5.1.1 no such user")
    await deliver(listener.port, question())
    await pipeline.drain()
    await send_replies(dispatcher)

    [team] = received(outgoing, "team@shop.example")
    assert team["List-Unsubscribe"] is None and team["List-Unsubscribe-Post"] is None
    assert "marketing consent: withdrawn" in text_of(team)
    [ack] = outbox_rows(database, step="acknowledge")
    if then is not None:  # a bounced address gets nothing at all
        assert received(outgoing, ANNA) == []
        assert ack["state"] == "suppressed" and "hard-bounce" in ack["last_reply"]
        return
    [answer] = received(outgoing, ANNA)
    assert ack["state"] == "sent"
    assert answer["List-Unsubscribe"] is None and answer["List-Unsubscribe-Post"] is None
    text = text_of(answer)
    assert "Order SO-1042" in text and "Status: Paid" in text
    assert "service message about your message to us" in text
