"""Saved replies personalised for a ticket's customer, as templates are.

A saved reply is Jinja text (`Hello {{ customer.first_name | default('there') }}, your
order {{ order.external_id }} ...`). It is checked when saved as subjects are checked (unknown
names, values some customers lack used without a fallback) and rendered, when a person
inserts it into an answer, in the same sandbox and from the same context a template of a mail
to this customer about this ticket sees: their profile, their orders (`order` is the latest),
`ticket`, `sender`, `links`. What it renders is plain text the person can still edit; the
answer itself is never run as a template.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.errors import MailengineError
from mailengine.outbound import Composer
from mailengine.render.environment import text_environment
from mailengine.render.library import TemplateLibrary
from mailengine.store.recipients import RecipientSnapshot, load_recipients
from mailengine.store.tickets import TicketRow

# What a saved reply may count on: it is always about a ticket.
GUARANTEED = frozenset({"ticket"})
MAX_SNIPPET_CHARS = 20_000
_ENVIRONMENT = text_environment()


class SnippetError(MailengineError, ValueError):
    """A saved reply that cannot be saved or rendered; the message says why and where."""


def snippet_problems(library: TemplateLibrary, name: str, source: str) -> list[str]:
    """Why a saved reply cannot be kept as written (empty when it can)."""
    if not name.strip():
        return ["give the saved reply a name"]
    if len(name) > 100:
        return ["the name is longer than 100 characters"]
    if not source.strip():
        return ["the saved reply has no text"]
    if len(source) > MAX_SNIPPET_CHARS:
        return [f"the text is longer than {MAX_SNIPPET_CHARS:,} characters"]
    found = library.check_line(source, path=f"saved reply {name.strip()!r}", present=GUARANTEED)
    return [str(problem) for problem in found]


def snippet_context(
    session: Session, composer: Composer, ticket: TicketRow, now: datetime
) -> dict[str, Any]:
    """What a template of a mail to this ticket's customer about this ticket sees."""
    recipient = None
    if ticket.customer_id is not None:
        recipient = load_recipients(session, [ticket.customer_id]).get(ticket.customer_id)
    if recipient is None or recipient.forgotten:
        recipient = _stranger(ticket.address)
    payload: dict[str, Any] = {"ticket": {"reference": ticket.reference, "subject": ticket.subject}}
    if recipient.orders:
        payload["order"] = recipient.orders[0].external_id
    return composer.context(recipient, now, payload=payload)


def render_snippet(source: str, context: dict[str, Any], name: str) -> str:
    """The saved reply's text for this context; SnippetError names what failed."""
    try:
        return _ENVIRONMENT.from_string(source).render(context).strip()
    except Exception as error:  # any failure of one saved reply is the person's to fix
        customer = context.get("customer", {}).get("email", "this customer")
        raise SnippetError(
            f"the saved reply {name!r} cannot be filled in for {customer}: {error}"
        ) from error


def _stranger(address: str) -> RecipientSnapshot:
    """Someone who is not a customer: templates see their address only."""
    return RecipientSnapshot(
        id=0,
        email=address,
        email_hash=address_hash(address),
        profile={},
        consent_status="unknown",
        forgotten=False,
        suppression=None,
    )
