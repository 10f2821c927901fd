"""Dispatcher processes from settings: an even share of connections and rates, clear refusals."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from mailengine.config import DatabaseSettings, Settings
from mailengine.engine.dispatch_processes import (
    DispatchProcesses,
    check_dispatch_processes,
    dispatch_options,
    share_of,
)
from mailengine.engine.service import Engine
from mailengine.errors import ConfigError
from mailengine.outbound.dispatcher import domain_share
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from tests.databases import opened_database


def _settings(tmp_path: Path, **engine: float) -> Settings:
    return Settings.model_validate(
        {
            "smtp": {
                "connections": 8,
                "rate_per_second": 100,
                "per_domain_rate": {"gmail.com": 10, "web.de": 3},
            },
            "engine": engine,
            "paths": {"var": str(tmp_path)},
        }
    )


def test_each_process_gets_an_even_share_and_the_totals_hold(tmp_path: Path) -> None:
    settings = _settings(tmp_path, dispatch_processes=3)
    share = share_of(settings, 3).smtp
    assert share.connections == 2  # 3 x 2 = 6 in flight at most, never more than 8
    assert share.rate_per_second == pytest.approx(100 / 3)
    assert share.per_domain_rate == pytest.approx({"gmail.com": 10 / 3, "web.de": 1.0})
    assert settings.smtp.connections == 8  # the engine's own settings stay as they were
    assert share_of(settings, 3).sender == settings.sender


def test_a_domain_never_gets_every_connection_unless_there_is_one(tmp_path: Path) -> None:
    assert [domain_share(n) for n in (1, 2, 4, 8, 32)] == [1, 1, 3, 6, 24]
    settings = _settings(tmp_path, dispatch_processes=2)
    assert [share_of(settings, 2, slot).smtp.per_domain_connections for slot in (0, 1)] == [
        3,
        3,
    ]  # 6 of 8 in all
    assert dispatch_options(share_of(settings, 2, 1)).per_domain_connections == 3
    explicit = settings.model_copy(
        update={"smtp": settings.smtp.model_copy(update={"per_domain_connections": 5})}
    )
    shares = [share_of(explicit, 3, slot).smtp.per_domain_connections for slot in range(3)]
    assert shares == [2, 2, 1]  # 5 in all


def test_a_lease_that_one_send_could_outlast_stops_start_up(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'shop.db'}")
    transport = MemoryTransport()
    too_short = transport.longest_send_seconds
    try:
        with pytest.raises(ConfigError) as refused:
            Engine(_settings(tmp_path, lease_seconds=too_short), database, transport=transport)
        assert "engine.lease_seconds" in str(refused.value)
        assert "smtp.timeout_seconds" in str(refused.value)
        fits = _settings(tmp_path, lease_seconds=too_short + 1)
        engine = Engine(fits, database, transport=transport)
        assert engine.dispatcher.options.lease == timedelta(seconds=too_short + 1)
        with pytest.raises(ConfigError, match=r"engine\.lease_seconds"):
            Engine(_settings(tmp_path, lease_seconds=1), database)  # its SMTP transport
    finally:
        database.dispose()


def test_more_processes_than_connections_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dispatch_processes is 9 but smtp.connections is 8"):
        check_dispatch_processes(_settings(tmp_path, dispatch_processes=9))


def test_dispatch_and_compose_processes_together_are_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path, dispatch_processes=2, compose_processes=2)
    with pytest.raises(ConfigError, match="choose one"):
        check_dispatch_processes(settings)


def test_an_engine_with_a_transport_of_its_own_cannot_have_dispatch_processes(
    tmp_path: Path,
) -> None:
    with (
        opened_database(f"sqlite:///{tmp_path / 'shop.db'}") as database,
        pytest.raises(ConfigError, match="cannot be shared with dispatcher processes"),
    ):
        Engine(_settings(tmp_path, dispatch_processes=2), database, transport=MemoryTransport())


def test_a_dispatcher_process_composes_on_one_thread_the_engine_as_configured(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, compose_processes=3)
    alone = dispatch_options(settings, in_engine_process=False)
    assert (alone.compose_threads, alone.compose_processes) == (1, 0)
    assert dispatch_options(settings).compose_processes == 3
    assert alone.retry_for == dispatch_options(settings).retry_for


def test_a_process_that_does_not_stop_in_time_is_killed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, dispatch_processes=1).model_copy(
        update={"database": DatabaseSettings(url=f"sqlite:///{tmp_path / 'shop.db'}")}
    )
    processes = DispatchProcesses(settings)
    processes.start()  # still importing when told to stop with no grace at all
    try:
        assert processes.running() == 1
        with caplog.at_level(logging.WARNING):
            processes.stop(grace=0)
    finally:
        processes.stop(grace=0)  # none outlives the test, whatever failed
    assert "did not stop in time; killing it" in caplog.text
    assert processes.running() == 0
