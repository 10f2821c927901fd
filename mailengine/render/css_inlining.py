"""Apply `<mj-style inline="inline">` CSS to compiled, Jinja-bearing HTML without moving Jinja.

css-inline parses with an HTML5 tree builder, which moves text found between table rows in
front of the table ("foster parenting"): a `{% for %}` between `<tr>`s would leave its loop.
Each construct is therefore swapped for a placeholder first: an HTML comment where it stands
in text (comments stay where they are), a bare word inside tags, comments and raw-text elements.
"""

from __future__ import annotations

import re

import css_inline

from mailengine.render.source_map import CONSTRUCT

_TOKEN = "mjinja{}x"
_TOKEN_RE = re.compile(r"<!--mjinja(\d+)x-->|mjinja(\d+)x")
# Everything that is not text: comments, doctype, tags (quotes may hide a '>').
_MARKUP = re.compile(
    r"<!--.*?-->|<![^>]*>|</?([A-Za-z][^\s/>]*)(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.DOTALL
)
_RAW_TEXT = {"style", "script", "title", "textarea"}
_MJ_STYLE_INLINE = re.compile(
    r"<mj-style\b[^>]*\binline\s*=\s*[\"']inline[\"'][^>]*>(.*?)</mj-style\s*>", re.DOTALL
)


class InliningError(ValueError):
    """css-inline failed or moved a Jinja construct."""


def inline_css_of(sources: list[str]) -> str:
    """The CSS of every `<mj-style inline="inline">` in the given MJML sources, in order."""
    return "\n".join(m.group(1) for source in sources for m in _MJ_STYLE_INLINE.finditer(source))


def inline_css(html: str, css: str) -> str:
    """Inline `css` into plain HTML (per-recipient HTML, without Jinja)."""
    return _inliner(css).inline(html)


def inline_css_keeping_jinja(html: str, css: str) -> str:
    """Inline `css` into compiled HTML whose Jinja constructs must come out unchanged."""
    originals: list[str] = []

    def to_token(match: re.Match[str]) -> str:
        originals.append(match.group())
        return _TOKEN.format(len(originals) - 1)

    tokenised = CONSTRUCT.sub(to_token, html)
    protected = _comment_tokens_in_text(tokenised)
    try:
        inlined = _inliner(css).inline(protected)
    except (css_inline.InlineError, ValueError) as exc:
        raise InliningError(f"css-inline failed: {exc}") from exc
    seen: list[int] = []

    def to_original(match: re.Match[str]) -> str:
        number = int(match.group(1) or match.group(2))
        seen.append(number)
        return originals[number]

    restored = _TOKEN_RE.sub(to_original, inlined)
    if seen != list(range(len(originals))):
        raise InliningError(
            "css-inline moved or dropped Jinja constructs; keep Jinja out of places the HTML "
            "parser repairs (for example text directly inside <table> outside a <td>)"
        )
    return restored


def _comment_tokens_in_text(html: str) -> str:
    """Wrap the tokens that stand in text in comments; leave those inside markup bare."""
    pieces: list[str] = []
    position = 0
    for start, end in _markup_spans(html):
        pieces.append(_wrap_tokens(html[position:start]))
        pieces.append(html[start:end])
        position = end
    pieces.append(_wrap_tokens(html[position:]))
    return "".join(pieces)


def _wrap_tokens(text: str) -> str:
    return re.sub(r"mjinja\d+x", lambda m: f"<!--{m.group()}-->", text)


def _markup_spans(html: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    position = 0
    while True:
        match = _MARKUP.search(html, position)
        if match is None:
            return spans
        end = match.end()
        name = (match.group(1) or "").lower()
        if name in _RAW_TEXT and not match.group().startswith("</"):
            close = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(html, end)
            end = close.start() if close else len(html)
        spans.append((match.start(), end))
        position = end


def _inliner(css: str) -> css_inline.CSSInliner:
    return css_inline.CSSInliner(
        inline_style_tags=False,
        keep_style_tags=True,
        keep_link_tags=True,
        load_remote_stylesheets=False,
        extra_css=css,
    )
