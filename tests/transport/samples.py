"""Personalised sample messages for transport tests."""

from __future__ import annotations

from datetime import UTC, datetime

from mailengine.message_ids import make_message_id
from mailengine.outbound.mime import OutgoingMessage, build_mime
from mailengine.outbound.transport.base import Envelope

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def sample_message(to_address: str, index: int = 0) -> OutgoingMessage:
    return OutgoingMessage(
        from_address="hello@shop.example",
        from_name="Example Shop",
        to_address=to_address,
        to_name=f"Customer {index}",
        subject=f"Your offer no. {index}",
        text=f"Hello customer {index},\n.a line starting with a dot\nFrom here on: offers.\n",
        html=f"<p>Hello customer {index}</p>\n" + '<a href="https://shop.example/p">x</a>' * 40,
        message_id=make_message_id("shop.example", f"send-{index}"),
        date=NOW,
        bounce_address=f"bounces+{index}-0123456789ab@shop.example",
        list_unsubscribe_url=f"https://shop.example/u/{index}",
        list_unsubscribe_mailto=f"mailto:unsubscribe+{index}@shop.example",
    )


def sample_envelope(to_address: str, index: int = 0) -> Envelope:
    message = sample_message(to_address, index)
    return Envelope.for_message(message, build_mime(message))
