"""A server failing connection after connection is backed off as a whole, then probed."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mailengine.delivery_faults import fault_class
from mailengine.outbound.transport.backoff import Admission, DestinationBackoff
from mailengine.outbound.transport.base import DeliveryStatus
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from tests.transport import scripts
from tests.transport.conftest import BareServer, ScriptedSession, SmtpServer, SteppedClock
from tests.transport.samples import sample_envelope

StartServer = Callable[[ScriptedSession], Awaitable[BareServer]]
FAST = SmtpTimeouts(connect=2, mail=2, rcpt=2, data_init=2, data_block=2, data_end=2, command=2)
DROPPED = "connection dropped: 127.0.0.1:25 at connecting: Unexpected EOF"


def _transport(port: int, clock: SteppedClock, **options: Any) -> SmtpTransport:
    values: dict[str, Any] = {
        "port": port,
        "connections": 4,
        "timeouts": FAST,
        "local_hostname": "client.test",
    }
    values.update(options)
    return SmtpTransport(SmtpOptions(**values), clock=clock)


# The rule, on its own


def test_five_failures_in_a_row_defer_at_once_naming_the_cause() -> None:
    clock = SteppedClock()
    backoff = DestinationBackoff("127.0.0.1:25", clock=clock)
    for _ in range(4):
        assert backoff.admit() is Admission.GO
        backoff.failed(DROPPED, Admission.GO)
    assert backoff.admit() is Admission.GO
    backoff.failed(DROPPED, Admission.GO)
    refusal = backoff.admit()
    assert refusal == (
        "backed off: 5 connection failures in a row to 127.0.0.1:25; next try in 5 s; "
        f"the last: {DROPPED}"
    )
    assert fault_class(None, str(refusal)) == "backed off"


def test_pauses_double_up_to_the_longest_and_one_probe_goes_at_a_time() -> None:
    clock = SteppedClock()
    backoff = DestinationBackoff("mx:25", after=2, first_pause=5, longest_pause=60, clock=clock)
    backoff.failed(DROPPED, Admission.GO)
    backoff.failed(DROPPED, Admission.GO)
    pauses = []
    for _ in range(6):
        waited = 0.0
        while isinstance(backoff.admit(), str):
            clock.advance(1)
            waited += 1
        pauses.append(waited)
        assert "a probe is under way" in str(backoff.admit())  # the one probe is out
        backoff.failed(DROPPED, Admission.PROBE)
    assert pauses == [5, 10, 20, 40, 60, 60]


def test_a_probe_that_is_answered_ends_the_back_off() -> None:
    clock = SteppedClock()
    backoff = DestinationBackoff("mx:25", after=1, clock=clock)
    backoff.failed(DROPPED, Admission.GO)
    clock.advance(5)
    assert backoff.admit() is Admission.PROBE
    backoff.answered()
    assert backoff.admit() is Admission.GO
    assert (backoff.failures, backoff.backing_off) == (0, False)
    backoff.failed(DROPPED, Admission.GO)
    clock.advance(5)  # the pause starts again at its first length
    assert backoff.admit() is Admission.PROBE


def test_an_abandoned_probe_lets_the_next_message_probe() -> None:
    clock = SteppedClock()
    backoff = DestinationBackoff("mx:25", after=1, clock=clock)
    backoff.failed(DROPPED, Admission.GO)
    clock.advance(5)
    assert backoff.admit() is Admission.PROBE
    backoff.abandoned(Admission.PROBE)
    assert backoff.admit() is Admission.PROBE


def test_failures_of_messages_under_way_do_not_lengthen_a_pause() -> None:
    clock = SteppedClock()
    backoff = DestinationBackoff("mx:25", after=2, clock=clock)
    for _ in range(6):  # four connections were already trying when the pause began
        backoff.failed(DROPPED, Admission.GO)
    clock.advance(5)
    assert backoff.admit() is Admission.PROBE


# Against real servers


async def test_200_messages_to_a_server_dropping_every_connection(
    bare_server: StartServer,
) -> None:
    clock = SteppedClock()
    server = await bare_server(scripts.hang_up)
    transport = _transport(server.port, clock)
    envelopes = [sample_envelope(f"c{i}@example.com", i) for i in range(200)]
    results = await transport.send_many(envelopes)
    assert [r.message_id for r in results] == [e.message_id for e in envelopes]  # none lost
    assert {r.status for r in results} == {DeliveryStatus.DEFERRED}
    # Five failures back it off; the four connections' attempts under way may add three.
    assert 5 <= server.connections <= 8
    backed_off = [r for r in results if r.reply.startswith("backed off: ")]
    assert len(backed_off) >= 192
    assert "the last: connection dropped: 127.0.0.1:" in backed_off[-1].reply

    clock.advance(5)  # the pause is over: one message probes, the others wait for it
    attempts = server.connections
    results = await transport.send_many(envelopes[:50])
    assert server.connections == attempts + 1
    assert {r.status for r in results} == {DeliveryStatus.DEFERRED}

    server.session = scripts.stalls_at(b"NEVER")  # the server is healthy again
    clock.advance(9)
    assert "next try in 1 s" in (await transport.send(envelopes[0])).reply  # 10 s pause
    clock.advance(1)
    probe = await transport.send(envelopes[0])
    results = await transport.send_many(envelopes[1:41])
    await transport.aclose()
    assert probe.sent
    assert all(r.sent for r in results)


@pytest.mark.parametrize(
    ("script", "options", "cause"),
    [
        (scripts.hang_up, {}, "connection dropped"),
        (scripts.busy_greeting, {}, "service closing (421)"),
        (scripts.broken_starttls, {"tls": "starttls"}, "TLS failed"),
        (scripts.silent, {"message_timeout": 0.2}, "timeout"),
    ],
    ids=["drop", "421-greeting", "broken-starttls", "no-greeting"],
)
async def test_each_connection_failure_counts(
    bare_server: StartServer, script: ScriptedSession, options: dict[str, Any], cause: str
) -> None:
    server = await bare_server(script)
    transport = _transport(
        server.port, SteppedClock(), connections=1, tls_context=ssl.create_default_context(),
        **options,
    )  # fmt: skip
    results = [await transport.send(sample_envelope("jane@example.com", i)) for i in range(7)]
    await transport.aclose()
    assert [fault_class(r.smtp_code, r.reply) for r in results[:5]] == [cause] * 5
    assert [fault_class(r.smtp_code, r.reply) for r in results[5:]] == ["backed off"] * 2
    assert server.connections == 5


async def test_a_refused_connection_counts(unused_tcp_port: int) -> None:
    transport = _transport(unused_tcp_port, SteppedClock(), connections=1)
    results = [await transport.send(sample_envelope("jane@example.com", i)) for i in range(6)]
    await transport.aclose()
    assert [fault_class(r.smtp_code, r.reply) for r in results] == (
        ["connection refused"] * 5 + ["backed off"]
    )
    assert f"to 127.0.0.1:{unused_tcp_port}" in results[5].reply


async def test_refusals_by_reply_are_answers_not_connection_failures(
    bad_smtpd: SmtpServer,
) -> None:
    transport = _transport(bad_smtpd.port, SteppedClock(), connections=1)
    results = [await transport.send(sample_envelope("unknown@example.com", i)) for i in range(8)]
    await transport.aclose()
    assert {(r.status, r.smtp_code) for r in results} == {(DeliveryStatus.FAILED, 550)}
    assert not transport.backoff.backing_off


async def test_a_message_the_server_answers_resets_the_count(bare_server: StartServer) -> None:
    server = await bare_server(scripts.hang_up)
    transport = _transport(server.port, SteppedClock(), connections=1)
    for round_ in range(3):
        server.session = scripts.hang_up
        for i in range(4):
            assert not (await transport.send(sample_envelope("a@example.com", i))).sent
        server.session = scripts.closes_after(1)
        assert (await transport.send(sample_envelope("b@example.com", round_))).sent
    await transport.aclose()
    assert server.connections == 15  # every message had its own connection: no back-off
