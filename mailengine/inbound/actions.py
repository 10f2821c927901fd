"""What is done with one classified message: the table of route and classification, and
each action.

A person's mail for the support address opens or joins a ticket and may be answered; a
report acts only where it proves it is about our own mail (report_actions.py); mail to the
plain bounce address with the subject `unsubscribe <token>` is the `mailto:` List-Unsubscribe.
Whatever is neither answered nor acted on (suspected auto-replies, list mail, invalid or
oversized messages, unproven reports) is shown to the team, marked, so a wrong guess never
loses anyone's words; only mail from our own addresses is not, as that would loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session

from mailengine.config import Settings
from mailengine.inbound.autoresponder import TeamNotice, answer_support_mail, show_to_team
from mailengine.inbound.chain import Classification, Verdict
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.reply_address import ReplyAddresses
from mailengine.inbound.report_actions import (
    ReportOutcome,
    act_on_bounce,
    act_on_complaint,
    usable_address,
)
from mailengine.inbound.team_replies import act_on_team_reply, reply_address_of
from mailengine.inbound.tickets import assign_ticket, thread_ids
from mailengine.inbound.verp_lookup import VerpKey
from mailengine.store.customers import get_customer
from mailengine.store.inbound_store import ReceivedMessage, earlier_copy, sent_to_address
from mailengine.store.models import Customer
from mailengine.store.privacy import unsubscribe
from mailengine.tokens import read_token

_UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe\s+(\S{1,200})\s*$", re.IGNORECASE)
# Mail to a genuine VERP address answers our envelope sender: only servers (and broken
# responders) write there, so whatever it looks like, it is read as a report about the send.
_REPORT_CLASSES = (
    Classification.BOUNCE,
    Classification.HUMAN,
    Classification.INVALID,
    Classification.AUTO_REPLY,
)
# How the team's copy names what a message seemed to be.
_LABELS = {
    Classification.AUTO_REPLY: "suspected auto-reply, not answered",
    Classification.LIST_BULK: "list or bulk mail, not answered",
    Classification.INVALID: "invalid message, not answered",
}


class Route(StrEnum):
    """Which of our addresses a message came to."""

    SUPPORT = "support"
    BOUNCE = "bounce"
    UNSUBSCRIBE = "unsubscribe"
    TEAM_REPLY = "team_reply"  # a ticket's reply address: a team member's answer


def recipients_of(row: ReceivedMessage, msg: InboundMessage) -> list[str]:
    """Whom the message was sent to: the SMTP envelope, else (IMAP) its headers."""
    return [a.lower() for a in row.envelope_to] or [*msg.delivered_to, *msg.to_addresses]


@dataclass
class Acted:
    """What acting on one message did (the pipeline stores it with the message)."""

    state: str = "processed"
    ticket_id: int | None = None
    acknowledged: bool = False
    team_notified: bool = False
    notes: list[str] = field(default_factory=list)


class MessageActions:
    """Acts on classified messages for one shop, inside the caller's transaction."""

    def __init__(self, settings: Settings, secret: bytes, verp: VerpKey) -> None:
        self.settings = settings
        self.team_address = settings.inbound.team_address.lower()
        self.verp = verp
        self.replies = ReplyAddresses(settings.inbound.support_address, secret)
        self._secret = secret

    def act(
        self,
        session: Session,
        row: ReceivedMessage,
        msg: InboundMessage,
        verdict: Verdict,
        route: Route,
        now: datetime,
    ) -> Acted:
        kind = verdict.classification
        if kind is Classification.OVERSIZED:
            reason = f"over limits: {', '.join(msg.over_limits)}"
            acted = self._notice(session, row, msg, "over limits, not read", reason, now)
            return Acted("over_limit", team_notified=acted.team_notified, notes=acted.notes)
        if route is Route.UNSUBSCRIBE and _UNSUBSCRIBE_SUBJECT.match(msg.subject):
            return self._unsubscribe(session, msg, now)
        if route is Route.TEAM_REPLY:
            return self._team_reply(session, row, msg, verdict, now)
        if kind is Classification.COMPLAINT:
            report = act_on_complaint(session, row.id, msg, self.verp, now)
            return self._after_report(session, row, msg, kind, report, now)
        if kind is Classification.BOUNCE or (
            route is not Route.SUPPORT and kind in _REPORT_CLASSES
        ):
            report = act_on_bounce(session, row.id, msg, self.verp, now)
            return self._after_report(session, row, msg, kind, report, now)
        if kind is Classification.HUMAN:
            return self._support(session, row, msg, verdict, now)
        if kind is Classification.OURSELVES:
            return Acted(notes=["from our own address: not shown to the team (loop guard)"])
        reason = f"not answered: {kind.value} ({', '.join(verdict.matched)})"
        return self._notice(session, row, msg, _LABELS.get(kind, kind.value), reason, now)

    def _after_report(
        self,
        session: Session,
        row: ReceivedMessage,
        msg: InboundMessage,
        kind: Classification,
        report: ReportOutcome,
        now: datetime,
    ) -> Acted:
        """A report's notes; the team sees what it could not act on, and people's words."""
        if report.unproven is not None:
            acted = self._notice(session, row, msg, "report not acted on", report.unproven, now)
            acted.notes[:0] = report.notes
            return acted
        if not report.notes and kind is Classification.HUMAN:
            reason = "written to a bounce address; nothing in it to act on"
            label = "mail to a bounce address, not answered"
            return self._notice(session, row, msg, label, reason, now)
        return Acted(notes=report.notes)

    def _notice(
        self,
        session: Session,
        row: ReceivedMessage,
        msg: InboundMessage,
        label: str,
        reason: str,
        now: datetime,
        *,
        answers_team: bool = False,
    ) -> Acted:
        """Show a message nobody answers to the team, unless it answers the team's own mail
        (and is not meant to: `answers_team`, a refused answer to a ticket's notification)."""
        if not answers_team and sent_to_address(session, thread_ids(msg), self.team_address):
            return Acted(notes=[f"{reason}; answers a team notification: not shown (loop guard)"])
        sender = usable_address(msg.from_address)
        shown = show_to_team(
            session,
            self.settings,
            inbound_id=row.id,
            msg=msg,
            sender=sender,
            customer=_customer(session, sender),
            notice=TeamNotice(label, reason),
            now=now,
        )
        return Acted(team_notified=shown, notes=[reason])

    def _support(
        self,
        session: Session,
        row: ReceivedMessage,
        msg: InboundMessage,
        verdict: Verdict,
        now: datetime,
    ) -> Acted:
        sender = usable_address(msg.from_address)
        if sender is None:
            reason = "not answered: no usable sender address"
            return self._notice(session, row, msg, _LABELS[Classification.INVALID], reason, now)
        copy = earlier_copy(session, row.id, msg.message_id, sender)
        if copy is not None:
            return Acted("duplicate", ticket_id=copy[1], notes=[f"copy of message {copy[0]}"])
        customer = _customer(session, sender)
        customer_id = customer.id if customer is not None else None
        # The ticket counts from when the message arrived, however long acting on it took.
        assignment = assign_ticket(session, msg, sender, customer_id, row.received_at)
        outcome = answer_support_mail(
            session,
            self.settings,
            inbound_id=row.id,
            msg=msg,
            sender=sender,
            customer=customer,
            assignment=assignment,
            may_answer=verdict.may_answer,
            now=now,
            reply_address=self.replies.address(assignment.ticket.id),
        )
        notes = [f"not acknowledged: {outcome.skipped_because}"] if outcome.skipped_because else []
        return Acted(
            ticket_id=assignment.ticket.id,
            acknowledged=outcome.acknowledged,
            team_notified=outcome.team_notified,
            notes=notes,
        )

    def _team_reply(
        self,
        session: Session,
        row: ReceivedMessage,
        msg: InboundMessage,
        verdict: Verdict,
        now: datetime,
    ) -> Acted:
        """A team member's answer to a ticket's notification: relayed, or shown refused."""
        check = reply_address_of(self.replies, recipients_of(row, msg))
        assert check is not None  # the route says there is one
        outcome = act_on_team_reply(session, self.settings, check, row, msg, verdict, now)
        where = f"T-{outcome.ticket_id}" if outcome.ticket_id is not None else "a ticket"
        if outcome.duplicate is not None:
            return Acted("duplicate", notes=[f"copy of message {outcome.duplicate}"])
        if outcome.relayed:
            return Acted(notes=[f"{outcome.author}'s answer relayed to the customer of {where}"])
        reason = f"answer to {where} by e-mail refused: {outcome.refused}; nothing was sent"
        if not outcome.show_team:
            return Acted(notes=[reason])
        label = f"answer to {where} refused"
        return self._notice(session, row, msg, label, reason, now, answers_team=True)

    def _unsubscribe(self, session: Session, msg: InboundMessage, now: datetime) -> Acted:
        match = _UNSUBSCRIBE_SUBJECT.match(msg.subject)
        assert match is not None
        validity = timedelta(days=self.settings.http.link_validity_days)
        digest = read_token(self._secret, "unsubscribe", match.group(1), now, validity)
        if digest is None:
            return Acted(notes=["unsubscribe with a forged or altered token"])
        changed = unsubscribe(session, digest, "mailto-unsubscribe", None, now)
        return Acted(notes=["unsubscribed" if changed else "unsubscribed before"])


def _customer(session: Session, sender: str | None) -> Customer | None:
    """The customer who wrote, unless they asked to be forgotten."""
    customer = get_customer(session, sender) if sender is not None else None
    return None if customer is None or customer.forgotten_at is not None else customer
