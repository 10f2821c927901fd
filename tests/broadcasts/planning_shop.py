"""A small shop and broadcasts built in code, for the planner's tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from mailengine.broadcasts.model import (
    Broadcast,
    SendAt,
    ShopTime,
    Variant,
    WinnerRule,
)
from mailengine.broadcasts.timing import plan_start
from mailengine.config import Settings
from mailengine.engine.broadcast_planner import BroadcastPlanner
from mailengine.errors import SourceLocation
from mailengine.store import broadcast_runs as runs
from mailengine.store.broadcast_models import BroadcastRun
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from mailengine.store.records import ConsentStatement, CustomerUpsert
from tests.conftest import NOW

SECRET = b"k" * 32
HERE = SourceLocation("broadcasts/sale.yaml", 1, 1)
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", None)


def shop_wall_time(moment: datetime) -> datetime:
    """The naive wall time in the shop's zone (Settings' default, Europe/Berlin)."""
    return moment.astimezone(Settings().zone).replace(tzinfo=None)


def add_customers(database: Database, count: int, start: int = 0) -> dict[str, int]:
    granted = ConsentStatement(status="granted", source="checkout", recorded_at=NOW)
    records = [
        CustomerUpsert(
            email=f"c{n}@example.com", fields={"timezone": ZONES[n % 4]}, consent=granted
        )
        for n in range(start, start + count)
    ]
    with database.transaction() as session:
        return upsert_customers(session, records, NOW).customer_ids


def broadcast(name: str = "sale", send_at: SendAt | None = None, **changes: Any) -> Broadcast:
    made = Broadcast(
        name=name,
        description="",
        path=f"broadcasts/{name}.yaml",
        version="v1",
        topic="newsletter",
        audience=None,
        template="newsletter/newsletter",
        subject="Our sale",
        preheader="Until Sunday",
        send_at=send_at or ShopTime(shop_wall_time(NOW + timedelta(hours=1))),
        location=HERE,
    )
    return replace(made, **changes)


def ab_test(per_cent: int = 10, after: timedelta = timedelta(hours=4)) -> dict[str, Any]:
    share = per_cent * 100
    return {
        "variants": (
            Variant("A", share, "newsletter/newsletter", "Subject A", None, HERE),
            Variant("B", share, "newsletter/newsletter", "Subject B", None, HERE),
        ),
        "winner": WinnerRule("clicks", after),
    }


class Shop:
    """Broadcasts scheduled through the store and planned by `BroadcastPlanner`s."""

    def __init__(self, database: Database, settings: Settings | None = None) -> None:
        self.database = database
        self.settings = settings or Settings()
        self.files: dict[str, Broadcast] = {}
        self.winner = "B"
        self.picked = 0

    def schedule(self, made: Broadcast, now: datetime = NOW) -> runs.Scheduled:
        self.files[made.name] = made
        with self.database.transaction() as session:
            return runs.schedule(
                session,
                name=made.name,
                origin="file",
                path=made.path,
                version=made.version,
                source=made.name,
                plan_at=plan_start(made, self.settings.zone),
                now=now,
                by=None,
            )

    def planner(self, worker: str = "engine-1") -> BroadcastPlanner:
        return BroadcastPlanner(
            self.database,
            self.settings,
            secret=SECRET,
            worker_id=worker,
            read_source=self._read,
            pick_winner=self._pick,
        )

    def _read(self, run: BroadcastRun) -> Broadcast:
        return self.files[run.source]

    def _pick(self, session: Session, made: Broadcast, now: datetime) -> tuple[str, str]:
        self.picked += 1
        return self.winner, "more clicks"

    def run(self, name: str) -> BroadcastRun:
        with self.database.session() as session:
            found = runs.load(session, name)
        assert found is not None
        return found

    def rows(self, name: str = "sale") -> list[dict[str, Any]]:
        o = outbox_table.c
        with self.database.session() as session:
            found = session.execute(
                select(outbox_table).where(o.workflow == f"broadcast:{name}").order_by(o.id)
            )
            return [dict(row) for row in found.mappings()]
