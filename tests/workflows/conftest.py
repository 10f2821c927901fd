"""Fixtures for workflow tests: broken files in tmp_path, and one populated database per kind.

The populated databases are filled once per test session through the store's own upserts
(so the per-customer figures are the store's) with deterministic, awkward data: attributes of
mixed JSON types, missing cities, forgotten and suppressed customers, 29 February birthdays.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, update

from mailengine.addresses import address_hash
from mailengine.cli.context import CliContext
from mailengine.clock import FrozenClock
from mailengine.store.customers import customer_table, upsert_customers
from mailengine.store.database import Database
from mailengine.store.models import Suppression
from mailengine.store.orders import upsert_orders
from mailengine.store.predictions import CustomerPrediction, write_predictions
from mailengine.store.records import ConsentStatement, CustomerUpsert, OrderUpsert
from tests.databases import postgres_unavailable_reason, scratch_postgres_database

REPO = Path(__file__).resolve().parents[2]
# The workflows in workflows/, and the first line `mailengine validate` prints for them.
SHIPPED = (
    "birthday", "churn-risk-win-back", "nps-promoters", "replenish", "thank-you", "vip",
    "welcome", "win-back",
)  # fmt: skip
SHIPPED_OK = f"{len(SHIPPED)} workflow(s) OK: {', '.join(SHIPPED)}"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CUSTOMERS = 600
SHOE_SIZES: tuple[Any, ...] = ("38", "42", "44", 41, 43, 45.5, "43.5", "XL", "4x", True, None)
CITIES = ("Berlin", "Hamburg", "Paris", "berlin", None)
ZIPS = ("10115", "20095", "20457", "75001", None)
CONSENTS = ("granted", "granted", "granted", "withdrawn", "pending", "unknown")

WriteWorkflow = Callable[[str, str], Path]


@pytest.fixture
def write_workflow(tmp_path: Path) -> WriteWorkflow:
    """Write YAML text as tmp_path/workflows/<file name>; returns its path."""
    folder = tmp_path / "workflows"
    folder.mkdir(exist_ok=True)

    def write(file_name: str, text: str) -> Path:
        path = folder / file_name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A config file with the shipped workflows, templates and polls next to it."""
    for folder in ("workflows", "templates", "polls", "questionnaires"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    config = tmp_path / "config.yaml"
    config.write_text("database:\n  url: sqlite:///var/test.db\n", encoding="utf-8")
    return tmp_path


def invoke(project: Path, command: object, args: list[str]) -> tuple[int, str]:
    state = CliContext(config_path=project / "config.yaml", clock=FrozenClock(NOW))
    runner = CliRunner()
    result = runner.invoke(command, args, obj=state, catch_exceptions=False)  # type: ignore[arg-type]
    state.close()
    return result.exit_code, result.output


@dataclass(frozen=True)
class Populated:
    """A database filled with the generated customers, and the moment the data is about."""

    database: Database
    now: datetime

    @property
    def dialect(self) -> str:
        return self.database.dialect


def populate(database: Database, now: datetime = NOW, seed: int = 11) -> None:
    """Generate CUSTOMERS customers with orders, suppressions and forgotten customers."""
    rng = random.Random(seed)
    customers: list[CustomerUpsert] = []
    order_records: list[OrderUpsert] = []
    for number in range(CUSTOMERS):
        email = f"person{number}@example.org"
        created = now - timedelta(days=rng.randrange(1, 800), hours=rng.randrange(24))
        attributes: dict[str, Any] = {"favourite": rng.choice(("shoes", "shirts", "bags"))}
        size = SHOE_SIZES[number % len(SHOE_SIZES)]
        if size is not None:
            attributes["shoe_size"] = size
        if number % 7 == 0:
            attributes["newsletter_vip"] = number % 14 == 0
        birthday = _birthday(rng, number)
        fields: dict[str, Any] = {
            "first_name": f"First{number}",
            "city": CITIES[number % len(CITIES)],
            "zip": ZIPS[number % len(ZIPS)],
            "created_at": created,
            "timezone": "Europe/Berlin",
            "locale": "de_DE",
        }
        if birthday is not None:
            fields["birthday"] = birthday
        status = CONSENTS[number % len(CONSENTS)]
        consent = ConsentStatement(status=status, source="test", recorded_at=created)
        customers.append(CustomerUpsert(email, fields, attributes, consent))
        for index in range(_order_count(rng, number)):
            placed = created + (now - created) * rng.random()
            amount = rng.randrange(500, 40000)
            order_records.append(
                OrderUpsert(
                    external_id=f"T-{number}-{index}",
                    email=email,
                    channel="online" if index % 3 else "store",
                    amount_minor=amount,
                    currency="EUR",
                    base_amount_minor=amount,
                    placed_at=placed,
                    status="cancelled" if rng.random() < 0.08 else "delivered",
                )
            )
    with database.transaction() as session:
        upsert_customers(session, customers, now)
        upsert_orders(session, order_records, now)
        suppressed = [f"PERSON{n}@example.org" for n in range(0, CUSTOMERS, 13)]
        session.execute(
            insert(Suppression.__table__),  # type: ignore[attr-defined]
            [
                {"address_hash": address_hash(a), "reason": "hard-bounce", "created_at": now}
                for a in suppressed
            ],
        )
        forgotten = [n + 1 for n in range(5, CUSTOMERS, 17)]
        session.execute(
            update(customer_table)
            .where(customer_table.c.id.in_(forgotten))
            .values(forgotten_at=now - timedelta(days=1))
        )
        write_predictions(session, _predictions(now, seed))


def _predictions(now: datetime, seed: int) -> Iterator[CustomerPrediction]:
    """Predicted figures for three customers in four (ids n + 1); every fourth is not
    predicted yet. A generator of its own, so the rest of the data stays as it was."""
    rng = random.Random(seed + 1)
    for number in range(CUSTOMERS):
        if number % 4 == 3:
            continue
        drawn = round(rng.random(), 3)
        active = 0.5 if number % 10 == 0 else drawn  # some exactly, for eq and ne
        next_order = now + timedelta(hours=rng.randrange(-24 * 20, 24 * 40))
        yield CustomerPrediction(
            customer_id=number + 1,
            p_active=active,
            churn_risk=round(1 - active, 3),
            expected_orders_90d=round(rng.random() * 3, 2),
            predicted_next_order_at=next_order if number % 9 else None,
            predicted_value_365d_minor=rng.randrange(0, 50_000) if number % 11 else None,
            best_send_hour=rng.randrange(24) if number % 6 else None,
            predicted_at=now - timedelta(hours=3),
        )


def _birthday(rng: random.Random, number: int) -> date | None:
    if number % 5 == 0:
        return None
    if number % 50 == 1:
        return date(1992, 2, 29)
    return date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))


def _order_count(rng: random.Random, number: int) -> int:
    if number % 4 == 0:
        return 0
    return 1 + int(rng.expovariate(1 / 3))


@pytest.fixture(scope="session")
def populated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    folder = tmp_path_factory.mktemp("audience-sqlite")
    database = Database(f"sqlite:///{folder / 'audience.db'}")
    database.upgrade()
    populate(database)
    yield Populated(database, NOW)
    database.dispose()


@pytest.fixture(scope="session")
def populated_postgres() -> Iterator[Populated]:
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with scratch_postgres_database() as url:
        database = Database(url)
        database.upgrade()
        populate(database)
        yield Populated(database, NOW)
        database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def populated(request: pytest.FixtureRequest) -> Populated:
    """The generated data on SQLite, then on PostgreSQL (skipped when none is reachable)."""
    name = "populated_sqlite" if request.param == "sqlite" else "populated_postgres"
    result: Populated = request.getfixturevalue(name)
    return result
