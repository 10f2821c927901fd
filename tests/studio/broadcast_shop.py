"""A scheduled A/B broadcast whose every figure is known (tests.broadcasts.report_shop), stored
as `mailengine broadcast schedule` stores it, beside the shipped broadcast files."""

from __future__ import annotations

from mailengine.store import broadcast_runs as runs
from mailengine.store.database import Database
from tests.broadcasts import report_shop

NAME = report_shop.NAME
SOURCE = f"""\
name: {NAME}
description: The December sale, its subject A/B tested.
topic: promotions
template: newsletter/newsletter
subject: December sale
send_at: "2026-11-13 10:00"
ab_test:
  variants:
    - {{name: A, share: 10%}}
    - {{name: B, share: 10%, subject: Only this week}}
  winner: {{metric: clicks, after: 4 hours}}
"""


def build(database: Database) -> None:
    """The mail of report_shop, and its broadcast stored: testing, B chosen for the rest."""
    report_shop.build(database)
    with database.transaction() as session:
        runs.schedule(
            session, name=NAME, origin="file", path=f"broadcasts/{NAME}.yaml", version="v1",
            source=SOURCE, plan_at=report_shop.T0, now=report_shop.T0, by="cli",
        )  # fmt: skip
        session.execute(
            runs.broadcast_table.update()
            .where(runs.broadcast_table.c.name == NAME)
            .values(state="planned", winner="B", planned_count=20)
        )
