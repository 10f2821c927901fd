"""A shop as its customers meet it: the HTTP API takes customers and orders, the engine plans
and sends, and each received mail is read as its reader would (text part and visible HTML)."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import httpx

from mailengine.inbound.html_text import html_to_text
from tests.engine.harness import EngineHarness
from tests.web.conftest import AUTH


@dataclass(frozen=True)
class Mail:
    """One received message: its headers, its text part and the text its HTML shows."""

    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return _part(self.message, "plain")

    @property
    def html(self) -> str:
        return _part(self.message, "html")

    @property
    def html_text(self) -> str:
        """What the HTML part shows, as one line of words."""
        return " ".join(html_to_text(self.html).split())

    def both(self) -> tuple[str, str]:
        """The text part and what the HTML part shows, each as one line of words."""
        return " ".join(self.text.split()), self.html_text

    def link(self, words: str) -> str:
        """Where the HTML part's first link reading `words` points (perhaps a tracked link)."""
        found = re.search(rf'href="([^"]+)"[^>]*>\s*{re.escape(words)}\s*</a\s*>', self.html)
        assert found is not None, f"no link {words!r} in {self.subject!r}"
        return found.group(1).replace("&amp;", "&")


def _part(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())


class Shop:
    """The API client and the engine over one database and clock."""

    def __init__(self, client: httpx.AsyncClient, engine: EngineHarness) -> None:
        self.client = client
        self.engine = engine

    async def customer(self, address: str, first_name: str, consent: str = "granted") -> None:
        body: dict[str, Any] = {
            "email": address,
            "first_name": first_name,
            "locale": "en_GB",
            "timezone": "Europe/Berlin",
            "consent": {"status": consent, "source": "checkout"},
        }
        response = await self.client.post("/v1/customers", json=body, headers=AUTH)
        assert response.status_code in (200, 201), response.text

    async def order(
        self,
        address: str,
        external_id: str,
        items: list[tuple[str, str, str]],
        placed_at: datetime,
        **fields: Any,
    ) -> None:
        """Post an order of (sku, name, unit price) items, one of each."""
        body: dict[str, Any] = {
            "external_id": external_id,
            "email": address,
            "amount": str(sum(Decimal(price) for _, _, price in items)),
            "placed_at": placed_at.isoformat(),
            "items": [
                {"sku": sku, "name": name, "quantity": 1, "unit_price": price}
                for sku, name, price in items
            ],
            **fields,
        }
        response = await self.client.post("/v1/orders", json=body, headers=AUTH)
        assert response.status_code in (200, 201), response.text
        assert response.json()["created"] is True

    async def follow(self, url: str) -> str:
        """Click a link from a mail: where the shop's redirect (a tracked link) leads."""
        response = await self.client.get(url)
        assert response.status_code in (302, 303, 307), response.status_code
        return response.headers["location"]

    def mails_to(self, address: str, subject_start: str = "") -> list[Mail]:
        mails = [
            Mail(email.message_from_bytes(envelope.data, policy=default_policy))
            for envelope in self.engine.transport.outbox
            if envelope.rcpt_to == address
        ]
        return [mail for mail in mails if mail.subject.startswith(subject_start)]
