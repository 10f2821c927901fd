"""The plain data an inbound message becomes: limits, the parsed message and its MIME parts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from mailengine.inbound.headers import HeaderMap

# Names of the caps, as they appear in InboundMessage.over_limits.
OVER_SIZE = "size"
OVER_PARTS = "mime_parts"
OVER_DEPTH = "nesting_depth"
OVER_HEADER_LENGTH = "header_length"
OVER_HEADER_COUNT = "header_count"
UNPARSEABLE = "unparseable"

_LOCAL_PART = re.compile(r"([^\s<>\"@,;:]+)@")


@dataclass(frozen=True)
class InboundLimits:
    """Caps that keep one hostile or broken message from costing much; over one, mail is marked."""

    max_bytes: int = 10_000_000
    max_parts: int = 200
    max_depth: int = 10
    max_header_count: int = 500
    max_header_length: int = 16_384
    max_body_chars: int = 20_000
    max_part_text_bytes: int = 1_000_000


DEFAULT_LIMITS = InboundLimits()


@dataclass(frozen=True)
class MimePart:
    """One node of the MIME tree, flattened; `text` is set for textual and report parts.

    `enclosed` parts belong to a message attached inside this one (message/rfc822), such as
    the original message a bounce returns.
    """

    content_type: str
    depth: int
    parent_type: str | None
    headers: HeaderMap
    disposition: str | None = None
    filename: str | None = None
    text: str | None = None
    enclosed: bool = False

    @property
    def is_attachment(self) -> bool:
        return self.disposition == "attachment" or self.filename is not None


@dataclass(frozen=True)
class InboundMessage:
    """What the rules, bounce and complaint parsers and later the autoresponder read.

    Addresses are lower-cased. `return_path` is '' for the null path `<>` and None when unknown.
    `report_type` is set when the top part is multipart/report.
    `over_limits` names each cap the message broke; such a message is kept but never answered.
    """

    raw_size: int
    headers: HeaderMap
    from_address: str | None
    from_name: str
    from_header: str
    reply_to: tuple[str, ...]
    return_path: str | None
    envelope_recipients: tuple[str, ...]
    to_addresses: tuple[str, ...]
    delivered_to: tuple[str, ...]
    subject: str
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    date: datetime | None
    content_type: str
    report_type: str | None
    body_text: str
    body_truncated: bool
    parts: tuple[MimePart, ...]
    defects: tuple[str, ...]
    over_limits: tuple[str, ...]

    @property
    def from_local_part(self) -> str:
        """The part before '@' of the sender, lower-cased, even when the address is unusable."""
        if self.from_address:
            return self.from_address.rsplit("@", 1)[0]
        found = _LOCAL_PART.search(self.from_header)
        if found:
            return found.group(1).lower()
        words = self.from_header.replace("<", " ").replace(">", " ").split()
        return words[0].strip('"').lower() if words else ""

    def parts_of_type(self, *content_types: str) -> tuple[MimePart, ...]:
        return tuple(part for part in self.parts if part.content_type in content_types)
