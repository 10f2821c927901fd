"""What a broadcast's mail sees: `broadcast` from the outbox payload, the same for every
customer of the send; None in every other mail."""

from __future__ import annotations

from datetime import UTC, datetime

from mailengine.addresses import address_hash
from mailengine.config import Settings
from mailengine.outbound import Composer
from mailengine.render import TemplateLibrary
from mailengine.store.recipients import RecipientSnapshot
from tests.broadcasts.conftest import REPO

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ANN = RecipientSnapshot(
    id=7,
    email="ann@example.com",
    email_hash=address_hash("ann@example.com"),
    profile={"first_name": "Ann"},
    consent_status="granted",
    forgotten=False,
    suppression=None,
)


def test_the_payload_keys_become_the_broadcast_section() -> None:
    composer = Composer(Settings(), TemplateLibrary(REPO / "templates"), b"k" * 32)
    scarf = {
        "title": "Scarf",
        "price": 20,
        "image": "https://cdn.shop.example/scarf.jpg",
        "link": "/c/scarves",
    }
    content = {"headline": "Winter", "products": [scarf]}
    payload = {"broadcast": "winter-sale", "variant": "B", "content": content, "phase": "test"}
    context = composer.context(ANN, NOW, payload=payload)
    assert context["broadcast"] == {"name": "winter-sale", "variant": "B", "content": content}
    assert composer.context(ANN, NOW, payload={})["broadcast"] is None
    rendered = composer.library.render(
        "newsletter/newsletter", context, subject="Hi {{ broadcast.variant }}"
    )
    assert rendered.subject == "Hi B"
    assert "Winter" in rendered.text and "Scarf" in rendered.text and "€20.00" in rendered.text
