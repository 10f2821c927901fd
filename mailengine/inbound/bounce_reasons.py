"""Why one delivery failed, from the status code, the SMTP reply and the server's words.

The reason names follow sisimai's vocabulary (userunknown, mailboxfull, ...). Hard bounces are
the ones that say the address itself is gone: userunknown, hostunknown, hasmoved, and
notaccept when permanent. Everything else (full mailbox, spam filter, policy, delays) is soft:
the address may work tomorrow, so it is counted, not suppressed.
"""

from __future__ import annotations

import re

from mailengine.inbound import bounce_phrases as phrases
from mailengine.inbound.dsn import status_code

HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved"})
# Soft reasons that, said anywhere in a one-recipient report, outweigh a "no such user".
SOFT_OVERRIDES = frozenset({"mailboxfull", "mesgtoobig", "exceedlimit", "suspend"})

_REPLY_CODE = re.compile(r"(?<![\d.])([245][0-5]\d)(?:[ -]|$)")
_COMMAND = re.compile(
    r"in reply to (rcpt to|mail from|end of data|data|helo|ehlo|starttls|connect)"
    r"|after (rcpt to|mail from|end of data|pipelined data|data|initial connection|helo|ehlo)"
    r"|>>> (rcpt to|mail from|data|helo|ehlo|starttls)"
    r"|(rcpt to|mail from|data) response|did not like our (rcpt to|mail from|data)"
    r"|\[(rcpt_to|mail_from|data)\]|(rcpt to|mail from):? command|after (rcpt|mail|data) command"
    r"|smtp:(rcpt|mail|data)\b|does not like (recipient)"
    r"|while (?:sending|talking)[^.]*?(rcpt to|mail from|data)",
    re.IGNORECASE,
)


# The probes before the user-unknown check, then the rest, as (reason, pattern).
_FIRST_PROBES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("mailboxfull", phrases.MAILBOX_FULL),
    ("mesgtoobig", phrases.MESSAGE_TOO_BIG),
    ("exceedlimit", phrases.EXCEED_LIMIT),
    ("suspend", phrases.SUSPEND),
    ("hasmoved", phrases.HAS_MOVED),
    ("norelaying", phrases.NO_RELAYING),
    ("authfailure", phrases.AUTH_FAILURE),
)
_LATER_PROBES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("filtered", phrases.FILTERED),
    ("requireptr", phrases.REQUIRE_PTR),
    ("notcompliantrfc", phrases.NOT_COMPLIANT),
    ("badreputation", phrases.BAD_REPUTATION),
    ("contenterror", phrases.CONTENT_ERROR),
    ("rejected", phrases.REJECTED),
    ("notaccept", phrases.NOT_ACCEPT),
    ("hostunknown", phrases.HOST_UNKNOWN),
    ("spamdetected", phrases.SPAM),
    ("speeding", phrases.SPEEDING),
    ("toomanyconn", phrases.TOO_MANY_CONN),
    ("blocked", phrases.BLOCKED),
    ("virusdetected", phrases.VIRUS),
    ("policyviolation", phrases.POLICY),
    ("systemfull", phrases.SYSTEM_FULL),
    ("networkerror", phrases.NETWORK_ERROR),
    ("systemerror", phrases.SYSTEM_ERROR),
    ("expired", phrases.EXPIRED),
    ("securityerror", phrases.SECURITY),
    ("syntaxerror", phrases.SYNTAX),
    ("mailererror", phrases.MAILER_ERROR),
    ("vacation", phrases.VACATION),
)

# Enhanced status codes (RFC 3463) that name a reason on their own.
_STATUS_REASONS = {
    "1.1": "userunknown",
    "1.2": "hostunknown",
    "1.3": "userunknown",
    "1.4": "userunknown",
    "1.6": "hasmoved",
    "1.7": "rejected",
    "1.8": "rejected",
    "1.10": "notaccept",
    "2.1": "suspend",
    "2.2": "mailboxfull",
    "2.3": "exceedlimit",
    "2.4": "systemerror",
    "3.1": "systemfull",
    "3.2": "notaccept",
    "3.4": "mesgtoobig",
    "3.5": "systemerror",
    "4.1": "networkerror",
    "4.2": "networkerror",
    "4.3": "systemerror",
    "4.4": "hostunknown",
    "4.5": "toomanyconn",
    "4.6": "networkerror",
    "4.7": "expired",
    "5.3": "syntaxerror",
    "7.1": "securityerror",
    "7.23": "authfailure",
    "7.24": "authfailure",
    "7.25": "requireptr",
    "7.26": "authfailure",
    "7.27": "notaccept",
    "7.7": "securityerror",
    "7.13": "suspend",
}


def reply_code(text: str) -> str | None:
    """The first SMTP reply code (like 550) in a server's answer."""
    match = _REPLY_CODE.search(text)
    return match.group(1) if match else None


def smtp_command(text: str) -> str | None:
    """The SMTP command the failure answered: RCPT, MAIL, DATA, HELO or CONN."""
    match = _COMMAND.search(text)
    if not match:
        return None
    word = next(group for group in match.groups() if group).lower()
    if "rcpt" in word or word == "recipient":
        return "RCPT"
    if "mail" in word:
        return "MAIL"
    if "data" in word:
        return "DATA"
    if word in ("helo", "ehlo", "starttls"):
        return "HELO"
    return "CONN"


def find_reason(
    text: str,
    status: str | None,
    code: str | None,
    action: str | None,
    *,
    command: str | None = None,
    diagnostic_type: str | None = None,
) -> str:
    """The reason name for one failed recipient; `command` is the SMTP command that failed."""
    lowered = " ".join(text.lower().split())
    if action == "delivered" or (status or "").startswith("2."):
        return "delivered"
    if (diagnostic_type or "").startswith("X-UNIX"):
        return "mailererror"
    command = command or smtp_command(lowered)
    by_status = _status_reason(status)
    if code in ("521", "556") and not phrases.USER_UNKNOWN.search(lowered):
        return "blocked" if phrases.LISTED.search(lowered) else "notaccept"
    for reason, pattern in _FIRST_PROBES:
        if pattern.search(lowered):
            return reason
    if code == "525":
        return "suspend"
    if command == "MAIL" or by_status == "rejected":
        return "rejected"
    if by_status == "userunknown" and not phrases.NOT_USER_UNKNOWN.search(lowered):
        return "userunknown"
    if phrases.LOCAL_USER_UNKNOWN.search(lowered):
        return "userunknown"
    if phrases.USER_UNKNOWN.search(lowered):
        said = _user_unknown_said(lowered, command, by_status)
        if said is not None:
            return said
    later = _later_probe(lowered, status)
    if later is not None:
        return later
    if by_status:
        return by_status
    if action == "delayed":
        return "expired"
    if status and status[2:].startswith("6"):
        return "contenterror"
    if status and status[2:].startswith("7"):
        return "securityerror"
    return "onhold" if lowered else "undefined"


def is_hard(reason: str, status: str | None, code: str | None, text: str) -> bool:
    """Whether the address should be suppressed: it does not exist, or accepts no mail at all."""
    if reason in HARD_REASONS:
        return True
    if reason != "notaccept":
        return False
    first = (status or code or "")[:1]
    if first:
        return first == "5"
    return not phrases.TEMPORARY.search(text)


def status_in(text: str) -> str | None:
    """An enhanced status code written in a server's answer (`550 5.1.1 ...`)."""
    return status_code(text)


def _status_reason(status: str | None) -> str | None:
    if not status:
        return None
    detail = status.split(".", 1)[1] if "." in status else ""
    return _STATUS_REASONS.get(detail)


def _user_unknown_said(lowered: str, command: str | None, by_status: str | None) -> str | None:
    """What a "no such user" phrase means by where it was said: at RCPT, or in a report that
    names the address and no relay, the mailbox is unknown; after DATA it is a filter's
    wording; elsewhere it decides nothing."""
    if command == "RCPT":
        return "userunknown"
    if (
        command is None
        and by_status is None
        and phrases.ADDRESS_USER_UNKNOWN.search(lowered)
        and not phrases.RELAY_SAID.search(lowered)
    ):
        return "userunknown"
    if command in (None, "DATA"):
        return "filtered"
    return None


def _later_probe(lowered: str, status: str | None) -> str | None:
    """The first of the later phrase probes that matches; an unknown host said temporarily
    (a 4.x.x status, "try again") is a network error, not a lost domain."""
    for reason, pattern in _LATER_PROBES:
        if not pattern.search(lowered):
            continue
        if (
            reason == "hostunknown"
            and not phrases.AUTHORITATIVE_NO_HOST.search(lowered)
            and (
                (status or "").startswith("4")
                or phrases.TEMPORARY.search(lowered)
                or "not found, try again" in lowered
            )
        ):
            return "networkerror"
        return reason
    return None
