"""Non-standard bounces: the human-readable report of qmail, Exim, Exchange, Notes and others.

Mail servers that send no message/delivery-status part still write the failed address and the
remote server's answer in the text. This module finds the report text, cuts off the returned
original, and pairs each failed address with the lines that describe its failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailengine.inbound.headers import HeaderMap
from mailengine.inbound.html_text import html_to_text
from mailengine.inbound.message import InboundMessage

# Where the returned original starts in the report text of common MTAs.
_ORIGINAL_STARTS = re.compile(
    r"^\s*(?:-{2,}\s*below this line is a copy of the message"
    r"|-+\s*this is a copy of the message"
    r"|-+\s*(?:original|returned|unsent|undelivered) message"
    r"|-+\s*(?:the )?(?:original|returned) message (?:follows|headers follow)"
    r"|-+\s*(?:message|original message) (?:headers|text) follows?"
    r"|message headers follow"
    r"|original message:?$"
    r"|-+\s*unsent message follows"
    r"|-+\s*returned message\s*-+"
    r"|content-type: message/rfc822"
    r"|-+ original message header -+"
    r"|\*{3,}\s*original message"
    r"|\s*original message follows"
    r"|-{5,} original message -{5,}"
    r"|-{5,}\s*copie du message)",
    re.IGNORECASE | re.MULTILINE,
)

# Wording only mail servers use in their reports.
_REPORT_PHRASES = re.compile(
    r"this is the (?:qmail-send|mail system|mail delivery|dragonfly mail agent)"
    r"|i'm afraid i wasn't able to deliver|this message was created automatically by mail"
    r"|delivery to the following recipients? failed|could not be delivered to one or more"
    r"|the following addresses had permanent fatal errors|transcript of session follows"
    r"|did not reach the following recipient|was not delivered to:|your message could not be"
    r" delivered|unable to deliver your message|delivery has failed to these recipients"
    r"|the following message to <|message could not be delivered|delivery to the following"
    r"|failed permanently|smtp error from remote mail server|remote host said:"
    r"|each of the following recipients was rejected|there was an error delivering your mail"
    r"|unable to deliver message to|the original message was received at"
    r"|your message (?:was|has been) (?:not delivered|rejected|returned)"
    r"|permanent error|message delivery (?:has )?failed|failure reasons",
    re.IGNORECASE,
)

_ADDRESS = re.compile(
    r"(?<![\w.+=-])([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
_HEADER_LINE = re.compile(
    r"^\s*(?:to|from|cc|subject|sent|date|reply-to|return-path|message-id|sender)\s*:",
    re.IGNORECASE,
)
# sendmail's transcript line about a host ("550 example.org (smtp)... 550 Host unknown"): it
# belongs to the recipient named next, not to the one before it.
_HOST_LINE = re.compile(r"^\s*[245]\d\d[ -][^\s@<>]+ \([\w-]+\)\.\.\. ")
_SYSTEM_LOCAL = re.compile(r"^(?:mailer-daemon|postmaster|abuse|noreply|no-reply)$", re.I)
_URL = re.compile(r"\b(?:https?|mailto):\S+", re.IGNORECASE)


@dataclass(frozen=True)
class TextFailure:
    """One failed address and the report lines about it."""

    recipient: str
    text: str
    preamble: str = ""  # the lines before the first address: some servers give the reason there


def report_text(msg: InboundMessage) -> str:
    """The report a person would read: non-enclosed text parts, the returned original cut off."""
    pieces: list[str] = []
    for part in msg.parts:
        if part.enclosed or part.text is None or part.is_attachment:
            continue
        if part.content_type == "text/plain" or part.content_type.startswith("multipart/"):
            pieces.append(part.text)  # a multipart with text lost its boundaries
    if not pieces:
        for part in msg.parts:
            if part.content_type == "text/html" and not part.enclosed and part.text:
                pieces.append(html_to_text(part.text))
                break
    return "\n".join(_before_original(piece) for piece in pieces)


def returned_original_text(msg: InboundMessage) -> str:
    """Text after an original-message marker, where servers paste the returned headers inline."""
    for part in msg.parts:
        if part.enclosed or part.text is None or part.content_type != "text/plain":
            continue
        match = _ORIGINAL_STARTS.search(part.text)
        if match:
            return part.text[match.end() :]
    return ""


def looks_like_bounce_text(msg: InboundMessage) -> bool:
    """A body in a mail server's words (for bounces sent with neither report type nor headers)."""
    return bool(_REPORT_PHRASES.search(report_text(msg)[:20_000]))


def text_failures(text: str, exclude: Iterable[str]) -> list[TextFailure]:
    """Failed addresses in report text, each with the lines from its first mention to the next."""
    excluded = {address.lower() for address in exclude if address}
    lines = text.split("\n")
    on_line: list[set[str]] = []
    order: list[str] = []
    for line in lines:
        found: set[str] = set()
        if not _HEADER_LINE.match(line):
            for match in _ADDRESS.finditer(_URL.sub(" ", line)):
                address = match.group(1).strip(".").lower()
                if address in excluded or _SYSTEM_LOCAL.match(address.split("@", 1)[0]):
                    continue
                found.add(address)
                if address not in order:
                    order.append(address)
        on_line.append(found)
    if not order:
        return []
    first_line = {
        address: next(n for n, f in enumerate(on_line) if address in f) for address in order
    }
    preamble = "\n".join(lines[: min(first_line.values())])
    failures: list[TextFailure] = []
    for address in order:
        start = first_line[address]
        end = next(
            (
                n
                for n in range(start + 1, len(lines))
                if (on_line[n] and address not in on_line[n]) or _HOST_LINE.match(lines[n])
            ),
            len(lines),
        )
        failures.append(TextFailure(address, "\n".join(lines[start:end]), preamble))
    return failures


def inline_original_headers(text: str) -> HeaderMap:
    """Header lines pasted after an original-message marker (some indent them)."""
    items: list[tuple[str, str]] = []
    for line in text.lstrip("\n").split("\n")[:200]:
        stripped = line.strip()
        if not stripped:
            if items:
                break
            continue
        name, colon, value = stripped.partition(":")
        if colon and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", name):
            items.append((name, value.strip()))
        elif items and line[:1] in (" ", "\t"):
            last_name, last_value = items[-1]
            items[-1] = (last_name, f"{last_value} {stripped}")
    return HeaderMap(items)


def _before_original(text: str) -> str:
    match = _ORIGINAL_STARTS.search(text)
    return text[: match.start()] if match else text
