"""Small named rules over an InboundMessage, each answering one question about it.

Shaped after GNU Mailman's rules: a rule has a `name` for logs, a `description`, and
`check(msg) -> bool`. chain.py decides what a match means.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol

from mailengine.inbound import signals
from mailengine.inbound.absence import looks_like_absence_notice
from mailengine.inbound.bounce_text import looks_like_bounce_text
from mailengine.inbound.complaints import looks_like_complaint
from mailengine.inbound.message import InboundMessage


class Rule(Protocol):
    name: str
    description: str

    def check(self, msg: InboundMessage) -> bool: ...


class OverLimits:
    name = "over_limits"
    description = "The message broke a size, part, nesting or header cap, or could not be parsed."

    def check(self, msg: InboundMessage) -> bool:
        return bool(msg.over_limits)


class OwnAddress:
    name = "own_address"
    description = "Sent from, or already looped through, one of our own addresses or domains."

    def __init__(self, addresses: Iterable[str] = (), domains: Iterable[str] = ()) -> None:
        self.addresses = frozenset(address.strip().lower() for address in addresses if address)
        self.domains = frozenset(domain.strip().lower().lstrip("@") for domain in domains if domain)

    def _ours(self, address: str | None) -> bool:
        if not address:
            return False
        address = address.lower()
        return address in self.addresses or address.rsplit("@", 1)[-1] in self.domains

    def check(self, msg: InboundMessage) -> bool:
        senders = [msg.from_address, msg.return_path, *msg.reply_to]
        if any(self._ours(sender) for sender in senders):
            return True
        loops = " ".join(msg.headers.get_all("x-loop")).lower()
        return bool(loops) and any(
            mark in loops for mark in (*self.addresses, *(f"@{d}" for d in self.domains))
        )


class FeedbackReport:
    name = "feedback_report"
    description = "An ARF abuse report (multipart/report; report-type=feedback-report)."

    def check(self, msg: InboundMessage) -> bool:
        if msg.report_type == "feedback-report":
            return True
        return any(not part.enclosed for part in msg.parts_of_type("message/feedback-report"))


class ComplaintText:
    name = "complaint_text"
    description = "A mailbox provider's complaint without ARF (Hotmail/Outlook JMRP and kin)."

    def check(self, msg: InboundMessage) -> bool:
        return looks_like_complaint(msg)


class DeliveryStatusReport:
    name = "delivery_status_report"
    description = "A DSN (RFC 3464): multipart/report or a message/delivery-status part."

    def check(self, msg: InboundMessage) -> bool:
        if msg.report_type in ("delivery-status", "global-delivery-status"):
            return True
        types = ("message/delivery-status", "message/global-delivery-status")
        return any(not part.enclosed for part in msg.parts_of_type(*types))


class DispositionNotification:
    name = "disposition_notification"
    description = "A read receipt or other MDN (report-type=disposition-notification)."

    def check(self, msg: InboundMessage) -> bool:
        if msg.report_type == "disposition-notification":
            return True
        return any(
            not part.enclosed for part in msg.parts_of_type("message/disposition-notification")
        )


class BounceHeaders:
    name = "bounce_headers"
    description = "Vendor bounce markers: X-Failed-Recipients (Exim), X-MS-Exchange-Message-Is-Ndr."

    def check(self, msg: InboundMessage) -> bool:
        return _any_header_matches(msg, signals.BOUNCE_HEADERS)


class SystemSender:
    name = "system_sender"
    description = "From a mail system: MAILER-DAEMON, postmaster, Mail Delivery Subsystem."

    def check(self, msg: InboundMessage) -> bool:
        if signals.SYSTEM_SENDER.match(msg.from_local_part):
            return True
        return bool(signals.SYSTEM_SENDER.match(msg.from_name.strip()))


class BounceSubject:
    name = "bounce_subject"
    description = "A subject in a mail server's delivery-report wording (Undeliverable: ...)."

    def check(self, msg: InboundMessage) -> bool:
        return bool(signals.BOUNCE_SUBJECT.search(msg.subject))


class BounceText:
    name = "bounce_text"
    description = "A body in the words of a mail server's non-delivery report."

    def check(self, msg: InboundMessage) -> bool:
        return looks_like_bounce_text(msg)


class AutoSubmitted:
    name = "auto_submitted"
    description = "Auto-Submitted other than 'no' (RFC 3834)."

    def check(self, msg: InboundMessage) -> bool:
        return any(
            value.split(";")[0].strip().lower() not in ("no", "")
            for value in msg.headers.get_all("auto-submitted")
        )


class AutoReplyHeaders:
    name = "auto_reply_headers"
    description = "Vendor auto-reply markers: X-Autoreply, X-Autorespond, X-Autogenerated, ..."

    def check(self, msg: InboundMessage) -> bool:
        if any(name in msg.headers for name in signals.AUTO_REPLY_HEADERS):
            return True
        return _any_header_matches(msg, signals.AUTO_REPLY_HEADER_VALUES)


class AutoResponseSuppress:
    name = "auto_response_suppress"
    description = "X-Auto-Response-Suppress: the sender asked for no automatic answers."

    def check(self, msg: InboundMessage) -> bool:
        return "x-auto-response-suppress" in msg.headers


class XLoop:
    name = "x_loop"
    description = "X-Loop: the message already went through an automatic responder."

    def check(self, msg: InboundMessage) -> bool:
        return "x-loop" in msg.headers


class AutoReplySubject:
    name = "auto_reply_subject"
    description = "A subject like 'Automatic reply:', 'Out of office', 'Abwesenheitsnotiz'."

    def check(self, msg: InboundMessage) -> bool:
        return bool(signals.AUTO_REPLY_SUBJECT.search(msg.subject))


class AbsenceNoticeText:
    name = "absence_notice_text"
    description = (
        "A reply whose own words are an out-of-office notice ('I am out of the office until')."
    )

    def check(self, msg: InboundMessage) -> bool:
        return looks_like_absence_notice(msg)


class NullReturnPath:
    name = "null_return_path"
    description = "The envelope sender is <>: the sender wants no answer at all (RFC 3834)."

    def check(self, msg: InboundMessage) -> bool:
        return msg.return_path == ""


class NoReplySender:
    name = "no_reply_sender"
    description = "From an address nobody reads: noreply, no-reply, do-not-reply."

    def check(self, msg: InboundMessage) -> bool:
        return bool(signals.NO_REPLY_SENDER.search(msg.from_local_part))


class Precedence:
    name = "precedence"
    description = "Precedence: bulk, list or junk."

    def check(self, msg: InboundMessage) -> bool:
        return any(
            value.strip().lower() in ("bulk", "list", "junk")
            for value in msg.headers.get_all("precedence")
        )


class ListHeaders:
    name = "list_headers"
    description = "Any List-* field (RFC 2369/2919: List-Id, List-Unsubscribe, ...)."

    def check(self, msg: InboundMessage) -> bool:
        return any(name.startswith("list-") for name in msg.headers.names())


class ListSoftwareHeaders:
    name = "list_software_headers"
    description = "Fields of list managers without List-*: X-Mailing-List, X-ML-Name, X-BeenThere."

    def check(self, msg: InboundMessage) -> bool:
        return any(name in msg.headers for name in signals.LIST_SOFTWARE_HEADERS)


class ListSender:
    name = "list_sender"
    description = "From a list manager: owner-*, *-request, *-bounces, listserv, majordomo."

    def check(self, msg: InboundMessage) -> bool:
        return bool(signals.LIST_SENDER.match(msg.from_local_part))


class BulkSenderHeaders:
    name = "bulk_sender_headers"
    description = "A bulk sender's feedback-loop id (Feedback-ID, X-CSA-Complaints)."

    def check(self, msg: InboundMessage) -> bool:
        return any(name in msg.headers for name in signals.BULK_SENDER_HEADERS)


class InvalidSender:
    name = "invalid_sender"
    description = "No single valid From address: there is nobody to answer."

    def check(self, msg: InboundMessage) -> bool:
        return msg.from_address is None


def _any_header_matches(msg: InboundMessage, patterns: Mapping[str, re.Pattern[str]]) -> bool:
    return any(
        pattern.search(value)
        for name, pattern in patterns.items()
        for value in msg.headers.get_all(name)
    )
