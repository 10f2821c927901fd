"""Where MRML (mjml-python) writes other HTML than the reference `mjml` compiler, mended.

After compiling: an `<mj-image>` without `alt` gets no `alt` from MRML, where `mjml` writes
`alt=""` (screen readers then read out the file name); and an image in a column of a
fractional width (40 % of 568 px) gets `width="195.2"`, where `mjml` gives it whole pixels
(195), one pixel row lower on the page. Works on the compiled HTML with its Jinja tags still
in it.

It imports only the standard library.
"""

from __future__ import annotations

import re

# An <img> tag: attributes are quoted (MRML writes them so), a Jinja tag may hold a `>`.
_IMG_TAG = re.compile(r"<img\b(?:\"[^\"]*\"|'[^']*'|\{\{.*?\}\}|\{%.*?%\}|[^>\"'{])*>", re.S)
_ALT = re.compile(r"\salt\s*=", re.I)
# The cell MRML sizes for an image, the image (maybe in a link) and its width: fractional.
_FRACTIONAL_IMAGE = re.compile(
    r"(?P<cell><td\s+style=\"width:)(?P<cell_px>\d+)\.\d+(?P<between>px;\"\s*>\s*"
    r"(?:<a\b(?:\"[^\"]*\"|[^>\"])*>\s*)?<img\b(?:\"[^\"]*\"|[^>\"])*?\swidth=\")"
    r"(?P<img_px>\d+)\.\d+\""
)


def mrml_mended(html: str) -> str:
    """MRML's HTML as `mjml` would have written it (see the module's docstring)."""
    return whole_pixel_images(add_missing_alts(html))


def add_missing_alts(html: str) -> str:
    """Every `<img>` with an `alt`: `alt=""` where it has none, as `mjml` writes it."""

    def mended(match: re.Match[str]) -> str:
        tag = match.group(0)
        if _ALT.search(tag):
            return tag
        return '<img alt=""' + tag[len("<img") :]

    return _IMG_TAG.sub(mended, html)


def whole_pixel_images(html: str) -> str:
    """An image's width (and its cell's) in whole pixels, rounded down as `mjml` does."""
    return _FRACTIONAL_IMAGE.sub(
        lambda found: f'{found["cell"]}{found["cell_px"]}{found["between"]}{found["img_px"]}"',
        html,
    )
