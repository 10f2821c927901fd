"""A message over any cap is kept, marked, and never answered."""

from __future__ import annotations

import pytest

from mailengine.inbound.chain import Classification, default_chain
from mailengine.inbound.message import InboundLimits
from mailengine.inbound.parse import parse_inbound
from tests.inbound.builders import raw_message

CHAIN = default_chain()
SMALL = InboundLimits(
    max_bytes=50_000, max_parts=5, max_depth=3, max_header_count=40, max_header_length=500
)


def _nested(depth: int) -> bytes:
    head = "From: anna@customer.example\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    closing = "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    return (head + opening + "Content-Type: text/plain\r\n\r\nhello\r\n" + closing).encode()


def _many_parts(count: int) -> bytes:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(count))
    return (
        "From: anna@customer.example\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + "--b--\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("raw", "mark"),
    [
        (raw_message(body="x" * 60_000), "size"),
        (_many_parts(12), "mime_parts"),
        (_nested(6), "nesting_depth"),
        (raw_message(("X-Long", "y" * 600)), "header_length"),
        (raw_message(*[(f"X-Field-{i}", "v") for i in range(60)]), "header_count"),
    ],
)
def test_a_message_over_a_cap_is_marked_and_not_answered(raw: bytes, mark: str) -> None:
    msg = parse_inbound(raw, SMALL)
    assert mark in msg.over_limits
    assert msg.raw_size == len(raw)
    verdict = CHAIN.classify(msg)
    assert verdict.classification is Classification.OVERSIZED
    assert not verdict.may_answer
    assert parse_inbound(raw_message(), SMALL).over_limits == ()


def test_over_size_keeps_the_headers_but_reads_no_body() -> None:
    msg = parse_inbound(raw_message(body="x" * 60_000), SMALL)
    assert msg.subject == "Question about my order"
    assert msg.from_address == "anna@customer.example"
    assert msg.body_text == ""
    assert msg.parts == ()


def test_hostile_nesting_does_not_exhaust_the_stack() -> None:
    msg = parse_inbound(_nested(3_000))  # default limits; the stdlib parser would recurse away
    assert "nesting_depth" in msg.over_limits
    assert not CHAIN.classify(msg).may_answer


def test_the_readable_body_is_truncated_to_its_cap() -> None:
    msg = parse_inbound(raw_message(body="word " * 10_000), InboundLimits(max_body_chars=1_000))
    assert len(msg.body_text) == 1_000
    assert msg.body_truncated
    assert msg.over_limits == ()
