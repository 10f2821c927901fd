"""What an SMTP reply means for one message: sent, deferred or failed, and is it a hard bounce.

Status follows the basic reply code (RFC 5321 4.2.1): 2xx sent, 4xx deferred, 5xx failed.
Dropped and stalled connections are deferred: the message may be tried again.

A hard bounce says the address itself is dead, so it goes on the suppression list. From the
enhanced status code (RFC 3463) when the server gives one:

| code              | meaning                                   | hard bounce |
|-------------------|-------------------------------------------|-------------|
| 5.1.0 (at RCPT)   | other address status                      | yes         |
| 5.1.1             | bad destination mailbox (no such user)    | yes         |
| 5.1.2             | bad destination system (no such domain)   | yes         |
| 5.1.3             | bad destination mailbox address syntax    | yes         |
| 5.1.6             | mailbox has moved, no forwarding address  | yes         |
| 5.1.10            | recipient domain has a null MX (RFC 7505) | yes         |
| 5.2.1             | mailbox disabled, not accepting messages  | yes         |
| 5.4.4 (at RCPT)   | unable to route: domain does not exist    | yes         |
| 5.1.7, 5.1.8      | the *sender's* address is bad             | no (ours)   |
| 5.2.2             | mailbox full                              | no          |
| 5.2.3, 5.3.4, 552 | message too big                           | no          |
| 5.7.x             | policy, spam, authentication (DMARC...)   | no          |
| 5.3.x, 5.4.x, 5.5.x, 5.6.x | system, network, protocol, content | no          |

Without an enhanced code (or with a generic one: 5.0.0, 5.3.0, 5.5.0), a 550, 551 or 553
answer to RCPT whose text says the user or mailbox does not exist is a hard bounce; any other
reply without one is not (a blocked IP must not wipe out a list).

Replies to the connection set-up (greeting, EHLO, STARTTLS, AUTH) and to MAIL FROM concern our
side and every message alike ("530 authentication required", "553 sender domain unknown"), so
a 5xx there defers rather than fails: a wrong password, a missing STARTTLS or a bounce domain
without DNS must not fail a campaign; the retry age limit ends it if nobody fixes the cause.
"""

from __future__ import annotations

import re

from mailengine.outbound.transport.base import DeliveryResult, DeliveryStatus

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_HARD_ALWAYS = frozenset({"1.1", "1.2", "1.3", "1.6", "1.10", "2.1"})
_HARD_AT_RCPT = frozenset({"1.0", "4.4"})
_GENERIC = frozenset({"0.0", "3.0", "5.0"})  # say nothing: the text decides, as without a code
_UNKNOWN_USER = re.compile(
    r"(no such|unknown|invalid|non-?existent|does not exist|doesn't exist|not found|"
    r"disabled|deactivated|inactive)\s*(user|recipient|mailbox|address|account)?|"
    r"(user|recipient|mailbox|address|account)\s+(unknown|not found|does not exist|"
    r"doesn't exist|is disabled|is inactive|unavailable)",
    re.IGNORECASE,
)

CONNECT = "connect"
MAIL = "mail"
RCPT = "rcpt"
DATA = "data"
DATA_END = "data-end"


def enhanced_status(code: int, text: str) -> str | None:
    """The RFC 3463 code at the start of the reply text, if its class matches the reply's."""
    match = _ENHANCED.match(text)
    if match is None or match[1] != str(code)[0]:
        return None
    return f"{match[1]}.{int(match[2])}.{int(match[3])}"


def classify_reply(code: int, text: str, *, stage: str, message_id: str) -> DeliveryResult:
    """The result of one message whose dialogue ended with `code text` at `stage`."""
    enhanced = enhanced_status(code, text)
    if 200 <= code < 300:
        status = DeliveryStatus.SENT
    elif 500 <= code < 600 and stage not in (CONNECT, MAIL):
        status = DeliveryStatus.FAILED
    else:  # 4xx, a 5xx to the connection set-up, or nonsense
        status = DeliveryStatus.DEFERRED
    hard = status is DeliveryStatus.FAILED and is_hard_bounce(code, enhanced, text, stage)
    return DeliveryResult(
        status=status,
        message_id=message_id,
        smtp_code=code,
        enhanced_code=enhanced,
        reply=text,
        hard_bounce=hard,
        stage=stage,
    )


def is_hard_bounce(code: int, enhanced: str | None, text: str, stage: str) -> bool:
    """Does this permanent failure say the recipient address itself is dead? (table above)"""
    if code < 500:
        return False
    if enhanced is not None:
        detail = enhanced.split(".", 1)[1]
        if detail in _HARD_ALWAYS or (stage == RCPT and detail in _HARD_AT_RCPT):
            return True
        if detail not in _GENERIC:
            return False
    return stage == RCPT and code in (550, 551, 553) and _UNKNOWN_USER.search(text) is not None


def connection_failure(reason: str, *, stage: str, message_id: str) -> DeliveryResult:
    """A dropped, refused or stalled connection: deferred, no reply code."""
    return DeliveryResult(
        status=DeliveryStatus.DEFERRED, message_id=message_id, reply=reason, stage=stage
    )
