"""Every deferral and failure is a WARNING, at most one line per fault class per minute, with
the repeats in between counted into the next line."""

from __future__ import annotations

import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from tests.transport import scripts
from tests.transport.conftest import BareServer, ScriptedSession, SmtpServer, SteppedClock
from tests.transport.samples import sample_envelope

StartServer = Callable[[ScriptedSession], Awaitable[BareServer]]
STAGES = SmtpTimeouts(connect=5, mail=5, rcpt=5, data_init=5, data_block=5, data_end=5, command=5)


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "mailengine.transport" and record.levelno == logging.WARNING
    ]
    caplog.clear()
    return lines


def _by_class(lines: list[str]) -> Counter[str]:
    return Counter(line.split(": ", 1)[0] for line in lines)


async def test_one_line_per_cause_per_minute_with_the_repeats_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mailengine.transport")
    clock = SteppedClock()
    transport = MemoryTransport(
        replies={
            "busy@example.com": (450, "4.2.1 mailbox busy"),
            "gone@example.org": (550, "5.1.1 no such user"),
        },
        clock=clock,
    )
    for i in range(10):
        await transport.send(sample_envelope("busy@example.com", i))
    await transport.send(sample_envelope("gone@example.org", 10))
    assert _lines(caplog) == [
        "mailbox busy (450): deferred <send-0@shop.example> to example.com via memory: "
        "450 4.2.1 mailbox busy",
        "refused (550): failed <send-10@shop.example> to example.org via memory: "
        "550 5.1.1 no such user",
    ]
    clock.advance(30)
    for i in range(5):
        await transport.send(sample_envelope("busy@example.com", 20 + i))
    assert _lines(caplog) == []  # within the minute: counted only
    clock.advance(31)
    await transport.send(sample_envelope("busy@example.com", 30))
    assert _lines(caplog) == [
        "mailbox busy (450): deferred <send-30@shop.example> to example.com via memory: "
        "450 4.2.1 mailbox busy; 14 more since the last line 61 s ago"
    ]
    await transport.send(sample_envelope("busy@example.com", 31))
    await transport.send(sample_envelope("jane@example.com", 32))  # sent: nothing logged
    clock.advance(5)
    await transport.aclose()  # what is still counted is said at close
    assert _lines(caplog) == ["mailbox busy (450): 1 more via memory since the last line 5 s ago"]


async def test_smtp_faults_each_produce_a_warning(
    bad_smtpd: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mailengine.transport")
    clock = SteppedClock()
    options = SmtpOptions(
        port=bad_smtpd.port, timeouts=STAGES, message_timeout=0.5, local_hostname="client.test"
    )
    transport = SmtpTransport(options, clock=clock)
    rcpts = ["busy", "greylist", "unknown", "too-big", "drop", "stall"]

    async def send_each(times: int) -> None:
        for local in rcpts:
            for i in range(times):
                assert not (await transport.send(sample_envelope(f"{local}@example.com", i))).sent

    await send_each(2)
    first = _lines(caplog)
    clock.advance(60)
    await send_each(1)
    again = _lines(caplog)
    await transport.aclose()
    classes = {
        "mailbox busy (450)": 1,
        "local error (451)": 1,
        "refused (550)": 1,
        "too big / storage (552)": 1,
        "connection dropped": 1,
        "timeout": 1,
    }
    assert _by_class(first) == classes
    assert _by_class(again) == classes
    assert all(line.endswith("; 1 more since the last line 60 s ago") for line in again)
    assert not transport.backoff.backing_off  # refusals by reply kept showing it is up


async def test_a_broken_starttls_produces_a_warning(
    bare_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mailengine.transport")
    server = await bare_server(scripts.broken_starttls)
    options = SmtpOptions(
        port=server.port,
        tls="starttls",
        tls_context=ssl.create_default_context(),
        timeouts=STAGES,
        local_hostname="client.test",
    )
    transport = SmtpTransport(options, clock=SteppedClock())
    result = await transport.send(sample_envelope("jane@example.com", 1))
    await transport.send(sample_envelope("joe@example.com", 2))
    await transport.aclose()
    assert result.reply.startswith(f"TLS failed: STARTTLS with 127.0.0.1:{server.port}: ")
    lines = _lines(caplog)
    assert len(lines) == 2  # the second failure is said when the transport closes
    assert lines[0].startswith("TLS failed: deferred <send-1@shop.example> to example.com via ")
    assert lines[1] == f"TLS failed: 1 more via 127.0.0.1:{server.port} since the last line 0 s ago"
