"""Signed link tokens: one spelling per token, bound to purpose and address, valid for a time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailengine.addresses import address_hash
from mailengine.tokens import make_token, purpose_signer, read_token, signature, to_base64url

SECRET = b"a-token-test-secret-long-enough"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
ADA = address_hash("ada@example.com")
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_a_token_names_its_address_for_its_purpose_only() -> None:
    token = make_token(SECRET, "unsubscribe", ADA, NOW)
    assert read_token(SECRET, "unsubscribe", token, NOW, YEAR) == ADA
    assert read_token(SECRET, "preferences", token, NOW, YEAR) is None
    assert read_token(b"another-secret-of-some-length", "unsubscribe", token, NOW, YEAR) is None


@pytest.mark.parametrize("purpose", ["unsubscribe", "preferences", "confirm"])
def test_every_other_last_character_is_refused(purpose: str) -> None:
    token = make_token(SECRET, purpose, ADA, NOW)
    for character in BASE64URL:
        if character != token[-1]:
            altered = token[:-1] + character
            assert read_token(SECRET, purpose, altered, NOW, YEAR) is None, altered


@pytest.mark.parametrize("suffix", ["=", "==", "===", " ", "\n", ".", "A"])
def test_padding_or_anything_appended_is_refused(suffix: str) -> None:
    token = make_token(SECRET, "unsubscribe", ADA, NOW)
    assert read_token(SECRET, "unsubscribe", token + suffix, NOW, YEAR) is None


def test_padding_inside_a_part_is_refused() -> None:
    subject, day, signature = make_token(SECRET, "preferences", ADA, NOW).split(".")
    for padded in (f"{subject}=.{day}.{signature}", f"{subject}.{day}==.{signature}"):
        assert read_token(SECRET, "preferences", padded, NOW, YEAR) is None


def test_a_token_works_for_its_validity_and_not_a_day_longer() -> None:
    token = make_token(SECRET, "unsubscribe", ADA, NOW)
    assert read_token(SECRET, "unsubscribe", token, NOW + YEAR, YEAR) == ADA
    assert read_token(SECRET, "unsubscribe", token, NOW + YEAR + timedelta(days=1), YEAR) is None
    # issued "tomorrow" by a clock a little ahead still reads; a week ahead does not
    assert read_token(SECRET, "unsubscribe", token, NOW - timedelta(hours=20), YEAR) == ADA
    assert read_token(SECRET, "unsubscribe", token, NOW - timedelta(days=7), YEAR) is None


def test_the_earlier_two_part_form_still_unsubscribes_and_nothing_else() -> None:
    subject = bytes.fromhex(ADA)

    def legacy(purpose: str) -> str:
        mac = hmac.new(SECRET, purpose.encode() + b"\x00" + subject, hashlib.sha256).digest()
        return ".".join(
            base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (subject, mac)
        )

    assert read_token(SECRET, "unsubscribe", legacy("unsubscribe"), NOW, YEAR) == ADA
    assert read_token(SECRET, "preferences", legacy("preferences"), NOW, YEAR) is None
    assert read_token(SECRET, "unsubscribe", legacy("unsubscribe") + "==", NOW, YEAR) is None


@given(position=st.integers(min_value=0), replacement=st.sampled_from(BASE64URL + ".=+/"))
def test_no_single_character_change_verifies(position: int, replacement: str) -> None:
    token = make_token(SECRET, "confirm", ADA, NOW)
    index = position % len(token)
    altered = token[:index] + replacement + token[index + 1 :]
    if altered != token:
        assert read_token(SECRET, "confirm", altered, NOW, YEAR) is None


def test_signatures_from_a_kept_key_are_plain_hmacs_and_independent() -> None:
    """Keyed once and copied (keyed_hmac, purpose_signer): each signature is still the HMAC
    of purpose, NUL and subject under the secret, whatever was signed before."""
    signer = purpose_signer(SECRET, "tracked-link")
    for subject in (b"a", b"", b"b" * 200, b"a"):
        expected = hmac.new(SECRET, b"tracked-link\x00" + subject, hashlib.sha256).digest()
        mac = signer.copy()
        mac.update(subject)
        assert mac.digest() == expected == signature(SECRET, "tracked-link", subject)
    other = signature(b"another-secret-of-enough-length", "tracked-link", b"a")
    assert other != signature(SECRET, "tracked-link", b"a")
    assert to_base64url(b"\xfb\xff\xfe") == "-__-"
