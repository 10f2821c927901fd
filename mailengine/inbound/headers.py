"""Header fields of inbound mail: a case-insensitive view, RFC 2047 decoding, strict addresses."""

from __future__ import annotations

import email.errors
import email.header
import email.utils
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address

from mailengine.addresses import InvalidAddressError, normalize_email

_FOLD = re.compile(r"\r\n|\r|\n")
_LINE_BREAKS = re.compile(r"[\r\n]+")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_LOOSE_ADDRESS = re.compile(r"[^\s<>\"'(),;:@]+@[^\s<>\"'(),;:@]+\.[A-Za-z0-9-]+")


# Defects in an address field that concern only the display name's encoding or old syntax.
_HARMLESS_DEFECTS = (
    email.errors.ObsoleteHeaderDefect,
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64LengthDefect,
    email.errors.UndecodableBytesDefect,
    email.errors.NonPrintableDefect,
)


class HeaderMap:
    """Header fields in order, each name possibly repeated, looked up without regard to case."""

    __slots__ = ("_by_name", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = tuple(items)
        by_name: dict[str, list[str]] = {}
        for name, value in self._items:
            by_name.setdefault(name.lower(), []).append(value)
        self._by_name = {name: tuple(values) for name, values in by_name.items()}

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of a field, or `default` when the message has none."""
        values = self._by_name.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> tuple[str, ...]:
        return self._by_name.get(name.lower(), ())

    def names(self) -> tuple[str, ...]:
        """Every distinct field name, lower-cased."""
        return tuple(self._by_name)

    def items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"HeaderMap({len(self._items)} fields)"


def text_from_wire(value: str) -> str:
    """A header value as read by the parser (undecodable bytes as surrogates) made readable."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def unfold(value: str) -> str:
    """One logical line: folding line breaks removed, outer whitespace trimmed."""
    return _FOLD.sub("", value).strip()


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded; unknown charsets and broken words degrade, never raise."""
    if "=?" not in value:
        return value
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # the stdlib raises several types on hostile input
        return value
    pieces: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            pieces.append(chunk)
        elif charset is None:
            pieces.append(chunk.decode("raw-unicode-escape", "replace"))
        else:
            pieces.append(decode_bytes(chunk, charset))
    return "".join(pieces)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; a missing or bogus charset falls back to UTF-8 then cp1252."""
    if charset:
        try:
            return data.decode(charset.strip().strip('"'), "strict")
        except (LookupError, UnicodeDecodeError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def single_line(value: str) -> str:
    """Text safe to put on one line: CR and LF replaced by spaces, runs of space collapsed."""
    return " ".join(_LINE_BREAKS.sub(" ", value).split())


def strict_address(value: str | None) -> tuple[str | None, str]:
    """The one address in an address field, lower-cased, with its display name.

    None when the field is missing, holds several addresses, or carries any parse defect:
    an address that cannot be trusted is not answered.
    """
    if not value:
        return None, ""
    try:
        header = policy.default.header_factory("from", value)
        addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()))
        defects = header.defects
    except Exception:  # headerregistry has raised on malformed input in past releases
        return None, ""
    if len(addresses) != 1 or any(not isinstance(d, _HARMLESS_DEFECTS) for d in defects):
        return None, ""
    address = addresses[0]
    try:
        normal = normalize_email(address.addr_spec)
    except InvalidAddressError:
        return None, single_line(address.display_name)
    return normal, single_line(address.display_name)


def address_list(values: Iterable[str]) -> tuple[str, ...]:
    """Every plausible address in some address fields, lower-cased, in order, without repeats."""
    found: list[str] = []
    for value in values:
        try:
            pairs = email.utils.getaddresses([value])
        except Exception:
            pairs = []
        candidates = [address for _, address in pairs if "@" in address]
        if not candidates:
            candidates = _LOOSE_ADDRESS.findall(value)
        for candidate in candidates:
            address = candidate.strip().strip("<>").lower()
            if address and address not in found:
                found.append(address)
    return tuple(found)


def loose_address(value: str | None) -> str | None:
    """The bare address in a path like `<user@host>` or `user@host (comment)`; '' for `<>`."""
    if value is None:
        return None
    text = value.strip()
    if text.replace(" ", "") == "<>":
        return ""
    match = _LOOSE_ADDRESS.search(text)
    if match:
        return match.group(0).lower()
    bare = text.strip("<>").strip()
    return bare.lower() or ""


def message_ids(value: str | None) -> tuple[str, ...]:
    """The `<id@host>` tokens of Message-ID, In-Reply-To or References, in order."""
    if not value:
        return ()
    found = _MSG_ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [f"<{value.strip().strip('<>')}>"]
    return tuple(dict.fromkeys(found))


def parse_date(value: str | None) -> datetime | None:
    """A Date field as an aware UTC datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000": the time is UTC but the zone is unknown
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
