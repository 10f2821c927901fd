"""Checks of one finished mail, as a marketer reads them beside its preview.

Each check looks at the mail as it would be sent (after rendering and link tracking):
- size: Gmail clips a message whose HTML part is over about 102 KB and hides the rest
  (often the footer with the unsubscribe link) behind "View entire message";
- images without `alt`: screen readers read out the file name, and clients that block images
  show nothing in their place (`alt=""` is right for decoration and is not reported);
- links: every link with where it really goes (tracked links point at our `/c/...` address);
- preheader: without one, inboxes show whatever text comes first;
- spam-trigger words: a short list of phrases that filters and readers distrust
  (`SPAM_PHRASES`), and a subject in capitals.

Pure: strings in, data out. It may import the shared vocabulary only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

GMAIL_CLIP_BYTES = 102 * 1024
CLIP_WARNING_SHARE = 0.9  # warn from 90 % of the limit: a longer name or order can tip it over
# Phrases that spam filters score and readers distrust in marketing mail. Kept short on
# purpose: a hit is a prompt to reread the sentence, not a verdict.
SPAM_PHRASES = (
    "100% free",
    "act now",
    "cash bonus",
    "click here",
    "double your",
    "earn money",
    "free gift",
    "guaranteed",
    "limited time only",
    "no obligation",
    "once in a lifetime",
    "risk-free",
    "urgent",
    "winner",
    "you have been selected",
    "$$$",
)
Level = Literal["ok", "warning", "error"]
_SPAM = re.compile(
    "|".join(rf"(?<!\w){re.escape(phrase)}(?!\w)" for phrase in SPAM_PHRASES), re.IGNORECASE
)
_CLICK_KEY = re.compile(r"/c/([A-Za-z0-9_-]+)$")
_PIXEL = re.compile(r"/o/[A-Za-z0-9_-]+\.gif$")


@dataclass(frozen=True)
class Link:
    text: str
    href: str  # as the mail has it
    target: str  # where it leads: the original address of a tracked link
    tracked: bool


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    summary: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailReport:
    checks: tuple[Check, ...]
    links: tuple[Link, ...]
    html_bytes: int
    message_bytes: int

    @property
    def warnings(self) -> int:
        return sum(1 for check in self.checks if check.level != "ok")


_IMG = re.compile(r"<img\b(?P<attrs>(?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.IGNORECASE)
_ANCHOR = re.compile(
    r"<a\b(?P<attrs>(?:[^>\"']|\"[^\"]*\"|'[^']*')*)>(?P<inner>.*?)</a\s*>",
    re.IGNORECASE | re.DOTALL,
)
_ATTRIBUTE = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_MARKUP = re.compile(r"<[^>]*>")


def _attributes(text: str) -> dict[str, str]:
    """The attributes of a tag, names lower-case and values unescaped (regular expressions
    over the composer's well-formed output: an HTML parser takes ten times as long)."""
    return {
        match.group(1).lower(): html.unescape(next(g for g in match.groups()[1:] if g is not None))
        for match in _ATTRIBUTE.finditer(text)
    }


def _images(html_body: str) -> list[dict[str, str]]:
    return [_attributes(match.group("attrs")) for match in _IMG.finditer(html_body)]


def _anchors(html_body: str) -> list[tuple[str, str]]:
    """(href, text) of each link; an image inside stands for its alt text."""
    found = []
    for match in _ANCHOR.finditer(html_body):
        attributes = _attributes(match.group("attrs"))
        if "href" not in attributes:
            continue
        inner = _IMG.sub(
            lambda image: f" [{_attributes(image.group('attrs')).get('alt', '')}] ",
            match.group("inner"),
        )
        found.append((attributes["href"], html.unescape(_MARKUP.sub(" ", inner))))
    return found


def check_mail(
    *,
    subject: str,
    preheader: str,
    html_body: str,
    text_body: str,
    message_bytes: int,
    tracked_targets: Mapping[str, str],
) -> MailReport:
    """Every check of one mail. `tracked_targets` maps a tracked link's key to its address."""
    links = tuple(_link(href, text, tracked_targets) for href, text in _anchors(html_body))
    size = len(html_body.encode("utf-8"))
    checks = (
        _size_check(size),
        _alt_check(_images(html_body)),
        _links_check(links),
        _preheader_check(preheader, text_body),
        _spam_check(subject, preheader, text_body),
    )
    return MailReport(checks, links, size, message_bytes)


def _link(href: str, words: str, targets: Mapping[str, str]) -> Link:
    text = " ".join(words.replace("[]", "").split()) or "(no text)"
    key = _CLICK_KEY.search(href)
    target = targets.get(key.group(1)) if key else None
    return Link(text, href, target or href, target is not None)


def _size_check(size: int) -> Check:
    shown = f"HTML part {size / 1024:.1f} KB of Gmail's {GMAIL_CLIP_BYTES // 1024} KB"
    if size > GMAIL_CLIP_BYTES:
        return Check(
            "Size",
            "error",
            f"{shown}: Gmail clips this mail and hides the rest behind a link",
            ("Shorten it: fewer products, smaller inline styles, no comments in the MJML.",),
        )
    if size > GMAIL_CLIP_BYTES * CLIP_WARNING_SHARE:
        return Check("Size", "warning", f"{shown}: close to where Gmail clips")
    return Check("Size", "ok", shown)


def _alt_check(images: Iterable[Mapping[str, str]]) -> Check:
    missing = [
        str(image.get("src") or "(no src)")
        for image in images
        if "alt" not in image and not _PIXEL.search(str(image.get("src") or ""))
    ]
    if missing:
        return Check(
            "Images",
            "warning",
            f"{len(missing)} image(s) without alt text",
            tuple(f"no alt: {source}" for source in missing),
        )
    return Check("Images", "ok", "every image has alt text")


def _links_check(links: tuple[Link, ...]) -> Check:
    empty = [link.text for link in links if link.target.strip() in ("", "#")]
    tracked = sum(1 for link in links if link.tracked)
    summary = f"{len(links)} link(s), {tracked} tracked"
    if empty:
        return Check("Links", "warning", f"{summary}; {len(empty)} lead nowhere", tuple(empty))
    return Check("Links", "ok", summary)


def _preheader_check(preheader: str, text_body: str) -> Check:
    if preheader.strip():
        return Check("Preheader", "ok", preheader)
    shown = " ".join(text_body.split())[:90]
    return Check(
        "Preheader",
        "warning",
        "no preheader: inboxes show the first text of the mail instead",
        (f"shown instead: {shown}",),
    )


def _spam_check(subject: str, preheader: str, text_body: str) -> Check:
    found: list[str] = []
    for part, text in (("subject", subject), ("preheader", preheader), ("text", text_body)):
        words = sorted({match.group(0).lower() for match in _SPAM.finditer(text)})
        found.extend(f"{part}: {html.unescape(word)}" for word in words)
    letters = [char for char in subject if char.isalpha()]
    if len(letters) >= 8 and sum(char.isupper() for char in letters) > 0.7 * len(letters):
        found.append("subject: mostly capital letters")
    if found:
        return Check("Spam words", "warning", f"{len(found)} phrase(s) to reread", tuple(found))
    return Check("Spam words", "ok", "none of the listed phrases")
