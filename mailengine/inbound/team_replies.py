"""A team member's answer by e-mail: mail to a ticket's signed reply address, relayed to the
customer as a person's answer from the studio is.

The team notification of a ticket names its signed reply address as Reply-To, so answering
the notification from any mail program sends the answer here. It is relayed only when every
check holds: the address is genuine (its signature, see `reply_address`), the sender is a
studio account with the support or admin role, the message is not automatic (an
out-of-office answer to the notification must never reach the customer), the ticket exists,
and something stands above the quoted notification. Otherwise nothing is sent to the
customer and the outcome says why (the caller shows it to the team, except for automatic
mail, which would only make noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailengine.config import Settings
from mailengine.inbound.chain import Verdict
from mailengine.inbound.human_replies import HumanReply, ReplyRefused, plan_human_reply
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.quoting import strip_quoted
from mailengine.inbound.reply_address import ReplyAddressCheck, ReplyAddresses
from mailengine.inbound.report_actions import usable_address
from mailengine.store.desk import Author
from mailengine.store.inbound_store import ReceivedMessage, earlier_copy
from mailengine.store.users import UserRecord, user_by_email

TEAM_ROLES = ("support", "admin")
# Rules that only say the mail comes from our own domain: team members write from it.
_OWN_DOMAIN_RULES = frozenset({"own_address"})


@dataclass(frozen=True)
class TeamReplyOutcome:
    """`relayed`: planned for the customer; else `refused` says why, `show_team` whether the
    team should see the refused message; `duplicate` names the earlier copy."""

    ticket_id: int | None
    relayed: bool = False
    refused: str | None = None
    show_team: bool = True
    duplicate: int | None = None
    author: str | None = None


def reply_address_of(replies: ReplyAddresses, addresses: list[str]) -> ReplyAddressCheck | None:
    """The first genuine reply address among `addresses`, else the first of the reply form."""
    checks = [found for found in map(replies.check, addresses) if found is not None]
    genuine = [found for found in checks if found.genuine]
    return next(iter(genuine or checks), None)


def act_on_team_reply(
    session: Session,
    settings: Settings,
    check: ReplyAddressCheck,
    row: ReceivedMessage,
    msg: InboundMessage,
    verdict: Verdict,
    now: datetime,
) -> TeamReplyOutcome:
    """Relay the answer in `msg` (sent to the reply address `check` read) to the customer."""
    if not check.genuine:
        return TeamReplyOutcome(check.ticket_id, refused=check.problem)
    assert check.ticket_id is not None
    sender = usable_address(msg.from_address)
    user = user_by_email(session, sender) if sender is not None else None
    refused = _refusal(sender, user, msg, verdict, settings)
    if refused is not None:
        automatic = user is not None and refused.startswith("automatic")
        return TeamReplyOutcome(check.ticket_id, refused=refused, show_team=not automatic)
    assert user is not None
    copy = earlier_copy(session, row.id, msg.message_id, sender)
    if copy is not None:
        return TeamReplyOutcome(check.ticket_id, duplicate=copy[0], author=user.email)
    answer = HumanReply(
        ticket_id=check.ticket_id,
        author=Author(user.id, user.email, "email"),
        body=strip_quoted(msg.body_text),
        request_key=f"email:{row.id}",
    )
    try:
        plan_human_reply(session, settings, answer, now)
    except ReplyRefused as error:
        return TeamReplyOutcome(check.ticket_id, refused=str(error), author=user.email)
    return TeamReplyOutcome(check.ticket_id, relayed=True, author=user.email)


def _refusal(
    sender: str | None,
    user: UserRecord | None,
    msg: InboundMessage,
    verdict: Verdict,
    settings: Settings,
) -> str | None:
    if user is None or user.role not in TEAM_ROLES:
        who = sender or "the sender"
        return f"{who} is not the address of a studio account with the support or admin role"
    automatic = [rule for rule in verdict.matched if rule not in _OWN_DOMAIN_RULES]
    support = settings.inbound.support_address.lower()
    if support in " ".join(msg.headers.get_all("x-loop")).lower():
        automatic.append("x_loop")
    if automatic:
        return f"automatic mail ({', '.join(automatic)}), not an answer"
    if msg.body_truncated and strip_quoted(msg.body_text) == msg.body_text.strip():
        return "the answer is longer than inbound mail is read; answer in the studio"
    attached = _attached_files(msg)
    if attached:
        return (
            f"the answer carries {', '.join(attached)}, and answers go to the customer as text "
            "only; answer again without attachments"
        )
    return None


def _attached_files(msg: InboundMessage) -> list[str]:
    """Files attached to the answer itself (not inline images such as a signature's logo,
    nor parts of a quoted message): relaying the text alone would drop them unseen."""
    return [
        repr(part.filename or part.content_type)
        for part in msg.parts
        if part.disposition == "attachment" and not part.enclosed
    ][:5]
