"""Spam complaints: ARF feedback reports (RFC 5965) and providers' non-ARF formats."""

from __future__ import annotations

from dataclasses import dataclass

from mailengine.inbound.dsn import address_of, delivery_status_fields
from mailengine.inbound.headers import HeaderMap, address_list, message_ids
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.verp_lookup import VerpKey

# Hotmail/Outlook.com JMRP reports attach the message with this header naming the complainer.
_HOTMAIL_RECIPIENT = "x-hmxmroriginalrecipient"


@dataclass(frozen=True)
class ComplaintReport:
    """One complaint: who complained, about which message, in which format."""

    feedback_type: str
    recipients: tuple[str, ...]
    original_mail_from: str | None
    original_message_id: str | None
    send_id: int | None
    source: str
    user_agent: str | None = None


def looks_like_complaint(msg: InboundMessage) -> bool:
    """A non-ARF complaint: Hotmail's JMRP report or Apple Mail's one-click unsubscribe."""
    if _apple_unsubscribe(msg):
        return True
    return any(_HOTMAIL_RECIPIENT in part.headers for part in msg.parts if part.enclosed)


def parse_complaint(msg: InboundMessage, verp: VerpKey | None = None) -> ComplaintReport | None:
    """The complaint in a message, or None when it carries none."""
    original = _original_headers(msg)
    fields = _feedback_fields(msg)
    if fields is not None:
        recipients = [
            address_of(v) for k, v in fields if k in ("original-rcpt-to", "removal-recipient")
        ]
        found = tuple(dict.fromkeys(r for r in recipients if r))
        mail_from = next((address_of(v) for k, v in fields if k == "original-mail-from"), None)
        feedback_type = next((v.lower() for k, v in fields if k == "feedback-type"), "abuse")
        agent = next((v for k, v in fields if k == "user-agent"), None)
        source = "arf"
    elif _apple_unsubscribe(msg):
        found = (msg.from_address,) if msg.from_address else ()
        mail_from, feedback_type, agent, source = None, "opt-out", None, "apple-unsubscribe"
    elif looks_like_complaint(msg):
        found = address_list(original.get_all(_HOTMAIL_RECIPIENT))
        mail_from, feedback_type, agent, source = None, "abuse", None, "hotmail"
    else:
        return None
    if not found:
        found = address_list(original.get_all("to"))
    message_id = next(iter(message_ids(original.get("message-id"))), None)
    if message_id is None and fields is not None:
        message_id = next(
            iter(message_ids(next((v for k, v in fields if k == "message-id"), None))), None
        )
    send_id = None
    if verp is not None:
        send_id = verp.send_id(
            [
                mail_from,
                *address_list(original.get_all("return-path")),
                *msg.envelope_recipients,
                *msg.delivered_to,
                *msg.to_addresses,
            ]
        )
    return ComplaintReport(
        feedback_type=feedback_type,
        recipients=found,
        original_mail_from=mail_from,
        original_message_id=message_id,
        send_id=send_id,
        source=source,
        user_agent=agent,
    )


def _feedback_fields(msg: InboundMessage) -> list[tuple[str, str]] | None:
    for part in msg.parts:
        if part.content_type == "message/feedback-report" and not part.enclosed:
            return delivery_status_fields(part.text or "")
    return None


def _apple_unsubscribe(msg: InboundMessage) -> bool:
    return (msg.headers.get("x-apple-unsubscribe") or "").strip().lower() == "true"


def _original_headers(msg: InboundMessage) -> HeaderMap:
    for part in msg.parts:
        if part.parent_type in ("message/rfc822", "message/global") and not _nested(part.depth):
            return part.headers
    for part in msg.parts:
        if part.content_type in ("text/rfc822-headers", "text/rfc822-header") and part.text:
            return HeaderMap(delivery_status_fields(part.text))
    return HeaderMap()


def _nested(depth: int) -> bool:
    return depth > 3
