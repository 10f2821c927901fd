"""Quoted history in support mail: quote the customer's message under an answer, and cut the
quoted notification off a team member's answer by e-mail.

Mail programs quote in a few known shapes: `> ` before each line, an attribution line (`On
Mon, 23 Nov 2026 at 10:00, Shop <…> wrote:`, wrapped over two lines by some), Outlook's
`-----Original Message-----` or its `From:`/`Sent:` block after a line of underscores. The
team notification also opens with a marker line, so whatever a program does to the quote,
the answer is what stands above the marker.
"""

from __future__ import annotations

import re
from datetime import datetime

REPLY_MARKER = "## Write your answer above this line ##"
MAX_QUOTED_LINES = 200
_ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|il|op|den)\s.{4,}", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(
    r"\b(wrote|schrieb|a écrit|escribió|ha scritto|schreef|skrev)\b.{0,200}:\s*$", re.IGNORECASE
)
_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*(original message|ursprüngliche nachricht|message d'origine)\s*-{2,}"
    r"|_{10,})\s*$",
    re.IGNORECASE,
)
_HEADER_BLOCK = re.compile(r"^\s*(from|von|de)\s*:\s+\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*(sent|date|gesendet|datum|envoyé|to|an)\s*:", re.IGNORECASE)


def quote_message(text: str, author: str, when: datetime) -> str:
    """`On Mon, 23 Nov 2026 at 10:00, Anna wrote:` and the text, each line after `> `."""
    lines = text.strip().splitlines()
    if len(lines) > MAX_QUOTED_LINES:
        lines = [*lines[:MAX_QUOTED_LINES], "[…]"]
    quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in lines)
    return f"On {when:%a, %d %b %Y at %H:%M}, {author} wrote:\n{quoted}"


def strip_quoted(text: str) -> str:
    """The answer a person wrote above the quoted message (or the marker), trimmed."""
    lines = text.replace("\r\n", "\n").split("\n")
    end = next((i for i in range(len(lines)) if _quote_starts(lines, i)), len(lines))
    return "\n".join(line.rstrip() for line in lines[:end]).strip()


def _quote_starts(lines: list[str], index: int) -> bool:
    line = lines[index]
    if REPLY_MARKER in line or line.lstrip().startswith(">") or _SEPARATOR.match(line):
        return True
    if _ATTRIBUTION_START.match(line):
        joined = " ".join(part.strip() for part in lines[index : index + 2])
        if _ATTRIBUTION_END.search(line) or _ATTRIBUTION_END.search(joined):
            return True
    if _HEADER_BLOCK.match(line):
        following = [item for item in lines[index + 1 : index + 4] if item.strip()]
        return any(_HEADER_NEXT.match(item) for item in following)
    return False
