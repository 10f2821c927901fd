"""An order posted to `mailengine run` wakes its engine: the confirmation leaves within
seconds, not at the next tick (set to two minutes here, so only the wake-up explains it)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest

from tests.engine.test_run_process import _free_port, _start_engine, _stop
from tests.waiting import PATIENCE

pytestmark = pytest.mark.slow
KEY = "me_wake-test-key"
ADDRESS = "wake.test@example.com"
ORDER = {
    "external_id": "WAKE-1",
    "email": ADDRESS,
    "amount": "19.90",
    "placed_at": "2026-11-22T18:30:00+01:00",
    "items": [{"sku": "SOCK-1", "name": "Wool socks", "quantity": 1, "unit_price": "19.90"}],
}


def test_an_order_s_confirmation_leaves_within_seconds_not_at_the_next_tick(
    tmp_path: Path,
) -> None:
    port = _free_port()
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    engine = _start_engine(
        tmp_path,
        f"""
smtp: {{port: {_free_port()}, capture: true}}
http: {{port: {port}, public_url: "http://127.0.0.1:{port}", api_keys: ["{digest}"]}}
inbound: {{smtp: {{port: {_free_port()}}}}}
engine: {{tick_seconds: 120}}
""",
        customers=20,
        seed=4,
    )
    inbox = tmp_path / "mail" / "new"
    try:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(3)  # the start-up tick is over: the next one is two minutes away
        posted = time.monotonic()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/orders",
            json=ORDER,
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        while time.monotonic() - posted < 60:
            if _mail_to(inbox, ADDRESS):
                break
            time.sleep(0.2)
        waited = time.monotonic() - posted
    finally:
        _stop(engine)
    mail = _mail_to(inbox, ADDRESS)
    assert mail and "Subject: Thank you for your order" in mail
    assert waited < 20, f"the confirmation left {waited:.1f} s after the order"


def _mail_to(inbox: Path, address: str) -> str | None:
    for path in inbox.glob("*") if inbox.exists() else []:
        text = path.read_text(encoding="utf-8", errors="replace")
        if f"To: {address}" in text:
            return text
    return None
