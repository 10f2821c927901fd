"""Which body goes as 7bit: HTML in lines of up to 998 octets, text in lines of up to 78, both
only as ASCII that keeps every wire rule as it is; anything else goes encoded, read back exact."""

from __future__ import annotations

import binascii
from dataclasses import replace
from email import policy
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailengine.outbound import body_encoding
from mailengine.outbound.body_encoding import encode_text_part
from mailengine.outbound.mime import build_mime
from mailengine.render.wire_html import RelaxedSafeText
from tests.test_message import BASE, check_wire_rules, parts_of, same_text

LONG_HTML_LINE = '<td style="font-size:0px;padding:10px 25px;word-break:break-word;"'


def encoding_of(subtype: str, content: str) -> str:
    headers, _ = encode_text_part(subtype, content)
    return headers[1].removeprefix("Content-Transfer-Encoding: ")


def test_html_goes_as_7bit_in_lines_of_up_to_998_octets() -> None:
    html = "<p>Hello</p>\n" + "x" * 998 + "\n<p>Bye</p>\n"
    headers, body = encode_text_part("html", html)
    assert headers == ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 7bit"]
    assert body == html.replace("\n", "\r\n").encode("ascii")
    assert encoding_of("html", "<p>Hello</p>\n" + "x" * 999 + "\n") == "quoted-printable"
    assert encoding_of("html", "x" * 999) == "quoted-printable"  # the first line alone


def test_plain_text_keeps_lines_of_78() -> None:
    assert encoding_of("plain", "a" * 78 + "\nok\n") == "7bit"
    assert encoding_of("plain", "a" * 79 + "\nok\n") == "quoted-printable"
    assert encoding_of("plain", "ok\n" + "a" * 79 + "\n") == "quoted-printable"


@pytest.mark.parametrize(
    "breaking",
    [
        "two  spaces",
        "a space at the end \nof a line",
        "a\ttab",
        "a NUL \x00",
        "\n.a line starting with a dot",
        "\nFrom a line mbox would mangle",
        "a non-ASCII €",
        "ends in a space ",
    ],
)
def test_html_breaking_a_wire_rule_goes_encoded_and_reads_back(breaking: str) -> None:
    html = f"<p>{LONG_HTML_LINE * 8}>\n{breaking}"
    assert encoding_of("html", html) != "7bit"
    data = build_mime(replace(BASE, html=html))
    check_wire_rules(data)
    _, rich = parts_of(data)
    assert same_text(rich.get_content(), html)


def test_a_dot_or_from_at_the_very_start_is_not_7bit() -> None:
    assert encoding_of("html", ".<p>x</p>\n") == "quoted-printable"
    assert encoding_of("html", "From <p>x</p>\n") == "quoted-printable"
    assert encoding_of("html", "<p>.x From y</p>\n") == "7bit"  # not at a line start


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(
        st.one_of(st.integers(0, 120), st.integers(900, 1100)), min_size=1, max_size=60
    )
)
def test_the_longest_line_is_found_wherever_it_is(lengths: list[int]) -> None:
    html = "\n".join("x" * length for length in lengths)
    expected = "7bit" if max(lengths) <= 998 else "quoted-printable"
    assert encoding_of("html", html) == expected
    plain = "7bit" if max(lengths) <= 78 else "quoted-printable"
    assert encoding_of("plain", html) == plain


def test_a_7bit_html_part_with_long_lines_keeps_the_wire_rules() -> None:
    row = "<tr>" + "".join(f"{LONG_HTML_LINE}>cell {n}</td>" for n in range(12)) + "</tr>"
    html = "<table>\n" + "\n".join([row] * 10) + "\n</table>\n"
    text = "Hello Jane,\nhere are your offers.\n"
    data = build_mime(replace(BASE, html=html, text=text))
    check_wire_rules(data)
    plain, rich = parts_of(data)
    assert plain["Content-Transfer-Encoding"] == "7bit"
    assert rich["Content-Transfer-Encoding"] == "7bit"
    assert same_text(rich.get_content(), html)
    assert 900 < len(row) <= 998
    assert data.split(b"\r\n").count(row.encode()) == 10  # each row one line, as it is


def test_html_without_a_final_line_break_goes_as_7bit_beside_text() -> None:
    html = "<p>" + "word " * 100 + "end</p>"
    data = build_mime(replace(BASE, html=html))
    check_wire_rules(data)
    _, rich = parts_of(data)
    assert rich["Content-Transfer-Encoding"] == "7bit"
    assert same_text(rich.get_content(), html)


def test_text_searched_for_blanks_by_its_maker_is_not_searched_again() -> None:
    html = "<p>Hello Anna,\nyour offers.</p>\n"
    assert encode_text_part("html", RelaxedSafeText(html)) == encode_text_part("html", html)
    # everything else is still checked: line starts, lengths, NUL, non-ASCII
    for broken in ("\n.dot\n", "x" * 999, "\x00", "€"):
        assert encoding_of("html", RelaxedSafeText(html + broken)) != "7bit"
    # and what str methods make of it is a plain str, searched as any other
    assert type(RelaxedSafeText(html).replace("Anna", "Anna  Maria")) is str
    assert encoding_of("html", RelaxedSafeText(html).replace("Anna", "Anna  Maria")) != "7bit"
    # a CR is made into a line break first, which the maker has not looked at
    assert encoding_of("html", RelaxedSafeText("<p>a \r\nb</p>\n")) != "7bit"


GERMAN_TEXT = (
    "Alles Gute zum Geburtstag, Jürgen!\n\n"
    "Alle bei Fjord & Field wünschen dir einen wunderschönen Tag in München.\n"
    "Hier ist ein kleines Geschenk zum Feiern: 15 % Rabatt auf deine nächste Bestellung,\n"
    "online oder in jedem unserer Läden. Gültig bis zum 23. Dezember 2026.\n"
)


def test_a_mostly_ascii_text_part_goes_quoted_printable_and_reads_back() -> None:
    assert encoding_of("plain", GERMAN_TEXT) == "quoted-printable"
    assert encoding_of("plain", "Bonne fête, Hélène ! Voici un petit cadeau.\n" * 20) == (
        "quoted-printable"
    )
    data = build_mime(replace(BASE, text=GERMAN_TEXT))
    check_wire_rules(data)
    raw = bytes(data)
    assert b"Content-Transfer-Encoding: base64" not in raw
    plain, _ = parts_of(data)
    assert same_text(plain.get_content(), GERMAN_TEXT)
    assert b"Alle bei Fjord & Field w=C3=BCnschen dir" in raw  # readable in the raw message


def test_a_text_part_of_another_script_stays_base64() -> None:
    assert encoding_of("plain", "Здравствуйте, Иван! Спасибо за заказ.\n" * 20) == "base64"
    # HTML keeps the strict limit: it is shaped to ASCII at compile time.
    assert encoding_of("html", "<p>" + GERMAN_TEXT * 20 + "</p>") == "base64"


@pytest.mark.parametrize("line", ["From " * 118, "==aaaaa" + "From " * 118, "x " * 200])
def test_a_text_line_ending_in_a_blank_stays_within_76_and_reads_back(line: str) -> None:
    """binascii.b2a_qp wrote a line of 78 when a line ended in a blank it escapes (=20)."""
    text = "Grüße aus Köln.\n" + line + "\nBis bald, €\n"
    headers, body = encode_text_part("plain", text, alone=True)
    assert "Content-Transfer-Encoding: quoted-printable" in headers
    assert max(map(len, body.split(b"\r\n"))) <= 76
    data = build_mime(replace(BASE, text=text, html=None))
    check_wire_rules(data)
    assert same_text(BytesParser(policy=policy.default).parsebytes(data).get_content(), text)


PROSE_PIECES = ["Grüße", "a", " ", "  ", "\t", ".", "From ", "=", "€", "\n", "\n\n", "x" * 70]


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.lists(st.sampled_from(PROSE_PIECES), max_size=40).map("".join), min_size=1, max_size=4
    )
)
def test_prose_encoded_line_by_line_is_what_binascii_makes_of_all_of_it(texts: list[str]) -> None:
    """The lines of a text part are encoded once each and joined: byte for byte what b2a_qp
    over the whole text gives, whatever lines were encoded before (twice: the second time
    from the lines kept)."""
    for text in texts + texts:
        whole = body_encoding._binascii_quoted_printable(text, prose=True)
        assert body_encoding._quoted_printable(text, prose=True) == whole


def test_a_text_parts_lines_are_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[bytes] = []
    b2a_qp = binascii.b2a_qp

    def counted(data: bytes, **options: bool) -> bytes:
        encoded.append(data)
        return b2a_qp(data, **options)

    monkeypatch.setattr(binascii, "b2a_qp", counted)
    first = GERMAN_TEXT + "Bis bald, Jürgen.\n"
    second = GERMAN_TEXT + "Bis bald, Anna.\n"
    encode_text_part("plain", first)
    encoded.clear()
    headers, body = encode_text_part("plain", second)
    assert encoded == [b"Bis bald, Anna.\n"]  # only the line not seen before
    assert "Content-Transfer-Encoding: quoted-printable" in headers
    assert body == body_encoding._binascii_quoted_printable(second, prose=True)
