"""Turn one claimed send into finished message bytes: context, render, headers, DKIM.

The composer is the seam between the store's plain snapshots and the rendering and MIME
modules. It does no I/O: the dispatcher hands it everything it needs.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from mailengine.addresses import address_hash
from mailengine.config import Settings
from mailengine.outbound.dkim import DkimSigner
from mailengine.outbound.mime import OutgoingMessage, mime_parts
from mailengine.outbound.order_contexts import order_context
from mailengine.outbound.poll_links import PollLinks
from mailengine.outbound.send_context import (
    OrdersNamed,
    broadcast_data,
    coupon_data,
    customer_data,
    latest_order,
)
from mailengine.outbound.tracking_links import TrackedBody, rewrite_links
from mailengine.outbound.transport.base import Envelope
from mailengine.outbound.verp import encode_bounce_address
from mailengine.render.context import (
    LinksData,
    SenderData,
    TicketData,
    build_context,
)
from mailengine.render.library import RenderedEmail, TemplateLibrary
from mailengine.render.order_context import orders_section
from mailengine.render.template_sources import TemplateSources
from mailengine.store.coupons import IssuedCoupon
from mailengine.store.recipients import RecipientSnapshot
from mailengine.store.records import RENDERED, ClaimedSend, order_about
from mailengine.tokens import make_message_token, make_token

_URL_SAFE = frozenset(string.ascii_letters + string.digits + "-_.")
# Payload sections handed to the template as they are (plain, JSON-safe data): what the team
# notification shows (`support`) and a person's answer to a ticket (`reply`).
_PLAIN_SECTIONS = ("support", "reply")


@dataclass(frozen=True)
class ComposedMessage:
    envelope: Envelope
    rendered: RenderedEmail
    # Its tracked links and open pixel (None: not tracked): the list is stored before it goes.
    tracked: TrackedBody | None = None


class Composer:
    """Builds personalised messages for one shop (its settings, templates, key and signer)."""

    def __init__(
        self,
        settings: Settings,
        library: TemplateLibrary,
        secret: bytes,
        signer: DkimSigner | None = None,
    ) -> None:
        self.settings = settings
        self.library = library
        self._secret = secret
        self._signer = signer
        sender = settings.sender
        self._sender = SenderData(
            name=sender.from_name, address=sender.from_address, postal_address=sender.postal_address
        )
        self._public_url = settings.http.public_url.rstrip("/")
        self._asking = PollLinks(settings, secret, self._public_url)
        self._orders_named = OrdersNamed(library)

    def __reduce__(self) -> tuple[Callable[..., Composer], tuple[object, ...]]:
        """Pickled as what builds it: a compose worker process gets a composer of its own."""
        return type(self), (self.settings, self.library, self._secret, self._signer)

    def context(
        self,
        recipient: RecipientSnapshot,
        now: datetime,
        coupon: IssuedCoupon | None = None,
        payload: dict[str, Any] | None = None,
        links: LinksData | None = None,
        mail: int = 0,
        *,
        orders: bool = True,
    ) -> dict[str, Any]:
        """The plain dict a template renders from, for this customer as they are `now`;
        `order` is the order the send is about (see `order_about`); poll and questionnaire
        links name `mail` (the outbox id; 0 for a mail that is not stored). With
        `orders=False` (templates that do not name them, see `OrdersNamed`) it has no
        `orders`, only `order` and `last_order`."""
        payload = payload or {}
        ticket = payload.get("ticket")
        extra = {key: payload[key] for key in _PLAIN_SECTIONS if key in payload}
        about = recipient.order(order_about(payload))
        context = build_context(
            customer=customer_data(recipient, self.settings),
            links=links or self.links(recipient.email_hash, now),
            sender=self._sender,
            coupon=coupon_data(coupon, self.settings.currency) if coupon is not None else None,
            ticket=TicketData(ticket["reference"], ticket["subject"]) if ticket else None,
            broadcast=broadcast_data(payload),
            **self._asking.contexts(recipient.email_hash, now, mail),
        )
        about_context = order_context(about) if about is not None else None
        if not orders:
            latest = latest_order(recipient.orders)
            made = extra | dict(context)
            del made["orders"]
            made["order"] = about_context
            made["last_order"] = order_context(latest) if latest is not None else None
            return made
        # The orders straight from the snapshots (`order_contexts`); the keys keep their places.
        section = orders_section(
            [order_context(order) for order in recipient.orders], about_context
        )
        context["orders"] = section["orders"]
        context["order"] = section["order"]
        context["last_order"] = section["last_order"]
        return extra | dict(context)

    def links(self, address_hash: str, now: datetime, outbox_id: int = 0) -> LinksData:
        """The customer's signed links, issued `now` (they expire after http.link_validity_days);
        with the link to the hosted copy of message `outbox_id` unless it is 0 (a preview)."""
        preferences = make_token(self._secret, "preferences", address_hash, now)
        confirm = make_token(self._secret, "confirm", address_hash, now)
        return LinksData(
            unsubscribe_url=self._unsubscribe_url(address_hash, now),
            preferences_url=f"{self._public_url}/preferences/{preferences}",
            shop_url=self.settings.sender.shop_url,
            view_in_browser_url=self.view_url(outbox_id, now) if outbox_id > 0 else None,
            assets_url=f"{self._public_url}/assets",
            confirm_url=f"{self._public_url}/confirm/{confirm}",
        )

    def with_polls(
        self, context: Mapping[str, Any], now: datetime, mail: int = 0
    ) -> Mapping[str, Any]:
        """`context` with the poll blocks and questionnaire links of its customer, if it has
        none yet (made-up sample data)."""
        if context.get("polls"):
            return context
        digest = address_hash(str(context["customer"]["email"]))
        return {**context, **self._asking.contexts(digest, now, mail)}

    def compose(
        self,
        send: ClaimedSend,
        recipient: RecipientSnapshot,
        now: datetime,
        coupon: IssuedCoupon | None = None,
        template: TemplateSources | None = None,
    ) -> ComposedMessage:
        """Render and build the message; raises RenderError naming template and customer.
        With `template`, the stored sources of a stored workflow version are rendered."""
        rendered = _rendered(send.payload)
        if rendered is not None:
            return ComposedMessage(self.envelope(send, recipient, rendered, now), rendered)
        context, links = self._send_context(send, recipient, now, coupon, template)
        return self.compose_from(send, recipient, now, context, links.unsubscribe_url, template)

    def rendered(
        self,
        send: ClaimedSend,
        recipient: RecipientSnapshot,
        now: datetime,
        coupon: IssuedCoupon | None = None,
        template: TemplateSources | None = None,
    ) -> RenderedEmail:
        """What `compose` renders for this send `now` (subject, preheader, bodies; the links
        not tracked), without building the message: what the studio shows of a mail."""
        stored = _rendered(send.payload)
        if stored is not None:
            return stored
        context, _ = self._send_context(send, recipient, now, coupon, template)
        return self._render(send, context, now, template)

    def _send_context(
        self,
        send: ClaimedSend,
        recipient: RecipientSnapshot,
        now: datetime,
        coupon: IssuedCoupon | None,
        template: TemplateSources | None,
    ) -> tuple[dict[str, Any], LinksData]:
        """The send's context and its signed links, made once: the body and the
        List-Unsubscribe header share them (a preview's id is 0)."""
        links = self.links(recipient.email_hash, now, send.id)
        orders = self._orders_named.by(send.template, template, send.subject, send.preheader)
        context = self.context(recipient, now, coupon, send.payload, links, send.id, orders=orders)
        return context, links

    def _render(
        self,
        send: ClaimedSend,
        context: Mapping[str, Any],
        now: datetime,
        template: TemplateSources | None,
    ) -> RenderedEmail:
        return self.library.render(
            send.template,
            self.with_polls(context, now, send.id),
            subject=send.subject,
            preheader=send.preheader,
            sources=template,
        )

    def compose_from(
        self,
        send: ClaimedSend,
        recipient: RecipientSnapshot,
        now: datetime,
        context: Mapping[str, Any],
        unsubscribe_url: str | None = None,
        template: TemplateSources | None = None,
    ) -> ComposedMessage:
        """`compose` from a context already made (a preview of made-up sample data)."""
        rendered = self._render(send, context, now, template)
        tracked: TrackedBody | None = None
        # A preview (id 0) shows its links as they would be tracked; its list is never stored.
        if send.payload.get("tracking"):
            tracked = rewrite_links(rendered.html, send.id, self._public_url, self._secret)
            # (made, not `dataclasses.replace`d: that looks up the fields each time)
            rendered = RenderedEmail(
                rendered.subject, rendered.preheader, tracked.html, rendered.text
            )
        envelope = self.envelope(send, recipient, rendered, now, unsubscribe_url)
        return ComposedMessage(envelope, rendered, tracked)

    def envelope(
        self,
        send: ClaimedSend,
        recipient: RecipientSnapshot,
        rendered: RenderedEmail,
        now: datetime,
        unsubscribe_url: str | None = None,
    ) -> Envelope:
        """The signed message and its envelope; `unsubscribe_url` saves making it again."""
        sender = self.settings.sender
        automatic = send.kind == "autoreply"
        unsubscribe = None
        # Only marketing offers List-Unsubscribe (RFC 2369/8058): it stops marketing, so on an
        # order confirmation, an acknowledgement or a team notification it would promise
        # what it cannot do; Gmail's and Yahoo's bulk-sender rules exempt such mail.
        if send.kind == "marketing":
            unsubscribe = unsubscribe_url or self._unsubscribe_url(recipient.email_hash, now)
        mailto = None
        if unsubscribe is not None:
            token = unsubscribe.rsplit("/", 1)[1]
            # A token is URL-safe base64 and a dot: only the space needs escaping (quote()
            # takes some 20 us, for every message).
            subject = (
                "unsubscribe%20" + token
                if _URL_SAFE.issuperset(token)
                else quote("unsubscribe " + token)
            )
            mailto = f"mailto:{sender.bounce_local_part}@{sender.domain}?subject={subject}"
        headers = [(str(name), str(value)) for name, value in send.payload.get("headers", [])]
        # A planner may send from another of our addresses (a person's answer to a ticket
        # comes from the support address) and name where answers go (a ticket's team
        # notification names its signed reply address).
        message = OutgoingMessage(
            from_address=str(send.payload.get("from_address") or sender.from_address),
            from_name=sender.from_name,
            to_address=recipient.email,
            to_name=_full_name(recipient.profile),
            reply_to=str(send.payload.get("reply_to") or sender.reply_to or "") or None,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=send.message_id,
            date=now,
            # RFC 3834: automatic replies go out with the null return path.
            bounce_address="" if automatic else self.bounce_address(send.id),
            list_unsubscribe_url=unsubscribe,
            list_unsubscribe_mailto=mailto,
            extra_headers=tuple(headers),
        )
        # Kept as MimeBytes (CRLF, no leading dots): signer and SMTP transport then skip their
        # regular-expression passes over the whole message (~1 ms of a 45 KB message). The
        # signer joins the pieces once, behind its signature.
        parts = mime_parts(message)
        data = parts.joined() if self._signer is None else self._signer.sign_parts(parts)
        return Envelope(message.bounce_address, recipient.email, data, send.message_id)

    def view_url(self, outbox_id: int, now: datetime) -> str:
        """The signed link to the hosted copy of message `outbox_id` (see `hosted_copy`)."""
        return f"{self._public_url}/v/{make_message_token(self._secret, outbox_id, now)}"

    def _unsubscribe_url(self, address_hash: str, now: datetime) -> str:
        token = make_token(self._secret, "unsubscribe", address_hash, now)
        return f"{self._public_url}/u/{token}"

    def bounce_address(self, send_id: int) -> str:
        sender = self.settings.sender
        return encode_bounce_address(
            send_id, local_part=sender.bounce_local_part, domain=sender.domain, secret=self._secret
        )


def _rendered(payload: Mapping[str, Any]) -> RenderedEmail | None:
    """The mail as it was rendered when planned (see RENDERED), or None."""
    found = payload.get(RENDERED)
    if not isinstance(found, dict):
        return None
    return RenderedEmail(
        subject=str(found["subject"]),
        preheader=str(found.get("preheader") or ""),
        html=str(found["html"]),
        text=str(found["text"]),
    )


def _full_name(profile: dict[str, Any]) -> str | None:
    parts = [profile.get("first_name"), profile.get("last_name")]
    name = " ".join(part for part in parts if part)
    return name or None
