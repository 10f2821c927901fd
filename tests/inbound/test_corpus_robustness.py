"""Every real-world message goes through parsing, the rule chain and bounce parsing."""

from __future__ import annotations

import time

import pytest

from mailengine.inbound.bounces import parse_bounce
from mailengine.inbound.chain import default_chain
from mailengine.inbound.complaints import parse_complaint
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.parse import parse_inbound
from mailengine.inbound.verp_lookup import VerpKey
from tests.inbound.corpus import corpus_messages, corpus_or_skip, stdlib_email_data

VERP = VerpKey(local_part="bounces", domain="shop.example", secret=b"test-secret")


def _run_everything(raw: bytes) -> InboundMessage:
    msg = parse_inbound(raw)
    default_chain(own_domains=["shop.example"]).classify(msg)
    parse_bounce(msg, VERP)
    parse_complaint(msg, VERP)
    return msg


def test_every_corpus_message_goes_through_without_an_exception() -> None:
    root = corpus_or_skip()
    started = time.perf_counter()
    names = []
    for name, raw in corpus_messages(root):
        msg = _run_everything(raw)
        assert msg.raw_size == len(raw)
        names.append(name)
    elapsed = time.perf_counter() - started
    print(f"\n{len(names)} corpus messages in {elapsed:.2f} s")
    assert len(names) > 800  # 629 + 80 + 80 + 3 + 11 + 35 + the mbox messages
    assert any("#" in name for name in names), "the mbox files were not split into messages"


def test_every_cpython_test_message_goes_through_without_an_exception() -> None:
    data = stdlib_email_data()
    if data is None:
        pytest.skip("CPython's test package (test/test_email/data) is not installed here")
    files = sorted(data.glob("msg_*.txt"))
    assert files
    for path in files:
        msg = _run_everything(path.read_bytes())
        assert msg.over_limits in ((), ("header_length",))


def test_the_endless_enclosure_and_the_long_header_are_marked_not_lost() -> None:
    root = corpus_or_skip()
    messages = root / "email" / "flanker_messages"
    endless = parse_inbound((messages / "enclosed-endless.eml").read_bytes())
    assert "mime_parts" in endless.over_limits
    assert len(endless.parts) == 200
    long_header = parse_inbound((messages / "long-header.eml").read_bytes())
    assert long_header.over_limits == ("header_length",)
    assert all(len(value) <= 16_384 for _, value in long_header.headers.items())


@pytest.mark.parametrize("folder", ["maildir-dos-crlf", "maildir-mac-cr"])
def test_line_endings_do_not_change_what_is_read(folder: str) -> None:
    root = corpus_or_skip() / "bounces" / "sisimai"
    compared = 0
    for path in sorted((root / folder).glob("*.eml")):
        twin = root / "maildir-bsd" / path.name
        raw = path.read_bytes()
        as_lf = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not twin.exists() or twin.read_bytes() != as_lf:
            continue  # not the same message with other line endings
        other, unix = parse_inbound(raw), parse_inbound(twin.read_bytes())
        assert (other.subject, other.from_address) == (unix.subject, unix.from_address)
        assert parse_bounce(other).hard == parse_bounce(unix).hard, path.name
        compared += 1
    assert compared > 50
