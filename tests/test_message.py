"""Hand-built MIME read back by Python's own parser (policy=default), exactly."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailengine.errors import MessageHeaderError
from mailengine.message_ids import keyed_message_id, keyed_message_ids, make_message_id
from mailengine.outbound.mime import MimeBytes, OutgoingMessage, build_mime

BASE = OutgoingMessage(
    from_address="hello@shop.example",
    from_name="Example Shop",
    to_address="jane.doe@example.com",
    to_name="Jane Doe",
    subject="Your offers",
    text="Hello Jane,\nhere are your offers.\n",
    html="<p>Hello Jane</p>",
    message_id="<send-42@shop.example>",
    date=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
    bounce_address="bounces+16-0123456789ab@shop.example",
    reply_to="support@shop.example",
    list_unsubscribe_url="https://shop.example/unsubscribe/abc?x=1",
    list_unsubscribe_mailto="mailto:unsubscribe@shop.example?subject=42",
)

# Everything a person might type, minus line breaks (refused) and surrogates.
header_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=200)
body_text = st.text(st.characters(codec="utf-8"), max_size=3000)


def parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def lines_of(data: bytes) -> list[bytes]:
    assert not re.search(rb"\r(?!\n)|(?<!\r)\n", data), "a bare CR or LF"
    return data.split(b"\r\n")


def same_text(parsed: str, original: str) -> bool:
    def norm(text: str) -> str:
        return text.replace("\r\n", "\n").replace("\r", "\n")

    return norm(parsed) == norm(original)


def check_wire_rules(data: bytes) -> None:
    head, _, body = data.partition(b"\r\n\r\n")
    assert data.isascii() and data.endswith(b"\r\n")
    for line in lines_of(head):
        assert len(line) <= 998
    for line in lines_of(body):
        assert len(line) <= 998, line
        assert not line.startswith((b".", b"From "))
    for part in parse(data).walk():
        if part.is_multipart():
            continue
        payload = part.get_payload()
        assert isinstance(payload, str)
        if part["Content-Transfer-Encoding"] in ("quoted-printable", "base64"):
            limit = 76
        else:  # 7bit: plain text in the lines of 78 readers see, HTML up to RFC 5322's 998
            limit = 998 if part.get_content_subtype() == "html" else 78
        assert max(map(len, payload.split("\n"))) <= limit + 1  # (with its CR)
    # what DKIM's relaxed body canonicalisation would change (the signer relies on it)
    assert b"\t" not in body and b"  " not in body and b" \r\n" not in body


def parts_of(data: bytes) -> tuple[EmailMessage, EmailMessage]:
    plain, rich = parse(data).iter_parts()
    assert isinstance(plain, EmailMessage) and isinstance(rich, EmailMessage)
    return plain, rich


def mjml_like_html(rows: int = 12) -> str:
    """Long lines full of attributes ("="), indentation, a few € and ä, as MRML writes them."""
    row = (
        '<tr><td align="left" style="font-size:0px;padding:10px 25px;word-break:break-word;">'
        '<div style="font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;">'
        'Artikel {n}: {n}9,00 {currency} <a href="https://shop.example/p/{n}?c=1&amp;u=2">'
        "Ansehen</a></div></td></tr>"
    )
    long_line = "".join(row.format(n=n, currency="EUR" if n % 4 else "€") for n in range(rows))
    return (
        '<!DOCTYPE html><html lang="de"><head><title>Angebote für Sie</title>\n'
        '<style type="text/css">\n  .price { font-weight: bold; }\n</style></head>\n'
        f'<body style="word-spacing:normal;"><table>{long_line}</table>\n'
        "          \n          Ihre Angebote der Woche.\n"
        f"<p>Beispiel GmbH, Musterstraße 1</p>{long_line}</body></html>"
    )


def test_headers_of_a_marketing_message() -> None:
    data = build_mime(BASE)
    assert isinstance(data, MimeBytes)
    check_wire_rules(data)
    message = parse(data)
    assert message["From"] == "Example Shop <hello@shop.example>"
    assert message["To"] == "Jane Doe <jane.doe@example.com>"
    assert message["Date"].datetime == BASE.date
    assert message["Message-ID"] == "<send-42@shop.example>"
    assert message["Reply-To"] == "support@shop.example"
    assert message["List-Unsubscribe"] == (
        "<https://shop.example/unsubscribe/abc?x=1>, <mailto:unsubscribe@shop.example?subject=42>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert message.defects == []


def test_one_click_needs_a_web_address_and_parts_are_optional() -> None:
    only_mail = replace(BASE, list_unsubscribe_url=None, html=None)
    message = parse(build_mime(only_mail))
    assert message["List-Unsubscribe"] == "<mailto:unsubscribe@shop.example?subject=42>"
    assert message["List-Unsubscribe-Post"] is None
    assert message.get_content_type() == "text/plain"
    assert same_text(message.get_content(), BASE.text)
    bare = parse(build_mime(replace(BASE, list_unsubscribe_mailto=None, list_unsubscribe_url=None)))
    assert bare["List-Unsubscribe"] is None


def test_extra_headers_for_replies() -> None:
    reply = replace(
        BASE,
        extra_headers=(
            ("In-Reply-To", "<abc@customer.example>"),
            ("References", " ".join(f"<ref{i}@customer.example>" for i in range(12))),
            ("Auto-Submitted", "auto-replied"),
        ),
    )
    data = build_mime(reply)
    check_wire_rules(data)
    message = parse(data)
    assert message["In-Reply-To"] == "<abc@customer.example>"
    assert message["References"] == " ".join(f"<ref{i}@customer.example>" for i in range(12))
    assert message["Auto-Submitted"] == "auto-replied"


def test_the_date_is_written_in_utc_from_any_zone() -> None:
    berlin = datetime(2026, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    data = build_mime(replace(BASE, date=berlin))
    assert data.count(b"Date: Sun, 01 Mar 2026 09:30:00 +0000\r\n") == 1


def test_each_message_has_the_date_it_was_built_with_whatever_came_before() -> None:
    first = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    later = first + timedelta(seconds=1)
    for date, written in [(first, b"10:30:00"), (first, b"10:30:00"), (later, b"10:30:01")]:
        data = build_mime(replace(BASE, date=date))
        assert data.count(b"Date: Sun, 01 Mar 2026 " + written + b" +0000\r\n") == 1
    with pytest.raises(ValueError, match="naive"):
        build_mime(replace(BASE, date=first.replace(tzinfo=None)))


@pytest.mark.parametrize(
    "change",
    [
        {"subject": "Hi\r\nBcc: everyone@example.com"},
        {"subject": "Hi\nBcc: everyone@example.com"},
        {"to_name": "Jane\r\nBcc: x@example.com"},
        {"from_name": "Shop\rX: y"},
        {"extra_headers": (("X-Campaign", "a\nb"),)},
        {"list_unsubscribe_url": "https://shop.example/u\r\nBcc: x@example.com"},
    ],
)
def test_a_line_break_in_a_header_value_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(MessageHeaderError, match="line break"):
        build_mime(replace(BASE, **change))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"to_address": "jane@example.com>, <evil@example.com"}, "address"),
        ({"to_address": "Jane <jane@example.com>"}, "address"),
        ({"bounce_address": "not an address"}, "bounce"),
        ({"message_id": "send-42@shop.example"}, "Message-ID"),
        ({"message_id": "<a b@shop.example>"}, "Message-ID"),
        ({"extra_headers": (("Subject", "twice"),)}, "build_mime itself"),
        ({"extra_headers": (("Bad Name", "x"),)}, "header name"),
        ({"list_unsubscribe_url": "javascript:alert(1)"}, "List-Unsubscribe"),
        ({"list_unsubscribe_mailto": "mailto:a@b.example>, <https://evil"}, "List-Unsubscribe"),
    ],
)
def test_unsafe_values_are_refused(change: dict[str, object], match: str) -> None:
    with pytest.raises(MessageHeaderError, match=match):
        build_mime(replace(BASE, **change))  # type: ignore[arg-type]


def test_message_ids_are_on_the_senders_domain() -> None:
    first, second = make_message_id("shop.example"), make_message_id("shop.example")
    assert first != second
    assert re.fullmatch(r"<[0-9a-f]{32}@shop\.example>", first)
    assert make_message_id("shop.example", "send-42.attempt") == "<send-42.attempt@shop.example>"
    for bad in ("", "a b", "a..b", ".a", "a@b"):
        with pytest.raises(MessageHeaderError):
            make_message_id("shop.example", bad)
    with pytest.raises(MessageHeaderError, match="domain"):
        make_message_id("not a domain")


def test_a_keyed_message_id_is_the_same_for_one_key_and_differs_under_another_secret() -> None:
    secret, other = b"first-shop-secret-key", b"second-shop-secret-key"
    key = "thank-you:1:42:2026-11-23T10:00:00+00:00"
    first = keyed_message_id(secret, "shop.example", key)
    assert first == keyed_message_id(secret, "shop.example", key)  # a resend keeps it
    assert re.fullmatch(r"<me\.[0-9a-f]{32}@shop\.example>", first)
    assert first != keyed_message_id(other, "shop.example", key)
    assert first != keyed_message_id(secret, "shop.example", key.replace("42", "43"))


@pytest.mark.parametrize(
    "subject",
    [
        "Grüße aus Berlin 🎉",
        "🎉" * 40,
        "A very long subject line " * 12,
        "x" * 1500,
        "=?utf-8?q?not_an_encoded_word?=",
        "  leading and trailing  ",
        "tab\there",
        "",
        "日本語の件名とても長い" * 8,
    ],
)
def test_subjects_read_back_exactly(subject: str) -> None:
    data = build_mime(replace(BASE, subject=subject))
    check_wire_rules(data)
    assert parse(data)["Subject"] == subject


@pytest.mark.parametrize(
    "name",
    [
        'Doe, Jane "JD"',
        "Jörg Müller-Lüdenscheidt",
        "O'Brien (Sales)",
        "back\\slash",
        "Dr. Who",
        "=?utf-8?b?Zm9v?=",
        "ünïcödé " * 19 + "ünïcödé",
        "<script>",
    ],
)
def test_display_names_read_back_exactly(name: str) -> None:
    data = build_mime(replace(BASE, to_name=name, from_name=name))
    check_wire_rules(data)
    message = parse(data)
    for header, address in (("To", BASE.to_address), ("From", BASE.from_address)):
        (parsed,) = message[header].addresses
        assert (parsed.display_name, parsed.addr_spec) == (name, address)


@pytest.mark.parametrize(
    "text",
    [
        ".\n..\n.leading dot\nFrom the start\nFrom\n",
        "x" * 5000,
        "." + "y" * 75 + "\n" + "." * 300,
        "trailing spaces   \ntabs\t\t\nend ",
        "a=b=c " * 300,
        "Grüße\n.dot\nFrom here\n",
        "\x00\x01 control\x7f characters\n",
        "no final newline",
        "",
    ],
)
def test_bodies_read_back_exactly(text: str) -> None:
    data = build_mime(replace(BASE, text=text, html=f"<pre>{text}</pre>"))
    check_wire_rules(data)
    plain, html = parse(data).iter_parts()
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    assert same_text(plain.get_content(), text)
    assert same_text(html.get_content(), f"<pre>{text}</pre>")


@settings(max_examples=150, deadline=None)
@given(subject=header_text, name=header_text)
def test_any_subject_and_name_read_back_exactly(subject: str, name: str) -> None:
    data = build_mime(replace(BASE, subject=subject, to_name=name or None))
    check_wire_rules(data)
    message = parse(data)
    assert message["Subject"] == subject
    (parsed,) = message["To"].addresses
    assert parsed.display_name == " ".join(name.split())  # whitespace collapsed, by design


@settings(max_examples=150, deadline=None)
@given(text=body_text, html=body_text)
def test_any_body_reads_back_exactly(text: str, html: str) -> None:
    data = build_mime(replace(BASE, text=text, html=html))
    check_wire_rules(data)
    plain, rich = parse(data).iter_parts()
    assert isinstance(plain, EmailMessage) and isinstance(rich, EmailMessage)
    assert same_text(plain.get_content(), text)
    assert same_text(rich.get_content(), html)


@settings(max_examples=150, deadline=None)
@given(text=st.text(st.sampled_from(".F rom=\t\nab"), max_size=400))
def test_dots_from_lines_and_long_lines_in_a_single_part(text: str) -> None:
    data = build_mime(replace(BASE, text=text, html=None))
    check_wire_rules(data)
    assert same_text(parse(data).get_content(), text)


ASCII_PARAGRAPH = "An ASCII paragraph, so that non-ASCII characters are rare.\n" * 30


def test_mostly_ascii_html_goes_as_quoted_printable() -> None:
    html, text = mjml_like_html(), "Hello Jane, here are your offers, from 9 €.\n" * 40
    data = build_mime(replace(BASE, html=html, text=text))
    check_wire_rules(data)
    plain, rich = parts_of(data)
    assert rich["Content-Transfer-Encoding"] == "quoted-printable"
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert same_text(rich.get_content(), html)
    assert same_text(plain.get_content(), text)
    body = data.split(b"\r\n\r\n", 2)[2]
    assert b"f=C3=BCr Sie" in body and b"=E2=82=AC" in body and b'align=3D"left"' in body


@pytest.mark.parametrize(
    "text",
    [
        "Привет, как дела? Это письмо на русском языке.\n" * 20,
        "日本語のメールです。よろしくお願いします。\n" * 20,
        "Ελληνικά γράμματα σε ένα μήνυμα\n" * 20,
        "Grüße aus Berlin, schöne Bücher für Sie.\n" * 20,  # cheaper as base64 to encode
    ],
)
def test_text_with_many_non_ascii_letters_goes_as_base64(text: str) -> None:
    data = build_mime(replace(BASE, text=text, html=f"<p>{text}</p>"))
    check_wire_rules(data)
    plain, rich = parts_of(data)
    assert plain["Content-Transfer-Encoding"] == "base64"
    assert rich["Content-Transfer-Encoding"] == "base64"
    assert same_text(plain.get_content(), text)
    lines = data.split(b"\r\n\r\n", 2)[2].split(b"\r\n")
    assert max(map(len, lines)) == 76


@pytest.mark.parametrize(
    "html",
    [
        "x" * 76 + "\n" + "y" * 75 + "€\n" + "z" * 73 + "=\n",  # lines about 76 long
        "a" * 74 + "=" + "b" * 1000,  # an escape where the cut falls, no final newline
        "a" * 73 + "€" + "b" * 200,
        ("a" * 74 + ".b") * 30,  # a dot where the cut falls moves the cut back
        ("a" * 74 + "From here") * 30,
        "=" + "." * 300 + "\n" + "ä" + "." * 150,  # dots all the way: escaped
        "." * 76 + "\n.\nFrom x\n",
        "trailing spaces   \ntab\tin the middle\t\n        indented €\n",
        "Grüße" + " aus Berlin" * 60 + "\r\nzwei Zeilen\rdrei Zeilen\n",
        "ends in a space, after a €" + " " * 300,
        "ends in a dot, after a €" + "." * 362,
    ],
)
def test_quoted_printable_edges_read_back_exactly(html: str) -> None:
    html = ASCII_PARAGRAPH + html
    data = build_mime(replace(BASE, html=html))
    check_wire_rules(data)
    _, rich = parts_of(data)
    assert rich["Content-Transfer-Encoding"] == "quoted-printable"
    assert same_text(rich.get_content(), html)


def test_control_characters_with_non_ascii_read_back_exactly() -> None:
    text = "Grüße\n" + "\x00 \x01mark\x7f\x1b[0m  two spaces\ttab \n" * 30 + "Ende €"
    data = build_mime(replace(BASE, text=text, html=text))
    check_wire_rules(data)
    plain, rich = parts_of(data)
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert same_text(plain.get_content(), text)
    assert same_text(rich.get_content(), text)


@st.composite
def mostly_ascii(draw: st.DrawFn) -> str:
    """ASCII with what quoted-printable has to escape or cut around, long lines, and now and
    then (at most one in 300 characters) anything else: ä, €, an emoji, a control character."""
    pieces = [*"abc =.F\t\n", "From ", "  ", "=3D", "\r\n", "\r", "x" * 70]
    text = "".join(draw(st.lists(st.sampled_from(pieces), min_size=60, max_size=400)))
    for _ in range(draw(st.integers(min(1, len(text) // 300), len(text) // 300))):
        at = draw(st.integers(0, len(text)))
        other = st.one_of(st.sampled_from("äöüß€é😀"), st.characters(codec="utf-8"))
        text = text[:at] + draw(other) + text[at:]
    return text * draw(st.integers(1, 3))


@settings(max_examples=300, deadline=None)
@given(html=mostly_ascii())
def test_any_mostly_ascii_text_reads_back_exactly(html: str) -> None:
    data = build_mime(replace(BASE, html=html))
    check_wire_rules(data)
    _, rich = parts_of(data)
    assert same_text(rich.get_content(), html)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(st.sampled_from("ab=. "), max_size=80),
    run=st.sampled_from(["=", ".", "€", " ", "From ", "=3D", "x"]),
    count=st.integers(min_value=1, max_value=120),
    tail=st.text(st.sampled_from("ab=.F \n"), max_size=80),
)
def test_long_lines_are_cut_anywhere_safely(prefix: str, run: str, count: int, tail: str) -> None:
    html = ASCII_PARAGRAPH + prefix + run * count + tail + "€"
    data = build_mime(replace(BASE, html=html, text=html))
    check_wire_rules(data)
    plain, rich = parts_of(data)
    assert same_text(plain.get_content(), html)
    assert same_text(rich.get_content(), html)


def test_keyed_message_ids_are_the_hmac_of_each_key_under_the_secret() -> None:
    # A secret longer than SHA-256's block is hashed first (RFC 2104); keys may be any text.
    for secret in (b"first-shop-secret-key", b"s" * 100):
        many = keyed_message_ids(secret, "shop.example")
        for key in ("broadcast:sale:1", "broadcast:sale:1000000", "weekly:send:42:Zürich", ""):
            digest = hmac.new(secret, b"message-id\x00" + key.encode(), hashlib.sha256)
            expected = f"<me.{digest.hexdigest()[:32]}@shop.example>"
            assert many(key) == expected == keyed_message_id(secret, "shop.example", key)
    with pytest.raises(MessageHeaderError, match="domain"):
        keyed_message_ids(b"secret", "not a domain")
