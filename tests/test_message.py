"""Hand-built MIME read back by Python's own parser (policy=default), exactly."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailengine.message import (
    MessageHeaderError,
    MimeBytes,
    OutgoingMessage,
    build_mime,
    make_message_id,
)

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
        assert len(line) <= 76, line
        assert not line.startswith((b".", b"From "))


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
