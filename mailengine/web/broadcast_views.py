"""A stored broadcast as the API answers it: the row, what its frozen source says (topic, send
time), its messages by outbox state and, for one broadcast, its figures and winner."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from mailengine.broadcasts.figures_data import report_winner, variant_data, winner_data
from mailengine.broadcasts.timing import first_send, when
from mailengine.store import broadcast_outbox
from mailengine.store import broadcast_runs as runs
from mailengine.store.broadcast_models import BroadcastRun
from mailengine.store.broadcast_report import broadcast_report
from mailengine.web.broadcast_schemas import BroadcastDetail, BroadcastOut, FiguresOut, WinnerOut
from mailengine.web.context import WebContext


def broadcast_out(
    context: WebContext,
    session: Session,
    run: BroadcastRun,
    messages: dict[str, int] | None = None,
) -> BroadcastOut:
    """The row and its source's topic and send time; `messages` by outbox state (read when
    not given)."""
    found = context.stored_broadcasts.read(run)
    zone = context.settings.zone
    return BroadcastOut(
        name=run.name,
        origin=run.origin,
        state=run.state,
        topic=found.topic if found else None,
        description=found.description if found else None,
        send_at=when(found, zone) if found else None,
        first_send=first_send(found, zone) if found else None,
        plan_at=run.plan_at,
        winner_at=run.winner_at,
        winner=run.winner,
        planned=run.planned_count,
        created_at=run.created_at,
        paused_at=run.paused_at,
        cancelled_at=run.cancelled_at,
        planned_at=run.planned_at,
        messages=messages
        if messages is not None
        else broadcast_outbox.outbox_states(session, run.name),
    )


def broadcast_list(context: WebContext, session: Session) -> list[BroadcastOut]:
    """Every stored broadcast, by when it is planned; their messages counted in one go."""
    counts = broadcast_outbox.outbox_states_of_all(session)
    return [
        broadcast_out(context, session, run, counts.get(run.name, {}))
        for run in runs.all_runs(session)
    ]


def broadcast_detail(context: WebContext, session: Session, run: BroadcastRun) -> BroadcastDetail:
    """The broadcast with each variant's figures and the winner by its winner rule (clicks
    for a plain split), test cells compared."""
    settings = context.settings
    window = timedelta(days=settings.http.attribution_days)
    figures = broadcast_report(session, run.name, window, context.clock.now()).variants
    found = context.stored_broadcasts.read(run)
    rule = found.winner if found is not None else None
    choice = report_winner(figures, rule.metric if rule else None, settings.currency)
    variants = {
        name: FiguresOut.model_validate(
            {
                **variant_data(item, settings.currency),
                "phases": {
                    phase: variant_data(part, settings.currency)
                    for phase, part in item.phases.items()
                },
            }
        )
        for name, item in figures.items()
    }
    winner = (
        WinnerOut.model_validate({**winner_data(choice, settings.currency), "chosen": run.winner})
        if choice is not None
        else None
    )
    summary = broadcast_out(context, session, run)
    return BroadcastDetail(
        **summary.model_dump(), note=run.note, variants=variants, winner_choice=winner
    )
