"""MAILENGINE_TEST_NOW really moves the session's clock (what .ci/clock-matrix relies on)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import session_instant


def test_the_session_runs_from_the_instant_asked_for() -> None:
    instant = session_instant()
    if instant is None:
        pytest.skip("MAILENGINE_TEST_NOW is not set: the session runs at today's date")
    now = datetime.now(UTC)  # the session's frozen-then-ticking clock is what is checked
    assert instant <= now < instant + timedelta(hours=1), now  # travelled, and ticking on
    assert abs(time.time() - now.timestamp()) < 5
    if instant.tzinfo is not None and hasattr(instant.tzinfo, "key"):
        assert time.strftime("%Z", time.localtime(instant.timestamp())) == instant.tzname()
