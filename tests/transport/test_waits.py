"""Every wait of one message fits in its total (`message_timeout`), against servers that stall
at each stage; `longest_send_seconds` is a true bound of one send."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from mailengine.config import SmtpSettings
from mailengine.delivery_faults import fault_class
from mailengine.outbound.transport.base import DeliveryResult, DeliveryStatus
from mailengine.outbound.transport.ratelimit import RateLimiter
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from tests.transport import scripts
from tests.transport.conftest import BareServer, ScriptedSession, SmtpServer
from tests.transport.samples import sample_envelope

StartServer = Callable[[ScriptedSession], Awaitable[BareServer]]
# Stage timeouts far above the total: only the total can end these waits.
STAGES = SmtpTimeouts(
    connect=30, mail=30, rcpt=30, data_init=30, data_block=30, data_end=30, command=30
)
TOTAL = 0.5
LATE = 1.5  # what a loaded machine may add to a timer, generously


def _transport(port: int, *, connections: int = 1, total: float = TOTAL) -> SmtpTransport:
    options = SmtpOptions(
        port=port,
        connections=connections,
        timeouts=STAGES,
        message_timeout=total,
        local_hostname="client.test",
    )
    return SmtpTransport(options)


async def _timed(send: Awaitable[DeliveryResult]) -> tuple[DeliveryResult, float]:
    started = time.monotonic()
    result = await send
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    "script",
    [
        scripts.silent,
        scripts.stalls_at(b"EHLO"),
        scripts.stalls_at(b"MAIL"),
        scripts.stalls_at(b"DATA"),
        scripts.stalls_at(b"DATA-END"),
        scripts.stalls_at(b"DATA-END", greeting_delay=0.3),
    ],
    ids=["no-greeting", "ehlo", "mail", "data", "after-data", "slow-greeting-then-after-data"],
)
async def test_a_server_stalling_at_any_stage_defers_within_the_total(
    bare_server: StartServer, script: ScriptedSession
) -> None:
    server = await bare_server(script)
    transport = _transport(server.port)
    result, elapsed = await _timed(transport.send(sample_envelope("jane@example.com", 1)))
    await transport.aclose()
    assert result.status is DeliveryStatus.DEFERRED
    assert fault_class(result.smtp_code, result.reply) == "timeout", result.reply
    assert TOTAL * 0.9 <= elapsed < TOTAL + LATE


async def test_aiosmtpd_stalling_after_the_data_defers_within_the_total(
    bad_smtpd: SmtpServer,
) -> None:
    transport = _transport(bad_smtpd.port)
    result, elapsed = await _timed(transport.send(sample_envelope("stall@example.com", 1)))
    after = await transport.send(sample_envelope("jane@example.com", 2))
    await transport.aclose()
    assert (result.status, result.stage) == (DeliveryStatus.DEFERRED, "data-end")
    assert "no reply in time" in result.reply and "after the data" in result.reply
    assert TOTAL * 0.9 <= elapsed < TOTAL + LATE
    assert after.sent  # on a fresh connection: the stalled one is not reused
    assert [m.rcpt_tos for m in bad_smtpd.handler.messages] == [["jane@example.com"]]


async def test_the_retry_on_a_fresh_connection_shares_the_total(bare_server: StartServer) -> None:
    server = await bare_server(scripts.closes_after(1))
    transport = _transport(server.port)
    first = await transport.send(sample_envelope("jane@example.com", 1))
    server.session = scripts.stalls_at(b"MAIL")  # the fresh connection of the retry stalls
    result, elapsed = await _timed(transport.send(sample_envelope("joe@example.com", 2)))
    await transport.aclose()
    assert first.sent
    assert server.connections == 2  # the 421 on the reused connection led to one retry
    assert result.status is DeliveryStatus.DEFERRED
    assert fault_class(result.smtp_code, result.reply) == "timeout"
    assert elapsed < TOTAL + LATE


def test_the_longest_send_is_the_total_plus_rate_waits() -> None:
    assert SmtpTransport(SmtpOptions()).longest_send_seconds == 121.0
    settings = SmtpSettings(message_timeout_seconds=30, connections=2)
    assert SmtpTransport.from_settings(settings).longest_send_seconds == 31.0
    limiter = RateLimiter(10, {"gmail.com": 2, "yahoo.com": 4})
    transport = SmtpTransport(SmtpOptions(connections=4), rate_limiter=limiter)
    # 4 senders at once: one waits behind 3 others on gmail.com (0.5 s each), then globally.
    assert transport.longest_send_seconds == pytest.approx(120 + 4 * (0.5 + 0.1) + 1)


async def test_no_send_outlasts_longest_send_seconds(bare_server: StartServer) -> None:
    """Senders as the dispatcher runs them (one per connection), a rate limit, and a server
    that stalls after the data."""
    server = await bare_server(scripts.stalls_at(b"DATA-END"))
    transport = SmtpTransport(
        SmtpOptions(
            port=server.port,
            connections=2,
            timeouts=STAGES,
            message_timeout=0.4,
            local_hostname="client.test",
        ),
        rate_limiter=RateLimiter(20, {"example.com": 10}),
    )
    bound = transport.longest_send_seconds
    pending = iter([sample_envelope(f"c{i}@example.com", i) for i in range(6)])
    timed: list[tuple[DeliveryResult, float]] = []

    async def sender() -> None:
        for envelope in pending:
            timed.append(await _timed(transport.send(envelope)))

    await asyncio.gather(sender(), sender())
    await transport.aclose()
    assert bound == pytest.approx(0.4 + 2 * (0.1 + 0.05) + 1.0)
    assert [result.status for result, _ in timed] == [DeliveryStatus.DEFERRED] * 6
    assert max(elapsed for _, elapsed in timed) <= bound + LATE - 1.0


async def test_a_sender_waiting_for_a_free_connection_waits_within_the_total(
    bare_server: StartServer,
) -> None:
    server = await bare_server(scripts.stalls_at(b"DATA-END"))
    transport = _transport(server.port, connections=2, total=0.4)
    envelopes = [sample_envelope(f"c{i}@example.com", i) for i in range(6)]
    timed = await asyncio.gather(*(_timed(transport.send(envelope)) for envelope in envelopes))
    await transport.aclose()
    assert [result.status for result, _ in timed] == [DeliveryStatus.DEFERRED] * 6
    assert max(elapsed for _, elapsed in timed) < 0.4 + LATE
    waited = [result for result, _ in timed if result.stage == "pool"]
    # Four waited for the two connections all their time (on a loaded machine a connection
    # may itself take long enough to run out of the total, so count at least the two surplus).
    assert 2 <= len(waited) <= 4
    assert all("no free connection to 127.0.0.1:" in result.reply for result in waited)
    # Never more than the two connections at once (a loaded machine may replace one that
    # timed out during its greeting, so the number opened in all may be higher).
    assert server.most_at_once <= 2
