"""Flattening a parsed MIME tree into MimeParts, within the part-count and depth caps."""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from email.message import Message

from mailengine.inbound.headers import HeaderMap, decode_bytes, text_from_wire, unfold
from mailengine.inbound.message import OVER_DEPTH, OVER_PARTS, InboundLimits, MimePart

# message/* types the stdlib parses as a nested message; the rest are shown as text.
_ENCLOSING = frozenset({"message/rfc822", "message/global", "message/news"})


@dataclass
class Flattened:
    parts: list[MimePart] = field(default_factory=list)
    defects: set[str] = field(default_factory=set)
    over_limits: list[str] = field(default_factory=list)


def header_map(message: Message, limits: InboundLimits) -> tuple[HeaderMap, bool, bool]:
    """A part's fields, each cut to the length cap; also whether a length or count cap broke."""
    items: list[tuple[str, str]] = []
    too_long = False
    for name, value in message.raw_items():
        text = unfold(text_from_wire(str(value)))
        if len(text) > limits.max_header_length:
            too_long = True
            text = text[: limits.max_header_length]
        items.append((text_from_wire(name).strip(), text))
    too_many = len(items) > limits.max_header_count
    return HeaderMap(items[: limits.max_header_count]), too_long, too_many


def flatten(root: Message, limits: InboundLimits) -> Flattened:
    """Every part in document order, depth-first, without recursion (hostile nesting is deep)."""
    result = Flattened()
    stack: list[tuple[Message, int, str | None, bool]] = [(root, 0, None, False)]
    while stack:
        node, depth, parent_type, enclosed = stack.pop()
        if len(result.parts) >= limits.max_parts:
            result.over_limits.append(OVER_PARTS)
            break
        result.defects.update(type(defect).__name__ for defect in node.defects)
        content_type = _content_type(node)
        headers, _, _ = header_map(node, limits)
        result.parts.append(
            MimePart(
                content_type=content_type,
                depth=depth,
                parent_type=parent_type,
                headers=headers,
                disposition=_disposition(node),
                filename=_filename(node),
                text=_part_text(node, content_type, limits),
                enclosed=enclosed,
            )
        )
        payload = node.get_payload()
        if not isinstance(payload, list) or content_type == "message/delivery-status":
            continue
        if content_type.startswith("message/") and content_type not in _ENCLOSING:
            continue
        if depth + 1 > limits.max_depth:
            if OVER_DEPTH not in result.over_limits:
                result.over_limits.append(OVER_DEPTH)
            continue
        child_enclosed = enclosed or content_type in _ENCLOSING
        for child in reversed(payload):
            if isinstance(child, Message):
                stack.append((child, depth + 1, content_type, child_enclosed))
    return result


def _content_type(node: Message) -> str:
    try:
        return node.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _disposition(node: Message) -> str | None:
    try:
        value = node.get_content_disposition()
    except Exception:
        return None
    return value.lower() if value else None


def _filename(node: Message) -> str | None:
    try:
        name = node.get_filename()
    except Exception:
        return None
    return text_from_wire(name) if name else None


def _part_text(node: Message, content_type: str, limits: InboundLimits) -> str | None:
    """Decoded text of textual parts and of report blocks; None for binary parts."""
    payload = node.get_payload()
    if isinstance(payload, list):
        if not content_type.startswith("message/") or content_type in _ENCLOSING:
            return None
        return _blocks_text(payload, limits)
    textual = content_type.startswith(("text/", "message/"))
    if not textual and not content_type.startswith("multipart/"):
        return None  # a multipart left as a string lost its boundary: its body is still text
    try:
        data = _decoded_payload(node, payload)
    except Exception:
        data = None
    if not isinstance(data, bytes):
        data = str(payload).encode("ascii", "surrogateescape")
    data = data[: limits.max_part_text_bytes]
    try:
        charset = node.get_content_charset()
    except Exception:
        charset = None
    return _normal_newlines(decode_bytes(data, charset))


def _decoded_payload(node: Message, payload: object) -> bytes | None:
    """The body bytes; quoted-printable is decoded here because CR-only files defeat the stdlib."""
    encoding = str(node.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "quoted-printable" and isinstance(payload, str):
        wire = _normal_newlines(payload).encode("ascii", "surrogateescape")
        return binascii.a2b_qp(wire)
    data = node.get_payload(decode=True)
    return data if isinstance(data, bytes) else None


def _blocks_text(blocks: list[Message | str], limits: InboundLimits) -> str:
    """Report blocks (delivery-status, feedback-report) back as `Field: value` paragraphs."""
    paragraphs: list[str] = []
    size = 0
    for block in blocks:
        if not isinstance(block, Message):
            continue
        lines = [
            f"{name}: {unfold(text_from_wire(str(value)))}" for name, value in block.raw_items()
        ]
        rest = block.get_payload()
        if isinstance(rest, str) and rest.strip():
            lines.append(text_from_wire(rest))
        paragraph = _normal_newlines("\n".join(lines))
        size += len(paragraph)
        if size > limits.max_part_text_bytes:
            break
        paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def _normal_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
