"""Bounce reports to per-recipient results: standard DSNs first, the report text otherwise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import HeaderParser

from mailengine.inbound.bounce_reasons import (
    HARD_REASONS,
    SOFT_OVERRIDES,
    find_reason,
    is_hard,
    reply_code,
    smtp_command,
    status_in,
)
from mailengine.inbound.bounce_text import (
    TextFailure,
    inline_original_headers,
    looks_like_bounce_text,
    report_text,
    returned_original_text,
    text_failures,
)
from mailengine.inbound.dsn import DsnRecipient, parse_delivery_status
from mailengine.inbound.headers import HeaderMap, address_list, message_ids
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.signals import SYSTEM_SENDER
from mailengine.inbound.verp_lookup import VerpKey

_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_MAX_DIAGNOSTIC = 1_000
_UNDECIDED = ("onhold", "undefined")
_INLINE_DSN = re.compile(r"^final-recipient\s*:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class BouncedRecipient:
    """One failed (or delayed) recipient. `hard` means: suppress this address."""

    recipient: str | None
    original_recipient: str | None
    action: str | None
    status: str | None
    reply_code: str | None
    reason: str
    hard: bool
    diagnostic: str


@dataclass(frozen=True)
class BounceReport:
    """What a bounce says; `send_id` is set only when it came back to a genuine VERP address."""

    recipients: tuple[BouncedRecipient, ...]
    original_message_id: str | None
    send_id: int | None
    standard: bool

    @property
    def hard(self) -> bool:
        return any(recipient.hard for recipient in self.recipients)


def parse_bounce(msg: InboundMessage, verp: VerpKey | None = None) -> BounceReport:
    """Read a bounce; a message that is not one gives a report without recipients."""
    original = original_headers(msg)
    text = report_text(msg)
    exclude = _our_side_addresses(msg, original)
    failures = text_failures(text, exclude)
    dsn_records = [
        record
        for part in msg.parts
        if part.content_type in _DSN_TYPES and not part.enclosed and part.text
        for record in parse_delivery_status(part.text)
    ]
    if not dsn_records and _INLINE_DSN.search(text):
        dsn_records = parse_delivery_status(text)  # a report whose MIME boundaries are broken
    if not dsn_records and not failures:
        dsn_records = _forwarded_report(msg)
    if dsn_records:
        single = len(dsn_records) == 1
        recipients = tuple(
            _from_dsn(record, failures, text, single=single) for record in dsn_records
        )
    else:
        recipients = tuple(
            _from_text(failure) for failure in _with_fallback(failures, msg, original, text)
        )
    send_id = None
    if verp is not None:
        send_id = verp.send_id(
            [
                *msg.envelope_recipients,
                *msg.delivered_to,
                *msg.to_addresses,
                *address_list(original.get_all("return-path")),
                *address_list(original.get_all("from")),
            ]
        )
    message_id = next(iter(message_ids(original.get("message-id"))), None)
    return BounceReport(recipients, message_id, send_id, standard=bool(dsn_records))


def _forwarded_report(msg: InboundMessage) -> list[DsnRecipient]:
    """The DSN of a bounce that arrives wrapped in another report (a bounce of a bounce)."""
    for part in msg.parts:
        if part.content_type in _DSN_TYPES and part.text and part.depth <= 4:
            return parse_delivery_status(part.text)
    return []


def original_headers(msg: InboundMessage) -> HeaderMap:
    """The returned original's header: an attached message, text/rfc822-headers, or inline text."""
    for part in msg.parts:
        if part.parent_type in ("message/rfc822", "message/global") and part.depth <= 2:
            return part.headers
    for part in msg.parts:
        if part.content_type in ("text/rfc822-headers", "message/rfc822-headers") and part.text:
            parsed = HeaderParser().parsestr(part.text, headersonly=True)
            return HeaderMap((name, " ".join(str(value).split())) for name, value in parsed.items())
    return inline_original_headers(returned_original_text(msg))


def _our_side_addresses(msg: InboundMessage, original: HeaderMap) -> list[str]:
    """Addresses in a report that are the original sender's, not failed recipients."""
    return [
        *msg.to_addresses,
        *msg.envelope_recipients,
        msg.return_path or "",
        msg.from_address or "",
        *address_list(original.get_all("from")),
        *address_list(original.get_all("return-path")),
        *address_list(original.get_all("sender")),
    ]


def _from_dsn(
    record: DsnRecipient, failures: list[TextFailure], text: str, *, single: bool
) -> BouncedRecipient:
    address = record.final_recipient or record.original_recipient
    own = next((f.text for f in failures if f.recipient == address), None)
    about_this_one = not failures or (len(failures) == 1 and own is not None)
    described = text if about_this_one else own or ""
    status = record.status
    if status is None or status.endswith(".0.0"):
        status = status_in(record.diagnostic) or status_in(described if failures else "") or status
    code = reply_code(record.diagnostic) or reply_code(described)
    command = smtp_command(f"{record.diagnostic}\n{described}")
    # The Diagnostic-Code is the remote server's own answer; the report text only helps when
    # that answer says nothing recognisable.
    detail = record.diagnostic
    reason = _UNDECIDED[0]
    if detail:
        reason = find_reason(
            detail,
            status,
            code,
            record.action,
            command=command,
            diagnostic_type=record.diagnostic_type,
        )
    if reason in HARD_REASONS and about_this_one and single:
        # A report whose own words give a softer cause (mailbox full, disabled) wins.
        softer = find_reason(described, None, None, record.action, command=command)
        if softer in SOFT_OVERRIDES:
            reason = softer
    if reason in _UNDECIDED:
        detail = f"{record.diagnostic}\n{described}"
        reason = find_reason(
            detail,
            status,
            code,
            record.action,
            command=command,
            diagnostic_type=record.diagnostic_type,
        )
    return BouncedRecipient(
        recipient=address,
        original_recipient=record.original_recipient,
        action=record.action,
        status=status,
        reply_code=code,
        reason=reason,
        hard=is_hard(reason, status, code, detail),
        diagnostic=" ".join(record.diagnostic.split())[:_MAX_DIAGNOSTIC],
    )


def _from_text(failure: TextFailure) -> BouncedRecipient:
    status = status_in(failure.text)
    code = reply_code(failure.text)
    reason = find_reason(failure.text, status, code, None)
    if reason in _UNDECIDED and failure.preamble:
        reason = find_reason(f"{failure.preamble}\n{failure.text}", status, code, None)
    return BouncedRecipient(
        recipient=failure.recipient,
        original_recipient=None,
        action="failed",
        status=status,
        reply_code=code,
        reason=reason,
        hard=is_hard(reason, status, code, failure.text),
        diagnostic=" ".join(failure.text.split())[:_MAX_DIAGNOSTIC],
    )


def _with_fallback(
    failures: list[TextFailure], msg: InboundMessage, original: HeaderMap, text: str
) -> list[TextFailure]:
    """When the report names nobody, the failed ones are X-Failed-Recipients or the original To."""
    if failures:
        return failures
    named = address_list(msg.headers.get_all("x-failed-recipients"))
    if not named and (looks_like_bounce_text(msg) or SYSTEM_SENDER.match(msg.from_local_part)):
        named = address_list(original.get_all("to"))
    return [TextFailure(address, text) for address in named]
