"""Picking an A/B test's winner when it is due: the test cells' figures, then the choice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from mailengine.broadcasts.figures import choose_winner
from mailengine.broadcasts.model import Broadcast
from mailengine.config import Settings
from mailengine.engine.broadcast_planner import WinnerPicker
from mailengine.store.broadcast_report import variant_figures


def pick_winner(settings: Settings) -> WinnerPicker:
    """Compare the test cells by the broadcast's metric (conversions and revenue within the
    shop's attribution window); a choice that is not significant still picks the best point
    estimate, and the note says so."""
    attribution = timedelta(days=settings.http.attribution_days)

    def pick(session: Session, broadcast: Broadcast, now: datetime) -> tuple[str, str]:
        assert broadcast.winner is not None
        figures = variant_figures(session, broadcast.name, attribution, now)
        cells = {
            variant.name: figures[variant.name].tested
            for variant in broadcast.variants
            if variant.name in figures
        }
        if not cells:
            first = broadcast.variants[0].name
            return first, f"no test mail was delivered: {first} is sent, the first variant"
        choice = choose_winner(cells, broadcast.winner, currency=settings.currency)
        return choice.winner, choice.sentence

    return pick
