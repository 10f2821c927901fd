"""The names of the ways a delivery goes wrong, told from a reply code and a reply text.

One table serves the transport's warnings (from each `DeliveryResult`) and the outbox figures
of `mailengine status` and `/metrics` (from a row's `last_code` and `last_reply`, compiled to
SQL by the store), so a log line and a gauge always name a fault alike.

A reply code decides first: 421, 450, 451, 452, 535, 550 and 552 have classes of their own,
any other 4xx or 5xx is "other 4xx reply" or "other 5xx reply". Without a code, the text does:
the SMTP transport begins each connection-level failure with its class and a colon
("connection refused: 127.0.0.1:25: ..."), and the dispatcher keeps the text when it gives up
("gave up after 9 attempts: timeout: ..."), so a phrase anywhere in the text names it.
"""

from __future__ import annotations

from dataclasses import dataclass

OTHER_TEMPORARY = "other 4xx reply"
OTHER_PERMANENT = "other 5xx reply"
OTHER = "other"

# Classes the SMTP transport writes at the start of a reply it makes up itself.
BACKED_OFF = "backed off"
TLS_FAILED = "TLS failed"
TIMEOUT = "timeout"
CONNECTION_REFUSED = "connection refused"
CANNOT_CONNECT = "cannot connect"
CONNECTION_DROPPED = "connection dropped"


@dataclass(frozen=True, slots=True)
class CodeClass:
    code: int
    name: str


@dataclass(frozen=True, slots=True)
class PhraseClass:
    """A reply without a code whose text contains one of `phrases` (compared in lower case)."""

    name: str
    phrases: tuple[str, ...]


CODE_CLASSES = (
    CodeClass(421, "service closing (421)"),
    CodeClass(450, "mailbox busy (450)"),
    CodeClass(451, "local error (451)"),
    CodeClass(452, "insufficient storage (452)"),
    CodeClass(535, "authentication failed (535)"),
    CodeClass(550, "refused (550)"),
    CodeClass(552, "too big / storage (552)"),
)
# In order: the first match names the fault. "backed off" comes first because its text
# quotes the failure that caused it.
PHRASE_CLASSES = (
    PhraseClass(BACKED_OFF, (BACKED_OFF + ":",)),
    PhraseClass(TLS_FAILED, (TLS_FAILED.lower() + ":",)),
    PhraseClass(TIMEOUT, (TIMEOUT + ":", "no reply in time", "timed out")),
    PhraseClass(CONNECTION_REFUSED, (CONNECTION_REFUSED + ":",)),
    PhraseClass(CANNOT_CONNECT, (CANNOT_CONNECT + ":", "cannot connect to")),
    PhraseClass(CONNECTION_DROPPED, (CONNECTION_DROPPED + ":", "connection lost")),
    PhraseClass("write failed", ("cannot write",)),
    PhraseClass("render error", ("render error", "cannot build")),
)
_BY_CODE = {rule.code: rule.name for rule in CODE_CLASSES}

# Every name a fault can get, for gauges that list each class (with 0 when none).
FAULT_CLASSES: tuple[str, ...] = (
    *(rule.name for rule in CODE_CLASSES),
    OTHER_TEMPORARY,
    OTHER_PERMANENT,
    *(rule.name for rule in PHRASE_CLASSES),
    OTHER,
)


def fault_class(code: int | None, reply: str | None) -> str:
    """The class of a deferral or failure with this reply code (or none) and text."""
    if code is not None:
        named = _BY_CODE.get(code)
        if named is not None:
            return named
        if 400 <= code < 500:
            return OTHER_TEMPORARY
        if 500 <= code < 600:
            return OTHER_PERMANENT
        return OTHER
    text = (reply or "").lower()
    for rule in PHRASE_CLASSES:
        if any(phrase in text for phrase in rule.phrases):
            return rule.name
    return OTHER
