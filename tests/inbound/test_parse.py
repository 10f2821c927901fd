"""parse_inbound on hand-built edge cases: line endings, encodings, addresses, threading."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailengine.inbound.parse import parse_inbound
from tests.inbound.builders import raw_message


@pytest.mark.parametrize("newline", [b"\r\n", b"\n", b"\r"])
def test_every_line_ending_reads_the_same(newline: bytes) -> None:
    raw = raw_message(body="line one\r\nline two").replace(b"\r\n", newline)
    msg = parse_inbound(raw)
    assert msg.subject == "Question about my order"
    assert msg.from_address == "anna@customer.example"
    assert msg.from_name == "Anna Customer"
    assert msg.body_text == "line one\nline two"
    assert msg.date == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert msg.message_id == "<question-1@customer.example>"


def test_an_encoded_subject_is_decoded_and_kept_on_one_line() -> None:
    subject = "=?utf-8?q?Bestellung_=C3=BCber?=\r\n =?iso-8859-1?q?_Gr=FC=DFe?= \r\n\tand more"
    msg = parse_inbound(raw_message(subject=subject))
    assert msg.subject == "Bestellung über Grüße and more"
    assert "\n" not in msg.subject and "\r" not in msg.subject


def test_eight_bit_garbage_and_unknown_charsets_never_break_parsing() -> None:
    raw = (
        b"From: J\xfcrgen <juergen@customer.example>\r\nSubject: Gr\xfc\xdfe \xff\xfe\r\n"
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\nK\xf6ln \xe2\x82\xac\r\n"
    )
    msg = parse_inbound(raw)
    assert msg.from_address == "juergen@customer.example"
    assert msg.subject.startswith("Gr")
    assert "K" in msg.body_text


@pytest.mark.parametrize(
    "sender",
    [
        "anna@customer.example, bob@customer.example",
        "MAILER-DAEMON",
        "Anna <anna@@customer.example>",
        "",
        "Anna <anna@localhost>",
    ],
)
def test_from_is_parsed_strictly(sender: str) -> None:
    assert parse_inbound(raw_message(sender=sender)).from_address is None


def test_from_is_lower_cased() -> None:
    msg = parse_inbound(raw_message(sender='"Doe, Anna" <Anna.Doe@Customer.EXAMPLE>'))
    assert (msg.from_address, msg.from_name) == ("anna.doe@customer.example", "Doe, Anna")


def test_threading_fields_and_addresses() -> None:
    msg = parse_inbound(
        raw_message(
            ("In-Reply-To", "<ack-7@shop.example>"),
            ("References", "<q-1@customer.example>\r\n <ack-7@shop.example>"),
            ("Delivered-To", "support@shop.example"),
            ("Reply-To", "Anna <anna.private@customer.example>"),
        ),
        envelope_sender="<anna@customer.example>",
        envelope_recipients=["Support@Shop.example"],
    )
    assert msg.in_reply_to == "<ack-7@shop.example>"
    assert msg.references == ("<q-1@customer.example>", "<ack-7@shop.example>")
    assert msg.to_addresses == ("support@shop.example",)
    assert msg.delivered_to == ("support@shop.example",)
    assert msg.envelope_recipients == ("support@shop.example",)
    assert msg.reply_to == ("anna.private@customer.example",)
    assert msg.return_path == "anna@customer.example"
    assert msg.headers.get_all("REFERENCES") == ("<q-1@customer.example> <ack-7@shop.example>",)


def test_a_null_envelope_sender_is_the_empty_path() -> None:
    assert parse_inbound(raw_message(), envelope_sender="").return_path == ""
    assert parse_inbound(raw_message(("Return-Path", "<>"))).return_path == ""
    assert parse_inbound(raw_message()).return_path is None


def test_html_only_mail_is_read_as_text() -> None:
    raw = (
        b"From: anna@customer.example\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{}</style></head><body><p>Where is&nbsp;my <b>order</b>?</p>"
        b"<p>Anna</p><script>x()</script></body></html>\r\n--b--\r\n"
    )
    msg = parse_inbound(raw)
    assert msg.body_text == "Where is my order?\n\nAnna"
    assert msg.content_type == "multipart/alternative"


def test_plain_text_is_preferred_and_attachments_are_not_the_body() -> None:
    raw = (
        b"From: anna@customer.example\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n"
        b"Content-Disposition: attachment; filename=a.txt\r\n\r\n"
        b"attached\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b--\r\n"
    )
    msg = parse_inbound(raw)
    assert msg.body_text == "plain"
    assert [p.filename for p in msg.parts if p.is_attachment] == ["a.txt"]


def test_a_missing_boundary_is_a_defect_not_a_failure() -> None:
    raw = (
        b"From: anna@customer.example\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="nowhere"\r\n\r\njust text\r\n'
    )
    msg = parse_inbound(raw)
    assert msg.defects
    assert msg.over_limits == ()


@pytest.mark.parametrize("raw", [b"", b"\x00\x01\x02", b"\r\n\r\n\r\n", b"From:\r\n\r\n" * 3])
def test_junk_still_gives_a_message(raw: bytes) -> None:
    msg = parse_inbound(raw)
    assert msg.raw_size == len(raw)
    assert msg.from_address is None
