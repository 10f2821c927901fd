"""The SMTP transport against real aiosmtpd servers: pooling, resets, failures, TLS, AUTH."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailengine.outbound.transport.base import DeliveryStatus
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from tests.transport.conftest import SmtpServer
from tests.transport.samples import sample_envelope

FAST = SmtpTimeouts(connect=2, mail=2, rcpt=2, data_init=2, data_block=2, data_end=0.5, command=2)


def _transport(port: int, connections: int = 1, **options: Any) -> SmtpTransport:
    return SmtpTransport(
        SmtpOptions(
            port=port, connections=connections, timeouts=FAST, local_hostname="client.test",
            **options,
        )
    )  # fmt: skip


@pytest.fixture
async def bad_transport(bad_smtpd: SmtpServer) -> AsyncIterator[SmtpTransport]:
    transport = _transport(bad_smtpd.port)
    yield transport
    await transport.aclose()


async def test_the_pool_reuses_its_connections(smtpd: SmtpServer) -> None:
    transport = _transport(smtpd.port, connections=3)
    envelopes = [sample_envelope(f"c{i}@example.com", i) for i in range(30)]
    results = await transport.send_many(envelopes)
    await transport.aclose()
    assert [r.status for r in results] == [DeliveryStatus.SENT] * 30
    assert len(smtpd.handler.messages) == 30
    assert smtpd.sessions == transport.connections_opened == 3
    assert len({m.session for m in smtpd.handler.messages}) == 3


async def test_a_refused_recipient_fails_alone_and_is_never_replayed(
    bad_smtpd: SmtpServer,
) -> None:
    transport = _transport(bad_smtpd.port, connections=2)
    rcpts = ["a@example.com", "unknown@example.com", "b@example.com", "c@example.com"]
    results = await transport.send_many([sample_envelope(r, i) for i, r in enumerate(rcpts)])
    await transport.aclose()
    assert [r.status for r in results] == ["sent", "failed", "sent", "sent"]
    failed = results[1]
    assert (failed.smtp_code, failed.enhanced_code, failed.stage) == (550, "5.1.1", "rcpt")
    assert failed.hard_bounce
    received = sorted(m.rcpt_tos[0] for m in bad_smtpd.handler.messages)
    assert received == ["a@example.com", "b@example.com", "c@example.com"]


async def test_after_a_refusal_the_connection_is_reset_and_reused(
    bad_smtpd: SmtpServer, bad_transport: SmtpTransport
) -> None:
    refused = await bad_transport.send(sample_envelope("unknown@example.com", 1))
    accepted = await bad_transport.send(sample_envelope("jane@example.com", 2))
    assert (refused.status, accepted.status) == ("failed", "sent")
    assert bad_smtpd.handler.resets == 1
    assert bad_smtpd.sessions == 1  # the same, cleaned connection carried the second message


@pytest.mark.parametrize(
    ("rcpt", "status", "code", "enhanced", "stage"),
    [
        ("full@example.com", "deferred", 452, "4.2.2", "rcpt"),
        ("greylist@example.com", "deferred", 451, "4.7.1", "rcpt"),
        ("too-big@example.com", "failed", 552, "5.3.4", "data-end"),
        ("goodbye@example.com", "deferred", 421, "4.7.0", "rcpt"),
    ],
)
async def test_replies_are_classified_and_the_next_message_goes(
    bad_smtpd: SmtpServer,
    bad_transport: SmtpTransport,
    rcpt: str,
    status: str,
    code: int,
    enhanced: str,
    stage: str,
) -> None:
    result = await bad_transport.send(sample_envelope(rcpt, 1))
    assert (result.status, result.smtp_code, result.enhanced_code, result.stage) == (
        status, code, enhanced, stage,
    )  # fmt: skip
    assert not result.hard_bounce
    assert (await bad_transport.send(sample_envelope("jane@example.com", 2))).sent
    assert [m.rcpt_tos for m in bad_smtpd.handler.messages] == [["jane@example.com"]]


async def test_a_connection_dropped_after_the_data_defers_and_the_pool_recovers(
    bad_smtpd: SmtpServer, bad_transport: SmtpTransport
) -> None:
    first = await bad_transport.send(sample_envelope("jane@example.com", 1))
    dropped = await bad_transport.send(sample_envelope("drop@example.com", 2))
    after = await bad_transport.send(sample_envelope("joe@example.com", 3))
    assert (first.status, dropped.status, after.status) == ("sent", "deferred", "sent")
    assert dropped.stage == "data-end" and dropped.smtp_code is None
    assert "connection lost" in dropped.reply
    assert bad_smtpd.sessions == 2  # not retried on the fresh connection: data was sent


async def test_a_connection_dropped_inside_the_data_defers(mid_data_dropper: int) -> None:
    transport = _transport(mid_data_dropper)
    result = await transport.send(sample_envelope("jane@example.com", 1))
    await transport.aclose()
    assert result.status is DeliveryStatus.DEFERRED
    assert result.stage == "data-end"


async def test_a_stalled_server_defers_within_the_timeout(
    bad_smtpd: SmtpServer, bad_transport: SmtpTransport
) -> None:
    started = time.monotonic()
    result = await bad_transport.send(sample_envelope("stall@example.com", 1))
    elapsed = time.monotonic() - started
    assert result.status is DeliveryStatus.DEFERRED
    assert "no reply in time" in result.reply
    assert FAST.data_end <= elapsed < FAST.data_end + 1.0
    assert (await bad_transport.send(sample_envelope("jane@example.com", 2))).sent


@pytest.mark.smtpd_options(timeout=0.2)
async def test_a_connection_the_server_closed_while_idle_is_replaced(smtpd: SmtpServer) -> None:
    transport = _transport(smtpd.port)
    assert (await transport.send(sample_envelope("a@example.com", 1))).sent
    await asyncio.sleep(0.5)  # the server's idle timeout closes the pooled connection
    assert (await transport.send(sample_envelope("b@example.com", 2))).sent
    await transport.aclose()
    assert smtpd.sessions == 2
    assert len(smtpd.handler.messages) == 2


@pytest.mark.smtpd_options(messages_per_session=2)
async def test_a_421_on_a_reused_connection_is_retried_on_a_fresh_one(
    bad_smtpd: SmtpServer, bad_transport: SmtpTransport
) -> None:
    results = [await bad_transport.send(sample_envelope(f"c{i}@example.com", i)) for i in range(5)]
    assert all(r.sent for r in results)
    assert len(bad_smtpd.handler.messages) == 5
    assert bad_smtpd.sessions == 3


async def test_the_client_limit_of_messages_per_connection(smtpd: SmtpServer) -> None:
    transport = _transport(smtpd.port, max_messages_per_connection=2)
    for i in range(5):
        assert (await transport.send(sample_envelope(f"c{i}@example.com", i))).sent
    await transport.aclose()
    assert smtpd.sessions == 3


async def test_no_server_defers_at_connect(unused_tcp_port: int) -> None:
    transport = _transport(unused_tcp_port)
    result = await transport.send(sample_envelope("jane@example.com"))
    await transport.aclose()
    assert (result.status, result.stage) == ("deferred", "connect")
    assert f"127.0.0.1:{unused_tcp_port}" in result.reply


def test_timeouts_follow_rfc_5321_and_can_be_capped() -> None:
    rfc = SmtpTimeouts()
    assert (rfc.mail, rfc.rcpt, rfc.data_init, rfc.data_block, rfc.data_end) == (
        300, 300, 120, 180, 600,
    )  # fmt: skip
    capped = rfc.capped(150)
    assert (capped.mail, capped.data_init, capped.data_end) == (150, 120, 150)


# TLS and AUTH


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh certificate for 127.0.0.1, and a client trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    # TLS checks validity against the machine's clock: valid at any date a test may run on.
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    return server, client


def _authenticator(
    server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"shop",
        b"s3cret",
    )
    return AuthResult(success=good, handled=False)


@pytest.fixture
def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return _self_signed(tmp_path)


async def test_starttls_and_auth(tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    from tests.transport.conftest import RecordingHandler, start_server

    server_context, client_context = tls_contexts
    server = await start_server(
        RecordingHandler(),
        tls_context=server_context,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )
    good = _transport(
        server.port, tls="starttls", tls_context=client_context, username="shop", password="s3cret"
    )
    wrong = _transport(
        server.port, tls="starttls", tls_context=client_context, username="shop", password="nope"
    )
    plain = _transport(server.port)
    sent = await good.send(sample_envelope("jane@example.com", 1))
    refused = await wrong.send(sample_envelope("joe@example.com", 2))
    no_tls = await plain.send(sample_envelope("ann@example.com", 3))
    for transport in (good, wrong, plain):
        await transport.aclose()
    await server.close()
    assert sent.sent
    assert (refused.status, refused.smtp_code, refused.stage) == ("deferred", 535, "connect")
    assert (no_tls.status, no_tls.smtp_code) == ("deferred", 530)
    assert [m.rcpt_tos for m in server.handler.messages] == [["jane@example.com"]]


async def test_implicit_tls(tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    from tests.transport.conftest import RecordingHandler, start_server

    server_context, client_context = tls_contexts
    server = await start_server(RecordingHandler(), server_ssl=server_context)
    transport = _transport(server.port, tls="tls", tls_context=client_context)
    result = await transport.send(sample_envelope("jane@example.com", 1))
    await transport.aclose()
    await server.close()
    assert result.sent
    assert len(server.handler.messages) == 1
