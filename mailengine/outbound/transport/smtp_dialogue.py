"""One mail transaction on an open connection: MAIL, RCPT, DATA and the message, in time.

With PIPELINING (RFC 2920) MAIL, RCPT and DATA go in one write and their three replies are
read afterwards; without it, one after the other. Each reply is awaited for its stage's
timeout (RFC 5321 4.5.3.2) or what is left of the message's deadline, whichever is shorter.
Messages built by `build_mime` (`MimeBytes`) already have CRLF line endings and no line
starting with "."; they are written as they are, with no regular-expression pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from mailengine.delivery_faults import CONNECTION_DROPPED, TIMEOUT
from mailengine.outbound.mime import MimeBytes
from mailengine.outbound.transport.base import Envelope
from mailengine.outbound.transport.deadline import Deadline
from mailengine.outbound.transport.replies import DATA, DATA_END, MAIL, RCPT
from mailengine.outbound.transport.smtp_wire import ConnectionLost, Reply, ReplyTimeout, SmtpWire

_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")
_END_OF_DATA = b".\r\n"
# The replies to MAIL, RCPT and DATA that let a transaction go on.
_ENVELOPE_ACCEPTS = ((MAIL, (250,)), (RCPT, (250, 251)), (DATA, (354,)))


@dataclass(frozen=True)
class SmtpTimeouts:
    """Seconds to wait for each reply; defaults are RFC 5321 4.5.3.2's minimums. A message's
    `SmtpOptions.message_timeout` bounds their sum."""

    connect: float = 300.0  # TCP, TLS, greeting, EHLO, STARTTLS, AUTH (each)
    mail: float = 300.0
    rcpt: float = 300.0
    data_init: float = 120.0
    data_block: float = 180.0  # for the server to take the message bytes
    data_end: float = 600.0  # for the reply to the final "."
    command: float = 300.0  # RSET, QUIT

    def capped(self, seconds: float) -> SmtpTimeouts:
        """Every timeout at most `seconds` (config: smtp.timeout_seconds)."""
        return replace(self, **{f.name: min(getattr(self, f.name), seconds) for f in fields(self)})


class Dropped(Exception):
    """The connection broke (or went silent) during a transaction."""

    def __init__(self, reason: str, *, data_sent: bool) -> None:
        super().__init__(reason)
        self.data_sent = data_sent


async def run_dialogue(
    wire: SmtpWire,
    pipelining: bool,
    envelope: Envelope,
    timeouts: SmtpTimeouts,
    deadline: Deadline,
) -> tuple[int, str, str]:
    """(code, text, stage) of the reply that ended the dialogue; Dropped if it broke."""
    mail = b"MAIL FROM:<" + envelope.mail_from.encode("ascii") + b">\r\n"
    rcpt = b"RCPT TO:<" + envelope.rcpt_to.encode("ascii") + b">\r\n"
    data_sent = False
    try:
        if pipelining:
            refusal = await _pipelined_envelope(wire, mail, rcpt, timeouts, deadline)
        else:
            refusal = await _stepwise_envelope(wire, mail, rcpt, timeouts, deadline)
        if refusal is not None:
            return refusal
        data_sent = True
        wire.send(_wire_form(envelope.data), 1)
        await wire.drain(timeouts.data_block, deadline.ends_at)
        reply = await wire.reply(timeouts.data_end, deadline.ends_at)
        return reply.code, reply.text, DATA_END
    except ReplyTimeout as error:
        where = "after the data" if data_sent else "to the envelope"
        spent = f"; the message's limit of {deadline.total:g} s" if deadline.spent else ""
        reason = f"{TIMEOUT}: {error} {where}{spent}"
        raise Dropped(reason, data_sent=data_sent) from error
    except (ConnectionLost, OSError) as error:
        reason = f"{CONNECTION_DROPPED}: connection lost: {error}"
        raise Dropped(reason, data_sent=data_sent) from error


async def _stepwise_envelope(
    wire: SmtpWire, mail: bytes, rcpt: bytes, timeouts: SmtpTimeouts, deadline: Deadline
) -> tuple[int, str, str] | None:
    """MAIL, RCPT and DATA one after the other; the refusal, or None after 354."""
    replies: list[Reply] = []
    commands = (mail, rcpt, b"DATA\r\n")
    for command, timeout in zip(commands, _envelope_timeouts(timeouts), strict=True):
        wire.send(command, 1)
        replies.append(await wire.reply(timeout, deadline.ends_at))
        refusal = _first_refusal(replies)
        if refusal is not None:
            return refusal
    return None


def _envelope_timeouts(timeouts: SmtpTimeouts) -> tuple[float, float, float]:
    """The stage timeouts of the replies to MAIL, RCPT and DATA."""
    return timeouts.mail, timeouts.rcpt, timeouts.data_init


async def _pipelined_envelope(
    wire: SmtpWire, mail: bytes, rcpt: bytes, timeouts: SmtpTimeouts, deadline: Deadline
) -> tuple[int, str, str] | None:
    """MAIL, RCPT and DATA in one write (RFC 2920); the first refusal, or None after 354."""
    wire.send(mail + rcpt + b"DATA\r\n", 3)
    replies: list[Reply] = []
    try:
        for timeout in _envelope_timeouts(timeouts):
            replies.append(await wire.reply(timeout, deadline.ends_at))
    except (ConnectionLost, ReplyTimeout):
        # A refusal read before the break explains it ("421 closing", then gone).
        refusal = _first_refusal(replies)
        if refusal is None:
            raise
        return refusal
    refusal = _first_refusal(replies)
    if refusal is not None and replies[2].code == 354:
        # DATA accepted although MAIL or RCPT was not (RFC 2920 3.1): send an empty
        # message's end so that nothing is delivered, then report the refusal.
        try:
            wire.send(b".\r\n", 1)
            await wire.reply(timeouts.data_end, deadline.ends_at)
        except (ConnectionLost, ReplyTimeout):
            wire.abort()  # the refusal stands; this connection is not reused
    return refusal


def _first_refusal(replies: list[Reply]) -> tuple[int, str, str] | None:
    """(code, text, stage) of the first reply to MAIL, RCPT, DATA that ends the transaction."""
    for reply, (stage, accepted) in zip(replies, _ENVELOPE_ACCEPTS, strict=False):
        if reply.code not in accepted:
            return reply.code, reply.text, stage
    return None


def _wire_form(data: bytes) -> bytes:
    """The DATA payload: CRLF line endings, leading dots doubled, the final "." line."""
    if not isinstance(data, MimeBytes):
        data = _LEADING_DOT.sub(b"..", _ANY_LINE_END.sub(b"\r\n", data))
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
    return data + _END_OF_DATA
