"""Fault classes from a reply code and text: what warnings and the outbox figures call a fault."""

from __future__ import annotations

import pytest

from mailengine.delivery_faults import FAULT_CLASSES, fault_class


@pytest.mark.parametrize(
    ("code", "reply", "expected"),
    [
        (421, "4.7.0 too many connections (at connecting)", "service closing (421)"),
        (450, "4.2.1 mailbox busy", "mailbox busy (450)"),
        (451, "4.7.1 greylisted", "local error (451)"),
        (452, "4.2.2 mailbox full", "insufficient storage (452)"),
        (454, "4.7.0 TLS not available", "other 4xx reply"),
        (535, "5.7.8 authentication credentials invalid", "authentication failed (535)"),
        (550, "5.1.1 no such user", "refused (550)"),
        (552, "5.3.4 message too big", "too big / storage (552)"),
        (554, "5.7.1 spam", "other 5xx reply"),
        (421, "gave up after 9 attempts: 4.7.0 closing", "service closing (421)"),
        (None, "backed off: 5 connection failures in a row; the last: timeout: x", "backed off"),
        (None, "TLS failed: STARTTLS with 127.0.0.1:25: [SSL] wrong version", "TLS failed"),
        (None, "timeout: no reply in time (0.5 s) after the data", "timeout"),
        (None, "connection refused: 127.0.0.1:25: [Errno 111]", "connection refused"),
        (None, "cannot connect: mx.example:25 at connecting: no route", "cannot connect"),
        (None, "connection dropped: connection lost: the server closed", "connection dropped"),
        (None, "gave up after 9 attempts: connection dropped: lost", "connection dropped"),
        (None, "cannot write into var/mail: No space left on device", "write failed"),
        (None, "render error: 'first_name' is undefined", "render error"),
        (None, "no reply in time: no reply in time (300 s)", "timeout"),  # stored before
        (None, None, "other"),
        (None, "something else", "other"),
    ],
)
def test_classes(code: int | None, reply: str | None, expected: str) -> None:
    assert fault_class(code, reply) == expected
    assert expected in FAULT_CLASSES
