"""The shared corpus through the whole pipeline: no real bounce, complaint or auto-reply is
answered or opens a ticket; none of them is about our mail, so none suppresses anybody and
the team sees each, marked. Planted as our own sends (by their original Message-ID and
recipient), the labelled bounces suppress the hard ones and never a soft one."""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from mailengine.inbound.bounces import parse_bounce
from mailengine.inbound.parse import parse_inbound
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.database import Database
from mailengine.store.inbound_store import bounce_table, count_by_state, usable_message_id
from mailengine.store.outbox import plan_sends
from mailengine.store.records import PlannedSend
from mailengine.store.suppressions import suppression_reason, suppression_table
from tests.conftest import NOW
from tests.inbound.corpus import FLANKER_BOUNCES, SISIMAI, corpus_or_skip
from tests.inbound_flow.conftest import outbox_rows

_NOT_FAILURES = ("delayed", "relayed", "delivered", "expanded")


def _automatic_files() -> list[Path]:
    corpus_or_skip()
    return [
        *sorted((SISIMAI / "maildir-bsd").glob("*.eml")),
        *sorted((FLANKER_BOUNCES / "bounce").glob("*.eml")),
        *sorted((FLANKER_BOUNCES / "complaints").glob("*.eml")),
    ]


async def test_no_report_of_the_corpus_is_answered_or_acted_on_and_the_team_sees_each(
    pipeline: InboundPipeline, database: Database
) -> None:
    files = _automatic_files()
    started = time.perf_counter()
    ids = {path.name: pipeline.store(path.read_bytes(), source="imap").id for path in files}
    results = await pipeline.drain()
    elapsed = time.perf_counter() - started
    kinds = Counter(result.classification.value for result in results)
    print(f"\n{len(files)} corpus messages stored and acted on in {elapsed:.1f} s: {kinds}")
    assert len(files) == 640
    unique = len(set(ids.values()))  # some files of the corpus are byte for byte the same
    assert len(results) == unique
    assert not any(r.acknowledged or r.ticket_id for r in results)
    assert all(r.team_notified for r in results)
    team = outbox_rows(database)
    assert len(team) == unique
    assert {(row["step"], row["recipient"]) for row in team} == {
        ("notify-team", "team@shop.example")
    }
    assert all(row["payload"]["support"]["notice"]["label"] for row in team)
    with database.session() as session:
        assert count_by_state(session) == {"processed": unique}
        assert session.execute(select(func.count()).select_from(suppression_table)).scalar() == 0
        assert session.execute(select(func.count()).select_from(bounce_table)).scalar() == 0


def _labelled_bounces() -> list[dict[str, str]]:
    corpus_or_skip()
    with (SISIMAI / "labels_maildir-bsd.csv").open(newline="") as handle:
        return [
            row
            for row in csv.DictReader(handle)
            if row["category"] == "bounce(DSN/NDR)" and row["hardbounce_any"] in ("0", "1")
        ]


def _plant_our_sends(database: Database, rows: list[dict[str, str]]) -> dict[str, str]:
    """For each bounce naming its original Message-ID, an outbox send of that id to a failed
    recipient, as if we had sent it; returns file name -> that recipient."""
    planted: dict[str, str] = {}
    sends: dict[str, PlannedSend] = {}
    for row in rows:
        report = parse_bounce(parse_inbound((SISIMAI / "maildir-bsd" / row["file"]).read_bytes()))
        message_id = usable_message_id(report.original_message_id)
        failures = [
            r
            for r in report.recipients
            if r.recipient and (r.action or "").lower() not in _NOT_FAILURES
        ]
        # One send per Message-ID: the recipient the report reads hard, if any, is the one.
        failed = [r.recipient for r in sorted(failures, key=lambda r: not r.hard) if r.recipient]
        if message_id is None or not failed or message_id in sends:
            continue
        planted[row["file"]] = failed[0]
        sends[message_id] = PlannedSend(
            idempotency_key=f"corpus:{row['file']}",
            workflow="corpus",
            step="1",
            customer_id=None,
            recipient=failed[0],
            template="thank-you/order-confirmed",
            subject="Corpus",
            message_id=message_id,
            kind="transactional",
        )
    with database.transaction() as session:
        plan_sends(session, list(sends.values()), NOW)
    return planted


async def test_corpus_bounces_naming_our_sends_suppress_the_hard_ones_only(
    pipeline: InboundPipeline, database: Database
) -> None:
    rows = _labelled_bounces()
    planted = _plant_our_sends(database, rows)
    stored = {
        name: pipeline.store((SISIMAI / "maildir-bsd" / name).read_bytes(), source="imap").id
        for name in planted
    }
    await pipeline.drain()
    b = bounce_table.c
    with database.session() as session:
        # Corpus files share recipients, so each report is judged by what it recorded itself.
        hard_reports = set(
            session.execute(select(b.inbound_message_id).where(b.kind == "hard")).scalars()
        )
        for name in planted:
            if stored[name] in hard_reports:
                assert suppression_reason(session, planted[name]) == "hard-bounce", name
    suppressed = {name for name in planted if stored[name] in hard_reports}
    hard = [row["file"] for row in rows if row["file"] in planted and row["hardbounce_any"] == "1"]
    soft = [row["file"] for row in rows if row["file"] in planted and row["hardbounce_any"] == "0"]
    caught = [name for name in hard if name in suppressed]
    wrongly = [name for name in soft if name in suppressed]
    print(
        f"\n{len(planted)} of {len(rows)} labelled bounces name their original Message-ID and "
        f"a failed recipient; hard ones suppressed: {len(caught)}/{len(hard)}; "
        f"soft ones suppressed: {wrongly}; missed: {sorted(set(hard) - set(caught))}"
    )
    assert len(planted) >= 350
    assert len(caught) / len(hard) >= 0.95
    assert wrongly == []
