"""Body parts for outgoing mail: text as 7bit, quoted-printable or base64, in CRLF lines.

Every body this writes keeps the wire rules `MimeBytes` promises: no line starting with "."
or "From ", no blanks that DKIM's relaxed body canonicalisation would change (tabs, runs of
spaces, a space at a line end), so the signer and the SMTP transport can skip their
normalising passes; lines of at most 76 characters once encoded. A 7bit body is ASCII
without NUL and keeps those rules as it is, in lines of at most 78 octets for text/plain
(RFC 5322 2.1.1 recommends 78, and readers of plain text see the lines) and of at most 998
for text/html (the limit that RFC sets; HTML shaped at compile time by `render.wire_html`
meets it and is sent without the cost of quoted-printable).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import struct
from itertools import repeat
from typing import cast

from mailengine.render.wire_html import RelaxedSafeText, SevenBitHtml

_FOLD_AT = 78  # longest line of a 7bit text/plain body (RFC 5322 2.1.1 recommends 78)
_LINE_LIMIT = 998  # longest line of a 7bit text/html body (RFC 5322 2.1.1 requires 998)
# What the fast quoted-printable path takes as it is, and \x01, its mark for "=" in escapes.
_QP_PLAIN = bytes(range(32, 127)) + b"\t\n\x01"
_SIZE_SAMPLE = 1024  # characters counted to choose between quoted-printable and base64
# Most non-ASCII characters per 256 that still go as quoted-printable: text a reader (and a
# spam filter) can read in the raw message when it is mostly ASCII, as German or French prose
# is (2-4 % accented letters); HTML only when they are rare (it is shaped to ASCII anyway).
_MOSTLY_ASCII = 32
_RARELY_NON_ASCII = 1
_EQUALS = ord("=")
_BASE64_LINES = [struct.Struct("76s" * count) for count in range(65)]
_DOT_OR_FROM = (b".", b"From ")
# Up to 75 characters of an escaped line, not ending inside an =XX escape nor before "." or
# "From " (a transport would have to stuff the dot; "From " is mangled by mbox). Only a run of
# some 72 dots leaves no such place; findall then skips a character (see _soft_breaks).
_QP_PIECE = re.compile(rb".{1,75}(?<!=)(?<!=.)(?!\.|From )", re.DOTALL)
_LINE_START = re.compile(rb"\n(?:\.|From )[^\r\n]*")
# Two spaces or one before a line break; a line starting with "." or "From ". Patterns that
# start with one character let the regex engine skip to it: some 30 and 20 µs on 40 KB, where
# `in` takes 35 µs per two-byte needle and a regex of all four 300 µs.
_SPACE_PAIR = re.compile(rb" [ \n]")
_TWO_SPACES = re.compile("  ")
_RISKY_LINE = re.compile(rb"\n(?:\.|From )")
_ESCAPED_BLANK_AT_END = re.compile(rb"=(?:20|09)(?:\n|\Z)")
_SEVEN_BIT_HTML = ("Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 7bit")


def encode_text_part(subtype: str, content: str, *, alone: bool = False) -> tuple[list[str], bytes]:
    """Content headers and encoded body (which may lack a final CRLF only when 7bit).

    ASCII that keeps the wire rules as it is, in lines of up to 78 (998 for html), goes as
    it is (7bit); other ASCII, and text with a few non-ASCII characters, as
    quoted-printable; the rest as base64 (see _quoted_printable_pays).
    """
    if subtype == "html" and not alone and isinstance(content, SevenBitHtml):
        return list(_SEVEN_BIT_HTML), content.encode("ascii").replace(b"\n", b"\r\n")
    blanks_checked = type(content) is RelaxedSafeText
    if "\r" in content:
        content = content.replace("\r\n", "\n").replace("\r", "\n")
        blanks_checked = False
    if content.isascii():
        data = content.encode("ascii")
        limit = _LINE_LIMIT if subtype == "html" else _FOLD_AT
        if _is_plain_7bit(data, limit, blanks_checked=blanks_checked) and not (
            alone and data and not data.endswith(b"\n")
        ):
            # (a lone part must end in CRLF; quoted-printable can add one that decodes to nothing)
            encoding, body = "7bit", data.replace(b"\n", b"\r\n")
        else:
            encoding, body = "quoted-printable", _quoted_printable(content)
    elif subtype == "plain" and _quoted_printable_pays(content, _MOSTLY_ASCII):
        encoding, body = "quoted-printable", _quoted_printable(content, prose=True)
    elif _quoted_printable_pays(content, _RARELY_NON_ASCII):
        encoding, body = "quoted-printable", _quoted_printable(content)
    else:
        data = content.encode("utf-8")
        encoding, body = "base64", _base64_lines(data.replace(b"\n", b"\r\n"))
    headers = [
        f"Content-Type: text/{subtype}; charset=utf-8",
        f"Content-Transfer-Encoding: {encoding}",
    ]
    return headers, body


def _is_plain_7bit(data: bytes, limit: int, *, blanks_checked: bool = False) -> bool:
    """No NUL, no line over `limit` octets, none starting with "." or "From ", no blanks that
    DKIM's relaxed canonicalisation would change (tabs, two spaces, a space at a line end),
    unless `blanks_checked` (see RelaxedSafeText).

    The cheap checks come first: MRML's HTML with long lines fails on its first line. All
    of them take some 70 µs on 40 KB of HTML, 35 µs less with the blanks checked.
    """
    if len(data) > limit and (data.find(b"\n", 0, limit + 1) < 0 or _has_long_line(data, limit)):
        return False
    if data.startswith(_DOT_OR_FROM) or b"\x00" in data or _RISKY_LINE.search(data):
        return False
    return blanks_checked or not (b"\t" in data or data.endswith(b" ") or _SPACE_PAIR.search(data))


def _has_long_line(data: bytes, limit: int) -> bool:
    """Whether a line is longer than `limit`, found with one `find` per window of about
    limit/2 octets: a line of limit + 1 holds a whole window, so only a window without a
    line break needs its line measured (some 15 µs for 40 KB and 998, a third of splitting).
    For a limit near the length of common lines (78 for text) splitting is the cheaper."""
    if limit < 256:
        return max(map(len, data.split(b"\n"))) > limit
    window = (limit + 2) // 2
    for start in range(0, len(data) - window + 1, window):
        if data.find(b"\n", start, start + window) < 0:
            end = data.find(b"\n", start)
            if (len(data) if end < 0 else end) - data.rfind(b"\n", 0, start) - 1 > limit:
                return True
    return False


def _quoted_printable_pays(text: str, per_256: int) -> bool:
    """Whether text with non-ASCII characters goes as quoted-printable rather than base64: when
    at most `per_256` characters in 256 are non-ASCII, and quoted-printable (3 octets per UTF-8
    byte of those, "=" as "=3D") comes out no larger than base64 (4 octets per 3 bytes).

    Size alone would allow some 9 % of characters from 2-byte scripts. The encoder calls its
    error handler once per run of non-ASCII characters (about 1 µs): German prose, 2 % of
    letters with umlauts, takes several times longer than base64, which is why HTML (large,
    rarely read raw) keeps the strict limit; a text part is a few KB, some 30 µs.

    Counted on at most about 1,000 evenly spaced characters, as a pass over a whole 30 KB text
    costs about as much as encoding it; a wrong guess only costs time or size.
    """
    sample = text[:: len(text) // _SIZE_SAMPLE + 1]
    ascii_count = len(sample.encode("ascii", "ignore"))
    if (len(sample) - ascii_count) * 256 > len(sample) * per_256:
        return False
    utf8_count = len(sample.encode("utf-8"))
    quoted = ascii_count + 2 * sample.count("=") + 3 * (utf8_count - ascii_count)
    return 3 * quoted <= 4 * utf8_count


def _base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending in CRLF, cut by struct up to 64 lines at
    a time rather than sliced one by one."""
    encoded = base64.b64encode(data)
    whole, rest = divmod(len(encoded), 76)
    lines: list[bytes] = []
    start = 0
    while whole:
        count = min(whole, len(_BASE64_LINES) - 1)
        lines += _BASE64_LINES[count].unpack_from(encoded, start)
        start += 76 * count
        whole -= count
    if rest:
        lines.append(encoded[start:])
    lines.append(b"")
    return b"\r\n".join(lines)


def _escape_non_ascii(error: UnicodeError) -> tuple[str, int]:
    r"""Codec error handler: a run of non-ASCII characters as its UTF-8 bytes, each written
    "\x01XX" (the "\x01" becomes "=" once the text's own "=" are escaped)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    run = error.object[error.start : error.end]
    escaped = _NON_ASCII_ESCAPES.get(run)
    if escaped is None:
        escaped = "\x01" + run.encode("utf-8").hex("\x01").upper()
        if len(run) == 1:  # single letters (ä, é, €) recur; whole runs seldom do
            _NON_ASCII_ESCAPES[run] = escaped
    return escaped, error.end


_NON_ASCII_ESCAPES: dict[str, str] = {}
codecs.register_error("mailengine.qp", _escape_non_ascii)


def _quoted_printable(text: str, *, prose: bool = False) -> bytes:
    """Quoted-printable of LF-only text in CRLF lines, lines starting with "." or "From "
    encoded (=2E, =46), ending in a line break (a soft one if the text does not end in one).

    Text without control characters (HTML from MJML: long lines, many "=", a few non-ASCII
    letters) takes a path of C-speed operations, about 1.5 times as fast as binascii.b2a_qp:
    the ASCII encoder with an error handler called once per run of non-ASCII characters,
    bytes.replace, checks mapped over the lines, a regex cutting long lines.
    Spaces and tabs are escaped where DKIM's relaxed canonicalisation would change them.
    With `prose` (text with accented letters every few words, where that error handler
    would run some 100 times per KB), binascii.b2a_qp does it all, quoting blanks only when
    the text has a tab or two spaces in a row: 50 µs for 3 KB of German rather than 200.
    """
    if prose:
        return _prose_by_lines(text)
    data = text.encode("ascii", "mailengine.qp")
    if "\x01" in text or data.translate(None, _QP_PLAIN):  # control characters
        return _binascii_quoted_printable(text, prose=False)
    if b"\t" in data:
        data = data.replace(b"\t", b"\x0109")
    data = data.replace(b"  ", b" \x0120")  # every second space of a run as =20
    lines = data.replace(b"=", b"=3D").replace(b"\x01", b"=").split(b"\n")
    if any(map(bytes.endswith, lines, repeat(b" "))):
        lines = [_escape_final_blank(line) for line in lines]
    if max(map(len, lines)) > 76:
        lines = [_soft_breaks(line) if len(line) > 76 else line for line in lines]
    if any(map(bytes.startswith, lines, repeat(_DOT_OR_FROM))):
        lines = [_escape_start(line) if line.startswith(_DOT_OR_FROM) else line for line in lines]
    return _ended(b"\r\n".join(lines))


class _ProseLines:
    """Lines of prose as binascii.b2a_qp encodes them (CRLF, line starts escaped), for one
    value of its `quotetabs`; and the lines whose encoding has an escaped blank at its end,
    and those with an encoded line over 76 (see _binascii_quoted_printable)."""

    __slots__ = ("blank_at_end", "encoded", "over_76")

    def __init__(self) -> None:
        self.encoded: dict[str, bytes] = {}
        self.blank_at_end: set[str] = set()
        self.over_76: set[str] = set()

    def add(self, line: str, quotetabs: bool) -> bytes:
        """The encoding of `line` and its line break, kept."""
        encoded, blank, over = _prose_line(line + "\n", quotetabs)
        if blank:
            self.blank_at_end.add(line)
        if over:
            self.over_76.add(line)
        self.encoded[line] = encoded
        return encoded

    def clear(self) -> None:
        self.encoded.clear()
        self.blank_at_end.clear()
        self.over_76.clear()


def _prose_line(line: str, quotetabs: bool) -> tuple[bytes, bool, bool]:
    """b2a_qp's encoding of one line (its break included, if it has one) in CRLF lines, line
    starts escaped; whether it ends a line in an escaped blank, whether a line is over 76."""
    encoded = binascii.b2a_qp(line.encode("utf-8"), quotetabs=quotetabs, istext=True, header=False)
    blank = _ESCAPED_BLANK_AT_END.search(encoded) is not None
    over = max(map(len, encoded.split(b"\n"))) > 76
    encoded = encoded.replace(b"\n", b"\r\n")
    if encoded.startswith(_DOT_OR_FROM) or b"\n." in encoded or b"\nFrom " in encoded:
        encoded = _escape_line_starts(encoded)
    return encoded, blank, over


_PROSE_LINES = (_ProseLines(), _ProseLines())  # quotetabs False, True
_PROSE_LINES_KEPT = 4096


def _prose_by_lines(text: str) -> bytes:
    """`_binascii_quoted_printable(text, prose=True)`, from the encodings of its lines, each
    made once: what b2a_qp does to LF-only text never reaches past a line break, and a text
    part's lines recur from message to message (all but those holding a customer's values
    or signed links). Some 15 µs instead of 45 for 3.5 KB of a text part."""
    # (two spaces by the regex engine's literal search: a third faster than `in` on text
    # with a euro sign or accented letters, two bytes a character)
    quotetabs = "\t" in text or _TWO_SPACES.search(text) is not None
    table = _PROSE_LINES[quotetabs]
    known = table.encoded
    lines = text.split("\n")
    last = lines.pop()  # "" when the text ends in a line break, as a text part does
    found: list[bytes | None] = list(map(known.get, lines))
    if None in found:
        if len(known) + len(lines) > _PROSE_LINES_KEPT:
            table.clear()
        encoded = [
            table.add(line, quotetabs) if got is None else got
            for line, got in zip(lines, found, strict=True)
        ]
    else:
        encoded = cast(list[bytes], found)
    blank = over = False
    if last:
        ending, blank, over = _prose_line(last, quotetabs)
        encoded.append(ending)
    if table.blank_at_end and not table.blank_at_end.isdisjoint(lines):
        blank = True
    if table.over_76 and not table.over_76.isdisjoint(lines):
        over = True
    if blank and over:
        return _quoted_printable(text)  # as _binascii_quoted_printable decides
    return _ended(b"".join(encoded))


def _binascii_quoted_printable(text: str, *, prose: bool) -> bytes:
    """`_quoted_printable` by binascii.b2a_qp over all of `text`."""
    raw = text.encode("utf-8")
    quotetabs = not prose or b"\t" in raw or b"  " in raw
    encoded = binascii.b2a_qp(raw, quotetabs=quotetabs, istext=True, header=False)
    # binascii may end a line whose last character is a blank it escapes (=20) at 78
    # (`" From From ... From \n"`); the other path cuts such lines itself.
    if prose and _ESCAPED_BLANK_AT_END.search(encoded) and max(map(len, encoded.split(b"\n"))) > 76:
        return _quoted_printable(text)
    encoded = encoded.replace(b"\n", b"\r\n")
    if encoded.startswith(_DOT_OR_FROM) or b"\n." in encoded or b"\nFrom " in encoded:
        encoded = _escape_line_starts(encoded)
    return _ended(encoded)


def _ended(encoded: bytes) -> bytes:
    if encoded and not encoded.endswith(b"\n"):
        return _end_with_soft_break(encoded)
    return encoded


def _escape_final_blank(line: bytes) -> bytes:
    return line[:-1] + b"=20" if line.endswith(b" ") else line


def _soft_breaks(line: bytes) -> bytes:
    """One escaped line as pieces of at most 75 characters joined by soft breaks, never
    inside an =XX escape nor before "." or "From " (see _QP_PIECE)."""
    if len(line) <= 148:  # one cut: mostly where it falls, found without the regex
        cut = 74 if line[74] == _EQUALS else 73 if line[73] == _EQUALS else 75
        if not line.startswith(_DOT_OR_FROM, cut):
            return line[:cut] + b"=\r\n" + line[cut:]
    pieces = _QP_PIECE.findall(line)
    wrapped = b"=\r\n".join(pieces)
    if len(wrapped) != len(line) + 3 * len(pieces) - 3:  # a long run of dots: escape them
        return _soft_breaks(line.replace(b".", b"=2E"))
    return wrapped


def _escape_line_starts(encoded: bytes) -> bytes:
    """Encoded CRLF lines with each line starting with "." or "From " escaped."""
    return _LINE_START.sub(_escape_line_start, b"\n" + encoded)[1:]


def _escape_line_start(match: re.Match[bytes]) -> bytes:
    return b"\n" + _escape_start(match[0][1:])


def _escape_start(encoded: bytes) -> bytes:
    """Encoded lines, the first starting with "." or "From ": that character as =2E or =46,
    followed by a soft break where the line would pass 76 characters."""
    pieces: list[bytes] = []
    while encoded.startswith(_DOT_OR_FROM):
        escape = b"=2E" if encoded.startswith(b".") else b"=46"
        encoded = encoded[1:]
        end = encoded.find(b"\r\n")
        if (end if end >= 0 else len(encoded)) + 3 <= 76:
            return b"".join(pieces) + escape + encoded
        pieces.append(escape + b"=\r\n")
    return b"".join(pieces) + encoded


def _end_with_soft_break(encoded: bytes) -> bytes:
    head, newline, last = encoded.rpartition(b"\n")
    if len(last) < 76:
        return encoded + b"=\r\n"
    cut = -3 if last[-3:-2] == b"=" else -1  # never split an =XX escape
    tail = b"=2E" if last[cut:] == b"." else last[cut:]
    return head + newline + last[:cut] + b"=\r\n" + tail + b"=\r\n"
