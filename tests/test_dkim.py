"""DKIM signatures checked by dkimpy's verifier, the public key served by a stub resolver."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings

from mailengine.errors import ConfigError
from mailengine.outbound.dkim import DkimError, DkimSigner
from mailengine.outbound.mime import MimeBytes, OutgoingMessage, build_mime
from tests.test_message import BASE, mjml_like_html, mostly_ascii


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def ed25519_pem() -> bytes:
    return _pem(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(params=["rsa", "ed25519"])
def signer(request: pytest.FixtureRequest, rsa_pem: bytes, ed25519_pem: bytes) -> DkimSigner:
    pem = rsa_pem if request.param == "rsa" else ed25519_pem
    return DkimSigner("shop.example", "mail2026", pem)


def resolver(signer: DkimSigner) -> Callable[..., bytes | None]:
    """dkimpy's dnsfunc: TXT lookups answered from the signer's record, nothing else."""
    record = signer.dns_record().encode("ascii")

    def lookup(name: bytes | str, timeout: float = 5) -> bytes | None:
        wanted = f"{signer.selector}._domainkey.{signer.domain}."
        return record if (name.decode() if isinstance(name, bytes) else name) == wanted else None

    return lookup


def verify(signed: bytes, signer: DkimSigner) -> bool:
    return bool(dkim.verify(signed, dnsfunc=resolver(signer)))


def test_dkimpy_verifies_the_signature(signer: DkimSigner) -> None:
    message = build_mime(BASE)
    signed = signer.sign(message, timestamp=1_790_000_000)
    assert isinstance(signed, MimeBytes)
    assert signed.endswith(message)
    assert verify(signed, signer)
    head = signed.split(b"\r\n\r\n", 1)[0].decode()
    assert f"a={signer.algorithm}; c=relaxed/relaxed; d=shop.example; s=mail2026;" in head
    assert "t=1790000000;" in head


def test_the_listed_headers_are_signed_and_oversigned(signer: DkimSigner) -> None:
    signed = signer.sign(build_mime(BASE))
    field = signed.split(b"bh=", 1)[0].decode()
    names = field.split("h=", 1)[1].replace("\r\n\t ", "").rstrip(";\r\n\t ").split(":")
    for name in ("from", "to", "subject", "date", "message-id", "list-unsubscribe",
                 "list-unsubscribe-post"):  # fmt: skip
        assert names.count(name) == 2, name
    assert "x-auto-response-suppress" not in names


def test_only_headers_present_are_listed(signer: DkimSigner) -> None:
    plain = replace(BASE, list_unsubscribe_url=None, list_unsubscribe_mailto=None, reply_to=None)
    signed = signer.sign(build_mime(plain))
    head = signed.split(b"bh=", 1)[0]
    assert b"list-unsubscribe" not in head and b"reply-to" not in head
    assert verify(signed, signer)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Subject: Your offers", b"Subject: Your offer!"),
        (b"here are your offers.", b"here are our offers."),
        (b"To: Jane Doe", b"To: Jane Roe"),
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"),
    ],
)
def test_a_changed_message_fails(signer: DkimSigner, old: bytes, new: bytes) -> None:
    signed = signer.sign(build_mime(BASE))
    assert old in signed
    assert not verify(signed.replace(old, new, 1), signer)


def test_an_added_from_header_fails_because_of_oversigning(signer: DkimSigner) -> None:
    signed = signer.sign(build_mime(BASE))
    forged = signed.replace(b"\r\nFrom: ", b"\r\nFrom: Bank <ceo@bank.example>\r\nFrom: ", 1)
    assert not verify(forged, signer)


def test_relaxed_canonicalisation_survives_rewrapping_and_blank_changes(
    signer: DkimSigner,
) -> None:
    signed = signer.sign(build_mime(BASE))
    rewrapped = signed.replace(b"Subject: Your offers", b"Subject:   Your\r\n\t offers  ", 1)
    assert verify(rewrapped, signer)
    assert verify(signed + b"\r\n\r\n", signer)  # empty lines at the end are ignored


def test_other_bytes_are_signed_after_line_endings_are_made_crlf(signer: DkimSigner) -> None:
    raw = (
        b"From: a@shop.example\nTo: b@example.com\nSubject: hi\n\n"
        b"line with  two  spaces \t\nlast\n\n\n"
    )
    signed = signer.sign(raw)
    assert not isinstance(signed, MimeBytes)
    assert b"\n" not in signed.replace(b"\r\n", b"")
    assert verify(signed, signer)


def test_a_long_message_with_unicode_verifies(signer: DkimSigner) -> None:
    big = replace(BASE, subject="Grüße 🎉", html="<p>Grüße</p>" * 3000, text="Grüße\n" * 3000)
    message: OutgoingMessage = big
    assert verify(signer.sign(build_mime(message)), signer)


def test_refusals(rsa_pem: bytes, tmp_path: Path) -> None:
    signer = DkimSigner("shop.example", "s", rsa_pem)
    with pytest.raises(DkimError, match="no From"):
        signer.sign(b"To: b@example.com\r\n\r\nbody\r\n")
    with pytest.raises(DkimError, match="blank line"):
        signer.sign(b"From: a@shop.example")
    with pytest.raises(ConfigError, match="PEM"):
        DkimSigner("shop.example", "s", b"not a key")
    with pytest.raises(ConfigError, match="RSA or Ed25519"):
        DkimSigner("shop.example", "s", _pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ConfigError, match="From"):
        DkimSigner("shop.example", "s", rsa_pem, headers=("subject",))
    with pytest.raises(ConfigError, match="cannot read"):
        DkimSigner.from_file("shop.example", "s", tmp_path / "missing.pem")
    (tmp_path / "key.pem").write_bytes(rsa_pem)
    assert DkimSigner.from_file("shop.example", "s", tmp_path / "key.pem").algorithm == (
        "rsa-sha256"
    )


def test_dns_records(signer: DkimSigner) -> None:
    record = signer.dns_record()
    key_type = "rsa" if signer.algorithm == "rsa-sha256" else "ed25519"
    assert record.startswith(f"v=DKIM1; k={key_type}; p=")


def test_quoted_printable_html_with_blanks_verifies(signer: DkimSigner) -> None:
    """Indentation, runs of spaces, tabs and trailing blanks: the body build_mime writes needs
    no relaxed canonicalisation, which the signer relies on for MimeBytes."""
    html = mjml_like_html() + "\n\t\tTabs  and   runs \n    \n"
    message = build_mime(replace(BASE, html=html, text="Hello  Jane,\there are  offers \n" * 9))
    assert message.count(b"Content-Transfer-Encoding: quoted-printable") == 2
    assert verify(signer.sign(message), signer)


def test_other_bytes_with_folded_repeated_headers_verify(signer: DkimSigner) -> None:
    raw = (
        b"From:  Shop \t <a@shop.example>  \r\n"
        b"To: b@example.com\r\n"
        b"Subject:\tmany\r\n \t  folded \r\n\t words  \r\n"
        b"Subject: second  subject\r\n"
        b"X-Other: not signed\r\n"
        b"\r\n"
        b"\tindented  body \t \r\n  \r\nlast line  \r\n\r\n"
    )
    signed = signer.sign(raw)
    assert verify(signed, signer)
    head = signed.split(b"bh=", 1)[0]
    assert head.count(b"subject") == 3  # two instances and the oversign


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(html=mostly_ascii(), text=mostly_ascii())
def test_any_message_verifies(signer: DkimSigner, html: str, text: str) -> None:
    assert verify(signer.sign(build_mime(replace(BASE, html=html, text=text))), signer)


def test_a_pickled_signer_signs_as_the_original(signer: DkimSigner) -> None:
    """Compose workers get their signer by pickle: the same key, domain and selector."""
    copy = pickle.loads(pickle.dumps(signer))
    assert copy is not signer
    message = build_mime(BASE)
    assert copy.sign(message, timestamp=1_790_000_000) == signer.sign(
        message, timestamp=1_790_000_000
    )
    assert copy.dns_record() == signer.dns_record()


def test_a_pickled_signer_keeps_its_headers_and_oversigning(rsa_pem: bytes) -> None:
    signer = DkimSigner(
        "shop.example", "mail2026", rsa_pem, headers=("From", "Subject"), oversign=False
    )
    copy = pickle.loads(pickle.dumps(signer))
    message = build_mime(BASE)
    signed = copy.sign(message)
    assert b"h=from:subject;" in signed
    assert signed == signer.sign(message)
    assert verify(signed, copy)
