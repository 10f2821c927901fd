"""Where MRML (mjml-python) writes other HTML than the reference `mjml` compiler, mended.

After compiling: an `<mj-image>` without `alt` gets no `alt` from MRML, where `mjml` writes
`alt=""` (screen readers then read out the file name). Works on the compiled HTML with its
Jinja tags still in it.

It imports only the standard library.
"""

from __future__ import annotations

import re

# An <img> tag: attributes are quoted (MRML writes them so), a Jinja tag may hold a `>`.
_IMG_TAG = re.compile(r"<img\b(?:\"[^\"]*\"|'[^']*'|\{\{.*?\}\}|\{%.*?%\}|[^>\"'{])*>", re.S)
_ALT = re.compile(r"\salt\s*=", re.I)


def add_missing_alts(html: str) -> str:
    """Every `<img>` with an `alt`: `alt=""` where it has none, as `mjml` writes it."""

    def mended(match: re.Match[str]) -> str:
        tag = match.group(0)
        if _ALT.search(tag):
            return tag
        return '<img alt=""' + tag[len("<img") :]

    return _IMG_TAG.sub(mended, html)
