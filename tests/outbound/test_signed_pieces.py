"""A message signed from its pieces (`mime_parts`, `DkimSigner.sign_parts`) is the message
signed whole: the same bytes, byte for byte, and a signature dkimpy verifies."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailengine.outbound.dkim import DkimSigner
from mailengine.outbound.mime import MimeBytes, build_mime, mime_parts
from tests.test_dkim import ed25519_pem, rsa_pem, signer, verify
from tests.test_message import BASE, mjml_like_html, mostly_ascii

__all__ = ["ed25519_pem", "rsa_pem", "signer"]  # (fixtures shared with the DKIM tests)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(html=mostly_ascii(), text=mostly_ascii(), alone=st.booleans())
def test_signing_the_pieces_is_signing_the_joined_message(
    signer: DkimSigner, html: str, text: str, alone: bool
) -> None:
    parts = mime_parts(replace(BASE, html=None if alone else html, text=text))
    signed = signer.sign_parts(parts)
    assert type(signed) is MimeBytes
    assert signed == signer.sign(parts.joined())


@pytest.mark.parametrize("text", ["Hello\n\n\n", "Hello \n", "x\n", "\n", "", "no break"])
def test_a_lone_text_part_ending_in_empty_lines(signer: DkimSigner, text: str) -> None:
    """Its relaxed body drops the empty lines at its end: hashed whole, not piece by piece."""
    parts = mime_parts(replace(BASE, html=None, text=text))
    assert signer.sign_parts(parts) == signer.sign(parts.joined())
    assert verify(signer.sign_parts(parts), signer)


def test_the_joined_pieces_are_the_built_message() -> None:
    message = replace(BASE, html=mjml_like_html())
    parts = mime_parts(message)
    joined = parts.joined()
    assert type(joined) is MimeBytes
    assert joined.startswith(parts.header + b"\r\n")
    # Only the boundary is drawn at random.
    boundary = joined.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    built = build_mime(message)
    other = built.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    assert built.replace(other, boundary) == joined


def test_pieces_over_2_kb_are_hashed_in_slices_as_one_body(signer: DkimSigner) -> None:
    """A long text part beside a longer HTML body: the text hashed in slices, the same hash."""
    text = "Offers of the week, in your size, in a store near you.\n" * 200  # 11 KB
    parts = mime_parts(replace(BASE, html=mjml_like_html() * 3, text=text))
    assert sorted(map(len, parts.body))[-2] > 4096
    assert signer.sign_parts(parts) == signer.sign(parts.joined())
    assert verify(signer.sign_parts(parts), signer)
