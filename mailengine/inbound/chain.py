"""The declarative chain: which rule means which classification, and whether we may answer.

Like GNU Mailman's chains/builtin.py, the order of the table is the order of precedence: the
first rule that matches decides the classification; every rule is still checked so the log
names all of them. Only a message no rule matched is a human we may answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mailengine.inbound import rules
from mailengine.inbound.message import InboundMessage


class Classification(StrEnum):
    HUMAN = "human"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    LIST_BULK = "list_bulk"
    OURSELVES = "ourselves"
    OVERSIZED = "oversized"
    INVALID = "invalid"


@dataclass(frozen=True)
class ChainLink:
    rule: rules.Rule
    classification: Classification


@dataclass(frozen=True)
class Verdict:
    """What the chain concluded, and the names of every rule that matched (for the log)."""

    classification: Classification
    may_answer: bool
    matched: tuple[str, ...]


class RuleChain:
    def __init__(self, links: Sequence[ChainLink]) -> None:
        self.links = tuple(links)

    def classify(self, msg: InboundMessage) -> Verdict:
        matched = [link for link in self.links if link.rule.check(msg)]
        if not matched:
            return Verdict(Classification.HUMAN, may_answer=True, matched=())
        return Verdict(
            matched[0].classification,
            may_answer=False,
            matched=tuple(link.rule.name for link in matched),
        )


def default_chain(
    *, own_addresses: Iterable[str] = (), own_domains: Iterable[str] = ()
) -> RuleChain:
    """The standard chain; `own_*` are the addresses and domains mailengine sends from."""
    table: list[tuple[rules.Rule, Classification]] = [
        (rules.OverLimits(), Classification.OVERSIZED),
        (rules.OwnAddress(own_addresses, own_domains), Classification.OURSELVES),
        (rules.FeedbackReport(), Classification.COMPLAINT),
        (rules.ComplaintText(), Classification.COMPLAINT),
        (rules.DeliveryStatusReport(), Classification.BOUNCE),
        (rules.BounceHeaders(), Classification.BOUNCE),
        (rules.DispositionNotification(), Classification.AUTO_REPLY),
        (rules.SystemSender(), Classification.BOUNCE),
        (rules.BounceSubject(), Classification.BOUNCE),
        (rules.BounceText(), Classification.BOUNCE),
        (rules.AutoSubmitted(), Classification.AUTO_REPLY),
        (rules.AutoReplyHeaders(), Classification.AUTO_REPLY),
        (rules.AutoResponseSuppress(), Classification.AUTO_REPLY),
        (rules.AutoReplySubject(), Classification.AUTO_REPLY),
        (rules.AbsenceNoticeText(), Classification.AUTO_REPLY),
        (rules.XLoop(), Classification.AUTO_REPLY),
        (rules.NoReplySender(), Classification.AUTO_REPLY),
        (rules.NullReturnPath(), Classification.AUTO_REPLY),
        (rules.Precedence(), Classification.LIST_BULK),
        (rules.ListHeaders(), Classification.LIST_BULK),
        (rules.ListSoftwareHeaders(), Classification.LIST_BULK),
        (rules.ListSender(), Classification.LIST_BULK),
        (rules.BulkSenderHeaders(), Classification.LIST_BULK),
        (rules.InvalidSender(), Classification.INVALID),
    ]
    return RuleChain([ChainLink(rule, classification) for rule, classification in table])
