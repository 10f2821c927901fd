"""Inbound mail: parse safely, classify with named rules, read bounces and complaints; and
the support desk it feeds: tickets, the autoresponder, people's answers (from the studio, by
e-mail to a ticket's signed reply address, from scripts), saved replies, waiting clocks.

It may import the shared vocabulary, `store`, `render` (saved replies render as templates
do) and the names `outbound` exports; nothing of `engine`, `web` or `cli`.
"""

from mailengine.inbound.bounces import BouncedRecipient, BounceReport, parse_bounce
from mailengine.inbound.chain import Classification, RuleChain, Verdict, default_chain
from mailengine.inbound.complaints import ComplaintReport, parse_complaint
from mailengine.inbound.message import DEFAULT_LIMITS, InboundLimits, InboundMessage, MimePart
from mailengine.inbound.parse import parse_inbound
from mailengine.inbound.verp_lookup import VerpKey

__all__ = [
    "DEFAULT_LIMITS",
    "BounceReport",
    "BouncedRecipient",
    "Classification",
    "ComplaintReport",
    "InboundLimits",
    "InboundMessage",
    "MimePart",
    "RuleChain",
    "Verdict",
    "VerpKey",
    "default_chain",
    "parse_bounce",
    "parse_complaint",
    "parse_inbound",
]
