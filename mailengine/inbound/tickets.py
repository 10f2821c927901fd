"""Which ticket a customer's message belongs to: by the reference in its subject, by threading
headers, or a new one.

A message joins a ticket only when it comes from that ticket's address or customer: a
stranger who copies `[T-12]` into a subject opens a ticket of their own instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailengine.inbound.message import InboundMessage
from mailengine.store.tickets import (
    TicketRow,
    add_to_thread,
    get_ticket,
    open_ticket,
    ticket_of_thread,
    touch_ticket,
)

_REFERENCE = re.compile(r"\[\s*T-(\d{1,9})\s*\]", re.IGNORECASE)
_SUBJECT_PREFIX = re.compile(
    r"^\s*((re|aw|sv|fw|fwd|wg|antw|tr|rif|r)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE
)


@dataclass(frozen=True)
class TicketAssignment:
    """The ticket a message went to and how: `joined_by` is "reference", "thread" or None."""

    ticket: TicketRow
    opened: bool
    reopened: bool = False
    joined_by: str | None = None


def references_in(subject: str) -> list[int]:
    """Ticket numbers written as `[T-42]` in a subject, in order."""
    return [int(number) for number in _REFERENCE.findall(subject)]


def bare_subject(subject: str) -> str:
    """The subject without reply prefixes (Re:, AW:, Fwd: ...) and ticket references."""
    without_reference = _REFERENCE.sub(" ", subject)
    return " ".join(_SUBJECT_PREFIX.sub("", without_reference).split())


def thread_ids(msg: InboundMessage) -> list[str]:
    """The Message-IDs this message answers: References in order, then In-Reply-To."""
    ids = list(msg.references)
    if msg.in_reply_to:
        ids.append(msg.in_reply_to)
    return list(dict.fromkeys(ids))


def assign_ticket(
    session: Session,
    msg: InboundMessage,
    sender: str,
    customer_id: int | None,
    now: datetime,
) -> TicketAssignment:
    """Join the conversation this message continues, or open a ticket for it."""
    assignment = _join(session, msg, sender, customer_id, now)
    if assignment is None:
        subject = bare_subject(msg.subject) or msg.subject.strip()
        assignment = TicketAssignment(
            open_ticket(session, customer_id, sender, subject, now), opened=True
        )
    add_to_thread(session, assignment.ticket.id, [msg.message_id])
    return assignment


def _join(
    session: Session, msg: InboundMessage, sender: str, customer_id: int | None, now: datetime
) -> TicketAssignment | None:
    candidates: list[tuple[int, str]] = [
        (number, "reference") for number in references_in(msg.subject)
    ]
    threaded = ticket_of_thread(session, thread_ids(msg))
    if threaded is not None:
        candidates.append((threaded, "thread"))
    for ticket_id, how in candidates:
        ticket = get_ticket(session, ticket_id)
        if ticket is None or not _belongs(ticket, sender, customer_id):
            continue
        reopened = touch_ticket(session, ticket.id, now)
        current = get_ticket(session, ticket.id)
        assert current is not None
        return TicketAssignment(current, opened=False, reopened=reopened, joined_by=how)
    return None


def _belongs(ticket: TicketRow, sender: str, customer_id: int | None) -> bool:
    if ticket.address == sender:
        return True
    return customer_id is not None and ticket.customer_id == customer_id
