"""The ticket commands, and the hold that keeps marketing away while a ticket is open."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from click.testing import CliRunner, Result

from mailengine.cli.context import CliContext
from mailengine.cli.ticket_commands import TicketNotFoundError, ticket, tickets
from mailengine.clock import FrozenClock
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.database import Database
from mailengine.store.tickets import close_ticket, open_ticket_hold
from tests.conftest import NOW
from tests.inbound_flow.conftest import add_customer_with_order, deliver, question


def _run(config: Path, command: click.Command, args: list[str], clock: FrozenClock) -> Result:
    state = CliContext(config_path=config, clock=clock)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(command, args, obj=state)
    state.close()
    return result


async def test_list_show_and_close_a_ticket(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    add_customer_with_order(database)
    await deliver(listener.port, question(body="My shirt has not come yet.\n"))
    await pipeline.drain()
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: '{database.url}'\n", encoding="utf-8")

    code, out = _outcome(_run(config, tickets, ["--open"], clock))
    assert code == 0
    assert "T-1" in out and "anna@customer.example" in out and "Where is my order?" in out

    code, out = _outcome(_run(config, ticket, ["show", "T-1"], clock))
    assert code == 0
    assert "Anna <anna@customer.example>" in out
    assert "SO-1042" in out and "2026-11-26" in out
    assert "My shirt has not come yet." in out

    assert _outcome(_run(config, ticket, ["close", "1"], clock)) == (0, "T-1 closed\n")
    assert "no open tickets" in _run(config, tickets, ["--open"], clock).output
    missing = _run(config, ticket, ["show", "7"], clock)
    assert isinstance(missing.exception, TicketNotFoundError)
    assert "there is no ticket T-7" in str(missing.exception)


def _outcome(result: Result) -> tuple[int, str]:
    return result.exit_code, result.output


async def test_an_open_ticket_holds_marketing_back_a_day_at_a_time(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    clock: FrozenClock,
) -> None:
    customer_id = add_customer_with_order(database)
    with database.session() as session:
        assert open_ticket_hold(session, customer_id, NOW) is None
    await deliver(listener.port, question())
    await pipeline.drain()
    with database.session() as session:
        assert open_ticket_hold(session, customer_id, NOW) == (
            NOW + timedelta(days=1),
            "open support ticket T-1",
        )
        # A ticket nobody wrote to for two weeks no longer silences the customer.
        assert open_ticket_hold(session, customer_id, NOW + timedelta(days=15)) is None
    with database.transaction() as session:
        close_ticket(session, 1, NOW)
    with database.session() as session:
        assert open_ticket_hold(session, customer_id, NOW) is None
