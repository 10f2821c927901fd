"""Raw inbound bytes to an InboundMessage: never raises, caps what it reads, marks what it skips."""

from __future__ import annotations

import bisect
import email
import re
from collections.abc import Sequence
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser

from mailengine.inbound.headers import (
    HeaderMap,
    address_list,
    decode_words,
    loose_address,
    message_ids,
    parse_date,
    single_line,
    strict_address,
)
from mailengine.inbound.html_text import html_to_text
from mailengine.inbound.message import (
    DEFAULT_LIMITS,
    OVER_DEPTH,
    OVER_HEADER_COUNT,
    OVER_HEADER_LENGTH,
    OVER_SIZE,
    UNPARSEABLE,
    InboundLimits,
    InboundMessage,
    MimePart,
)
from mailengine.inbound.mime_tree import flatten, header_map

_HEADER_END = re.compile(rb"\r\n\r\n|\n\n|\r\r|\n\r\n")
_BOUNDARY = re.compile(rb"boundary\s*=\s*\"?([^\"\s;]{1,200})", re.IGNORECASE)
_CLOSING_DELIMITER = re.compile(rb"^--(.{1,200}?)--[ \t]*\r?$", re.MULTILINE)
_HEADERS_ONLY_BYTES = 1_000_000


def parse_inbound(
    raw: bytes,
    limits: InboundLimits = DEFAULT_LIMITS,
    *,
    envelope_sender: str | None = None,
    envelope_recipients: Sequence[str] = (),
) -> InboundMessage:
    """Parse one message as received; the SMTP envelope, when known, is passed in.

    Whatever the input, this returns a message: over a cap it is marked in `over_limits`, and
    if the parser itself fails it is marked `unparseable` with whatever could be read.
    """
    try:
        return _parse(raw, limits, envelope_sender, tuple(envelope_recipients))
    except Exception:  # the last guard: a broken message must still be stored and marked
        return _unparseable(raw, envelope_sender, tuple(envelope_recipients))


def _parse(
    raw: bytes,
    limits: InboundLimits,
    envelope_sender: str | None,
    envelope_recipients: tuple[str, ...],
) -> InboundMessage:
    over_limits: list[str] = []
    root: Message | None = None
    if len(raw) > limits.max_bytes:
        over_limits.append(OVER_SIZE)
    elif _nesting_estimate(raw, limits.max_depth * 4) > limits.max_depth * 4:
        over_limits.append(OVER_DEPTH)
    else:
        try:
            root = email.message_from_bytes(raw, policy=policy.compat32)
        except RecursionError:
            over_limits.append(OVER_DEPTH)
    body_read = root is not None
    if root is None:
        root = _headers_only(raw)

    headers, too_long, too_many = header_map(root, limits)
    if too_long:
        over_limits.append(OVER_HEADER_LENGTH)
    if too_many:
        over_limits.append(OVER_HEADER_COUNT)

    parts: tuple[MimePart, ...] = ()
    defects: set[str] = {type(defect).__name__ for defect in root.defects}
    if body_read:
        flattened = flatten(root, limits)
        parts = tuple(flattened.parts)
        defects.update(flattened.defects)
        over_limits.extend(flattened.over_limits)

    body, truncated = _readable_body(parts, limits.max_body_chars)
    return _message(
        raw_size=len(raw),
        headers=headers,
        root=root,
        parts=parts,
        body=body,
        truncated=truncated,
        defects=tuple(sorted(defects)),
        over_limits=tuple(dict.fromkeys(over_limits)),
        envelope_sender=envelope_sender,
        envelope_recipients=envelope_recipients,
    )


def _message(
    *,
    raw_size: int,
    headers: HeaderMap,
    root: Message,
    parts: tuple[MimePart, ...],
    body: str,
    truncated: bool,
    defects: tuple[str, ...],
    over_limits: tuple[str, ...],
    envelope_sender: str | None,
    envelope_recipients: tuple[str, ...],
) -> InboundMessage:
    from_value = headers.get("from")
    from_address, from_name = strict_address(from_value)
    return_path: str | None
    if envelope_sender is not None:
        return_path = loose_address(envelope_sender) or ""
    else:
        return_path = loose_address(headers.get("return-path"))
    content_type = _top_content_type(root)
    report_type = None
    if content_type == "multipart/report":
        report_type = _report_type(root)
    in_reply_to = message_ids(headers.get("in-reply-to"))
    return InboundMessage(
        raw_size=raw_size,
        headers=headers,
        from_address=from_address,
        from_name=from_name,
        from_header=single_line(decode_words(from_value or "")),
        reply_to=address_list(headers.get_all("reply-to")),
        return_path=return_path,
        envelope_recipients=address_list(envelope_recipients),
        to_addresses=address_list(headers.get_all("to")),
        delivered_to=address_list(
            headers.get_all("delivered-to") + headers.get_all("x-original-to")
        ),
        subject=single_line(decode_words(headers.get("subject") or "")),
        message_id=next(iter(message_ids(headers.get("message-id"))), None),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=message_ids(" ".join(headers.get_all("references"))),
        date=parse_date(headers.get("date")),
        content_type=content_type,
        report_type=report_type,
        body_text=body,
        body_truncated=truncated,
        parts=parts,
        defects=defects,
        over_limits=over_limits,
    )


def _readable_body(parts: tuple[MimePart, ...], max_chars: int) -> tuple[str, bool]:
    """The text a person wrote: the first inline text/plain, else the first HTML, stripped."""
    own = [part for part in parts if not part.enclosed and part.text is not None]
    text: str | None = None
    for part in own:
        if part.content_type == "text/plain" and not part.is_attachment:
            text = part.text
            break
    if text is None:
        for part in own:
            if part.content_type == "text/html" and not part.is_attachment and part.text:
                text = html_to_text(part.text)
                break
    if text is None:
        return "", False
    text = text.strip()
    if len(text) > max_chars:
        return text[:max_chars], True
    return text, False


def _top_content_type(root: Message) -> str:
    try:
        return root.get_content_type().lower()
    except Exception:
        return "text/plain"


def _report_type(root: Message) -> str | None:
    try:
        value = root.get_param("report-type")
    except Exception:
        return None
    if isinstance(value, tuple):  # an RFC 2231 value
        value = value[2]
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def _headers_only(raw: bytes) -> Message:
    """The header block alone, for mail whose body is not to be read."""
    window = raw[:_HEADERS_ONLY_BYTES]
    end = _HEADER_END.search(window)
    block = window[: end.end()] if end else window
    try:
        return BytesHeaderParser(policy=policy.compat32).parsebytes(block, headersonly=True)
    except Exception:
        return Message()


def _nesting_estimate(raw: bytes, enough: int) -> int:
    """How deep multipart boundaries nest, from the bytes alone, counting no further than needed.

    The stdlib parser recurses once per level; deep enough nesting exhausts the stack, and
    well before that it slows down. Unclosed boundaries count as open to the end.
    """
    declared = [(match.start(), match.group(1)) for match in _BOUNDARY.finditer(raw)]
    if len(declared) <= enough:
        return len(declared)
    closings: dict[bytes, list[int]] = {}
    for match in _CLOSING_DELIMITER.finditer(raw):
        closings.setdefault(match.group(1), []).append(match.start())
    events: list[tuple[int, int]] = []
    for position, boundary in declared:
        events.append((position, 1))
        positions = closings.get(boundary, [])
        index = bisect.bisect_right(positions, position)
        if index < len(positions):
            events.append((positions[index], -1))
    depth = deepest = 0
    for _, step in sorted(events):
        depth += step
        deepest = max(deepest, depth)
        if deepest > enough:
            break
    return deepest


def _unparseable(
    raw: bytes, envelope_sender: str | None, envelope_recipients: tuple[str, ...]
) -> InboundMessage:
    try:
        headers, _, _ = header_map(_headers_only(raw), DEFAULT_LIMITS)
    except Exception:
        headers = HeaderMap()
    return InboundMessage(
        raw_size=len(raw),
        headers=headers,
        from_address=None,
        from_name="",
        from_header="",
        reply_to=(),
        return_path=loose_address(envelope_sender) if envelope_sender is not None else None,
        envelope_recipients=envelope_recipients,
        to_addresses=(),
        delivered_to=(),
        subject="",
        message_id=None,
        in_reply_to=None,
        references=(),
        date=None,
        content_type="text/plain",
        report_type=None,
        body_text="",
        body_truncated=False,
        parts=(),
        defects=(),
        over_limits=(UNPARSEABLE,),
    )
