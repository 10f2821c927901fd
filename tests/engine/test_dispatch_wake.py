"""`mailengine run` with `engine.dispatch_processes: 1`: the engine wakes its dispatcher
process when it plans mail. The engine's tick and the process's own poll are two minutes
here, so only the wake-up explains a confirmation that leaves within seconds of its order.
On SQLite and PostgreSQL, started as a user starts it (mail into the capture server).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.engine.test_http_workers import AUTH, _healthy, _start, _workers, database_url
from tests.engine.test_order_wakes_engine import ORDER, _mail_to
from tests.engine.test_run_process import _free_port, _stop

__all__ = ["database_url"]  # the fixture: SQLite and PostgreSQL

pytestmark = pytest.mark.slow
LONG = 120  # seconds: the engine's tick and the dispatcher's poll
ENGINE = f"tick_seconds: {LONG}, dispatch_processes: 1, dispatch_poll_seconds: {LONG}"


def _order_mailed_within(port: int, inbox: Path, number: int) -> float:
    """Post an order of its own; the seconds until its confirmation is in the inbox."""
    address = f"wake.{number}@example.com"
    order = {**ORDER, "external_id": f"DISPATCH-WAKE-{number}", "email": address}
    posted = time.monotonic()
    answer = httpx.post(f"http://127.0.0.1:{port}/v1/orders", json=order, headers=AUTH)
    assert answer.status_code == 201, answer.text
    while time.monotonic() - posted < 60 and not _mail_to(inbox, address):
        time.sleep(0.1)
    mail = _mail_to(inbox, address)
    assert mail and "Subject: Thank you for your order" in mail
    return time.monotonic() - posted


def test_the_dispatcher_process_sends_planned_mail_when_the_engine_wakes_it(
    tmp_path: Path, database_url: str
) -> None:
    port = _free_port()
    engine = _start(tmp_path, database_url, port, workers=0, engine=ENGINE)
    inbox = tmp_path / "mail" / "new"
    try:
        _healthy(port, engine)
        _workers(engine.pid, count=1)  # the dispatcher process is up
        time.sleep(3)  # its first look and the start-up tick are over
        waits = [_order_mailed_within(port, inbox, number) for number in range(3)]
    finally:
        output = _stop(engine)
    assert engine.returncode == 0, output
    assert "sending from 1 dispatcher processes" in output
    assert max(waits) < 20, f"confirmations left {waits} s after their orders"
