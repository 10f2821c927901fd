"""A mail server on 127.0.0.1 that misbehaves on cue, for bench/faults.py.

It records what it accepts (recipient, Message-ID, when), as the crash-safety tests' recorder
does, and plays one `Fault` towards the recipients of one domain (`AFFECTED_DOMAIN`, a tenth
of them in the fault scenarios). A permanent fault (550, 552) answers every attempt for
them; a temporary one (450, 451, a dropped connection) the first attempt for each, so that
the retry gets through. A stall holds only first attempts made while the fault lasts (each
costs a connection for a whole timeout), and 421 at the greeting cannot know the recipient:
while the fault lasts every new connection is refused. What the server never answered with
250 (a drop, a stall) does not count as received.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession

from tests.delivery.mass_send import MessageIdRecorder

AFFECTED_DOMAIN = "faulty.example"
LONGEST_STALL_SECONDS = 120.0
"""A stalled reply comes after this long at the latest (then the server hangs up)."""


@dataclass(frozen=True)
class Fault:
    """What the server does to a message for an affected recipient."""

    stage: Literal["greeting", "rcpt", "data"]
    action: Literal["reply", "drop", "stall"] = "reply"
    reply: str = ""
    permanent: bool = False


FAULTS: dict[str, Fault] = {
    "421 greeting": Fault("greeting", reply="421 4.3.2 too busy, try again later"),
    "450 rcpt": Fault("rcpt", reply="450 4.2.1 mailbox busy, try again later"),
    "451 data": Fault("data", reply="451 4.3.0 local error in processing"),
    "550 rcpt": Fault("rcpt", reply="550 5.1.1 no such user", permanent=True),
    "552 data": Fault("data", reply="552 5.3.4 message too big for this mailbox", permanent=True),
    "drop after data": Fault("data", action="drop"),
    "stall after data": Fault("data", action="stall"),
}


class FaultyPeer(MessageIdRecorder):
    """The recording handler playing `fault`; stalls and refusals last `fault_seconds` from
    the first connection."""

    def __init__(self, fault: Fault | None = None, fault_seconds: float = 20.0) -> None:
        super().__init__()
        self.fault = fault
        self.fault_seconds = fault_seconds
        self.first_connection: float | None = None
        self.connections = 0
        self.refused_connections = 0
        self.faults_played = 0
        self.attempts: Counter[str] = Counter()  # recipient -> RCPTs for them
        self.released = asyncio.Event()  # set when the server closes: stalls end

    def fault_lasts(self) -> bool:
        if self.first_connection is None:
            return False
        return time.monotonic() - self.first_connection < self.fault_seconds

    def refuses_connection(self) -> bool:
        """Called for every new connection: whether to answer 421 and hang up."""
        self.connections += 1
        if self.first_connection is None:
            self.first_connection = time.monotonic()
        refuse = self.fault is not None and self.fault.stage == "greeting" and self.fault_lasts()
        self.refused_connections += refuse
        return refuse

    def _plays_on(self, recipient: str, stage: str) -> bool:
        fault = self.fault
        if fault is None or fault.stage != stage:
            return False
        if recipient.rpartition("@")[2].lower() != AFFECTED_DOMAIN:
            return False
        if fault.permanent:
            return True
        first = self.attempts[recipient] == 1
        return first and (fault.action != "stall" or self.fault_lasts())

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: SmtpEnvelope,
        address: str,
        options: list[str],
    ) -> str:
        self.attempts[address] += 1
        if self._plays_on(address, "rcpt"):
            self.faults_played += 1
            assert self.fault is not None
            return self.fault.reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        fault = self.fault
        if fault is None or not any(self._plays_on(r, "data") for r in envelope.rcpt_tos):
            return await super().handle_DATA(server, session, envelope)
        self.faults_played += 1
        if fault.action == "stall":
            await _wait(self.released, LONGEST_STALL_SECONDS)
            _hang_up(server)
            return "451 4.4.2 timed out"  # written to a closed connection: never read
        if fault.action == "drop":
            _hang_up(server)
            return "250 2.0.0 never seen"
        return fault.reply


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _hang_up(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()


class _Refusal(asyncio.Protocol):
    """A connection refused at the greeting: 421 and hang up."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(f"{self.reply}\r\n".encode("ascii"))
        transport.close()


@dataclass
class PeerServer:
    """A running FaultyPeer on 127.0.0.1; `close` ends its connections and stalls."""

    peer: FaultyPeer
    server: asyncio.Server
    sessions: set[SMTP]

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.peer.released.set()
        self.server.close()
        for session in list(self.sessions):
            _hang_up(session)
        await self.server.wait_closed()


async def start_peer(peer: FaultyPeer, **options: Any) -> PeerServer:
    """Serve `peer` on 127.0.0.1, a port of its own (aiosmtpd `options` as SMTP takes them)."""
    loop = asyncio.get_running_loop()
    sessions: set[SMTP] = set()

    def connection() -> asyncio.Protocol:
        if peer.refuses_connection():
            assert peer.fault is not None
            return _Refusal(peer.fault.reply)
        session = SMTP(peer, hostname="peer.test", loop=loop, **options)
        sessions.add(session)
        return session

    server = await loop.create_server(connection, "127.0.0.1", 0)
    return PeerServer(peer, server, sessions)
