"""The parts of answering by e-mail: signed reply addresses, quoting the customer, and cutting
the quoted notification off a team member's answer in the shapes mail programs write."""

from __future__ import annotations

from datetime import datetime

import pytest

from mailengine.inbound.quoting import REPLY_MARKER, quote_message, strip_quoted
from mailengine.inbound.reply_address import ReplyAddresses

SECRET = b"a-test-secret-that-is-long-enough"
REPLIES = ReplyAddresses("Support@Shop.Example", SECRET)
ANSWER = "Hi Anna,\n\nit ships today.\n\nSam"


def test_a_reply_address_names_its_ticket_and_nothing_else() -> None:
    address = REPLIES.address(42)
    local, _, domain = address.partition("@")
    assert domain == "shop.example"
    assert local.startswith("support+t-42.") and len(local) == len("support+t-42.") + 16
    assert REPLIES.check(address) is not None and REPLIES.check(address.upper()) is not None
    found = REPLIES.check(f"<{address.upper()}>")
    assert found is not None and found.genuine and found.ticket_id == 42
    # Another shop's key, another ticket's signature, no signature: refused, saying why.
    other = ReplyAddresses("support@shop.example", b"another-secret-of-enough-length").address(42)
    forged = REPLIES.check(other)
    assert forged is not None and not forged.genuine
    assert forged.problem == "the reply address has a forged signature"
    moved = REPLIES.check(address.replace("+t-42.", "+t-43."))  # 42's signature on 43
    assert moved is not None and (moved.ticket_id, moved.genuine) == (43, False)
    unsigned = REPLIES.check("support+t-42@shop.example")
    assert unsigned is not None and unsigned.problem == "the reply address carries no signature"
    made_up = REPLIES.check("support+t-x.123@shop.example")
    assert made_up is not None and made_up.ticket_id is None and not made_up.genuine


@pytest.mark.parametrize(
    "address",
    ["support@shop.example", "support+news@shop.example", "support+t-1.ab@other.example", "x"],
)
def test_other_addresses_are_not_reply_addresses(address: str) -> None:
    assert REPLIES.check(address) is None


def test_the_customer_is_quoted_under_the_answer() -> None:
    quoted = quote_message("Hello,\n\nwhere is it?\n", "Anna", datetime(2026, 11, 23, 10, 0))
    assert quoted == "On Mon, 23 Nov 2026 at 10:00, Anna wrote:\n> Hello,\n>\n> where is it?"


QUOTES = {
    "gmail": "On Mon, 23 Nov 2026 at 10:05, Example Shop <hello@shop.example> wrote:\n\n> x",
    "gmail wrapped": "On Mon, 23 Nov 2026 at 10:05, Example Shop <\nhello@shop.example> wrote:",
    "apple": "> On 23. Nov 2026, at 10:05, Example Shop <hello@shop.example> wrote:\n> x",
    "german": "Am Mo., 23. Nov. 2026 um 10:05 Uhr schrieb Example Shop <hello@shop.example>:\n> x",
    "outlook": "-----Original Message-----\nFrom: Example Shop\nSent: Monday\n\nx",
    "outlook web": "________________________________\nFrom: Example Shop <hello@shop.example>\nx",
    "outlook headers": "From: Example Shop <hello@shop.example>\nSent: 23 November 2026\nTo: team",
    "marker only": f"{REPLY_MARKER}\n[T-1] a customer wrote to support",
    "marker quoted": f">> {REPLY_MARKER}\n> x",
}


@pytest.mark.parametrize("shape", sorted(QUOTES))
def test_the_answer_is_what_stands_above_the_quote(shape: str) -> None:
    assert strip_quoted(f"{ANSWER}\n\n{QUOTES[shape]}\n") == ANSWER
    assert strip_quoted(f"{ANSWER}\r\n\r\n{QUOTES[shape]}".replace("\n", "\r\n")) == ANSWER


def test_an_answer_that_talks_about_mail_is_kept_whole() -> None:
    text = "On Monday we ship it.\nFrom: our warehouse in Kassel.\nThanks"
    assert strip_quoted(text) == text
