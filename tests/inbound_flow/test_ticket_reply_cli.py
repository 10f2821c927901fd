"""`mailengine ticket reply N --file F` for scripts: the answer goes out through the outbox
once however often the script runs; `tickets` shows waiting times, `ticket show` the answer."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from mailengine.cli.ticket_commands import NotATeamMemberError, ticket, tickets
from mailengine.clock import FrozenClock
from mailengine.inbound.human_replies import ReplyRefused
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound import Dispatcher
from mailengine.store.database import Database
from mailengine.store.users import add_user
from tests.conftest import NOW
from tests.inbound_flow.conftest import (
    add_customer_with_order,
    deliver,
    outbox_rows,
    question,
    received,
    send_replies,
    text_of,
)
from tests.inbound_flow.test_tickets_cli_and_hold import _run
from tests.transport.conftest import SmtpServer

ANSWER = "Hello Anna,\n\nyour refund of 59.90 EUR is on its way.\n"


async def test_a_script_answers_a_ticket_once_and_the_tables_show_the_clock(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    add_customer_with_order(database)
    with database.transaction() as session:
        add_user(session, "sam@shop.example", "support", "not a password hash", NOW)
    await deliver(listener.port, question())
    clock.advance(timedelta(hours=1))
    await deliver(
        listener.port,
        question(sender="bob@elsewhere.example", message_id="<b@elsewhere.example>"),
        mail_from="bob@elsewhere.example",
    )
    await pipeline.drain()
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: '{database.url}'\n", encoding="utf-8")
    answer = tmp_path / "answer.txt"
    answer.write_text(ANSWER, encoding="utf-8")
    clock.advance(timedelta(minutes=30))

    args = ["reply", "T-1", "--file", str(answer), "--as", "sam@shop.example"]
    first = _run(config, ticket, args, clock)
    assert first.output == "T-1: the answer is in the outbox; `mailengine run` sends it\n"
    again = _run(config, ticket, args, clock)
    assert again.output == "T-1: this answer was planned before; nothing is sent again\n"
    await send_replies(dispatcher)
    [_, sent] = received(outgoing, "anna@customer.example")
    assert sent["From"] == "Example Shop <support@shop.example>"
    assert sent["In-Reply-To"] == "<question-1@customer.example>"
    assert text_of(sent).startswith(ANSWER.strip().replace("\n", "\r\n"))
    [row] = outbox_rows(database, step="reply")
    assert row["idempotency_key"].startswith("support:reply:cli:")

    listed = json.loads(_run(config, tickets, ["--format", "json"], clock).output)["tickets"]
    clocks = {item["reference"]: (item["waiting"], item["first_answer"]) for item in listed}
    assert clocks == {"T-1": (None, 5400.0), "T-2": (1800.0, None)}
    table = _run(config, tickets, [], clock).output
    assert "30 min" in table and "1 h 30 min" in table
    shown = _run(config, ticket, ["show", "1"], clock).output
    assert "sam@shop.example: answered from the command line (sent)" in shown
    assert "your refund of 59.90 EUR is on its way." in shown


def test_a_script_is_told_what_it_got_wrong(
    database: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: '{database.url}'\n", encoding="utf-8")
    empty, text = tmp_path / "empty.txt", tmp_path / "answer.txt"
    empty.write_text("  \n", encoding="utf-8")
    text.write_text(ANSWER, encoding="utf-8")
    with database.transaction() as session:
        from mailengine.store.tickets import open_ticket

        open_ticket(session, None, "bob@elsewhere.example", "Norway?", NOW)
    refused = _run(config, ticket, ["reply", "1", "--file", str(empty)], clock)
    assert isinstance(refused.exception, ReplyRefused)
    assert "the answer is empty" in str(refused.exception)
    stranger = _run(config, ticket, ["reply", "1", "--file", str(text), "--as", "x@y.z"], clock)
    assert isinstance(stranger.exception, NotATeamMemberError)
    assert "--as x@y.z: no studio account with the support or admin role" in str(stranger.exception)
    bad_key = _run(config, ticket, ["reply", "1", "--file", str(text), "--key", "a b"], clock)
    assert bad_key.exit_code == 2 and "--key" in bad_key.output
    assert outbox_rows(database, step="reply") == []
