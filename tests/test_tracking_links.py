"""Rewriting the links of a body whose `<a`s are known (AnchoredHtml, from a template's
pieces) finds and writes what searching it finds and writes, and says whether it still goes
as 7bit only where that holds."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mailengine.outbound.body_encoding import encode_text_part
from mailengine.outbound.tracking_links import click_url, pixel_url, rewrite_links
from mailengine.render.environment import BudgetTemplate, html_environment
from mailengine.render.html_pieces import AnchoredHtml, PieceTable
from mailengine.render.mjml_cache import jinja_template
from mailengine.render.wire_html import RelaxedSafeText, SevenBitHtml

PUBLIC_URL = "https://mail.shop.example"
SECRET = b"a-secret-of-some-thirty-two-bytes"
MARKUP = [
    '<a href="https://shop.example/{{ a }}">', "</a>", "<A class='x'\nHREF='https://x.example/'>",
    '<a href="mailto:x@shop.example">', '<a title="<a href=\'https://in.example/\'>"', ">",
    '<a href="{{ b }}">', "<abbr>", "<a\nhref = 'https://shop.example/?q=1&amp;r=2' >", "text",
    "\n", " ", "</body>", "</BODY >", "<body>", "x" * 400, '<a href="https://mail.shop.example/u/1">',
]  # fmt: skip
VALUES = ["p/1", "https://other.example/long/" + "y" * 300, "", "q&r"]


def anchored(source: str, a: str, b: str) -> tuple[AnchoredHtml | None, str]:
    made = jinja_template(html_environment(), source, "s", "s")
    assert isinstance(made, BudgetTemplate)
    pieces = made.render_pieces({"a": a, "b": b})
    return PieceTable(made).wire_html(pieces), "".join(pieces)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(MARKUP), max_size=40),
    st.sampled_from(VALUES),
    st.sampled_from(VALUES),
)
def test_known_anchors_rewrite_as_searching_does(markup: list[str], a: str, b: str) -> None:
    body, plain = anchored("".join(markup), a, b)
    if body is None:
        return
    tracked, searched = (
        rewrite_links(body, 7, PUBLIC_URL, SECRET),
        rewrite_links(plain, 7, PUBLIC_URL, SECRET),
    )
    assert (tracked.html, tracked.links, tracked.keys) == (
        searched.html,
        searched.links,
        searched.keys,
    )
    if type(tracked.html) is SevenBitHtml:  # what the encoder then takes on trust
        html = tracked.html
        assert html.isascii() and not re.search(r"  | \n|\t|\r|\x00| \Z", html)
        assert max(map(len, html.split("\n"))) <= 998
        assert not re.search(r"(?:^|\n)(?:\.|From )", html)
    else:
        assert type(tracked.html) is RelaxedSafeText


def test_a_line_made_too_long_by_its_links_is_no_longer_sent_as_it_is() -> None:
    line = '<a href="https://shop.example/x">x</a>' * 25  # 950 characters
    body, _ = anchored(f"<body>\n{line}\n</body>\n", "", "")
    assert body is not None
    tracked = rewrite_links(body, 7, PUBLIC_URL, SECRET)
    assert max(map(len, tracked.html.split("\n"))) > 998
    assert type(tracked.html) is RelaxedSafeText
    headers, _ = encode_text_part("html", tracked.html)
    assert headers[1] == "Content-Transfer-Encoding: quoted-printable"
    short, _ = anchored(f"<body>\n{line[:190]}\n</body>\n", "", "")
    assert short is not None
    assert type(rewrite_links(short, 7, PUBLIC_URL, SECRET).html) is SevenBitHtml


def test_a_link_after_the_body_end_is_measured_where_it_went() -> None:
    """The pixel goes before `</body>`, here before the last link: that link's line is
    measured where the pixel pushed it."""
    link = '<a href="{{ b }}">x</a>' + "z" * 950
    body, _ = anchored(f"<body>\n</body>\n{'y' * 200}\n{link}\n", "", "https://x.example/p")
    assert body is not None
    tracked = rewrite_links(body, 7, PUBLIC_URL, SECRET)
    assert max(map(len, tracked.html.split("\n"))) > 998
    assert type(tracked.html) is RelaxedSafeText


def test_seven_bit_html_is_encoded_as_the_checks_would_encode_it() -> None:
    html = '<p class="a">Hello Anna,\nyour offers.</p>\n<a href="x">y</a>'
    assert encode_text_part("html", SevenBitHtml(html)) == encode_text_part("html", html)
    assert encode_text_part("html", SevenBitHtml(html))[0][1].endswith("7bit")


def test_the_pixel_and_click_links_are_escaped_as_whole_addresses() -> None:
    body = SevenBitHtml('<p><a href="https://shop.example/p">x</a></p>\n</body>')
    for public_url in ("https://mail.shop.example/a&b'c/", "https://mäil.shop.example"):
        tracked = rewrite_links(body, 7, public_url, SECRET)
        key, pixel_key = tracked.keys
        assert f'href="{html.escape(click_url(public_url, key))}"' in tracked.html
        assert f'src="{html.escape(pixel_url(public_url, pixel_key))}"' in tracked.html
        assert (type(tracked.html) is SevenBitHtml) is public_url.isascii()
