"""The engine's database work: events enroll, schedules enroll, due enrollments advance.

Each unit of work is one transaction: enrollments are claimed (SKIP LOCKED on PostgreSQL),
walked by the pure planner, their sends planned in the outbox and their new positions stored,
all or nothing. A crash in the middle loses nothing and, replayed, plans nothing twice: sends
are keyed by (workflow, step, customer, occurrence).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailengine.config import Settings
from mailengine.engine.enrolling import (
    Entry,
    enroll_entries,
    rounds,
    wanted_event_types,
    work_events,
)
from mailengine.engine.facts import HoldCheck, StoreFacts, shop_send_hour, zone_of
from mailengine.engine.planner import ContactPressure, advance
from mailengine.engine.registry import WorkflowRegistry
from mailengine.message_ids import keyed_message_ids
from mailengine.money import decimals, to_minor
from mailengine.store.audience_queries import stream_audience
from mailengine.store.database import Database
from mailengine.store.engine_queries import (
    Contact,
    contacts_of,
    yearly_audience,
)
from mailengine.store.enrollments import (
    DueEnrollment,
    EnrollmentChange,
    any_enrollment_due,
    apply_changes,
    claim_due_enrollments,
)
from mailengine.store.events import any_event_pending, claim_new_events, mark_events_processed
from mailengine.store.outbox import plan_sends
from mailengine.store.records import TEMPLATE_VERSION, PlannedSend
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import SendStep, Workflow, YearlyTrigger

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)


class WorkflowRunner:
    """Runs workflows against the store; every method is one or a few transactions."""

    def __init__(
        self,
        database: Database,
        registry: WorkflowRegistry,
        settings: Settings,
        *,
        secret: bytes,
        worker_id: str | None = None,
        hold: HoldCheck | None = None,
    ) -> None:
        self.database = database
        self.registry = registry
        self.settings = settings
        self._secret = secret  # keys the Message-IDs of planned sends
        self._message_ids: Callable[[str], str] | None = None  # keyed once, at the first
        self.worker_id = worker_id or f"engine-{uuid.uuid4().hex[:12]}"
        self.zone = settings.zone
        self._hold = hold
        pressure = settings.contact_pressure
        quiet = pressure.quiet_times()
        self.pressure = ContactPressure(
            max_per_period=pressure.max_marketing_emails,
            period=timedelta(days=pressure.per_days),
            quiet_start=quiet[0] if quiet else None,
            quiet_end=quiet[1] if quiet else None,
        )

    def context(self, now: datetime) -> AudienceContext:
        return AudienceContext(
            now=now,
            zone=self.zone,
            currency_exponent=decimals(self.settings.currency),
        )

    # Events

    def process_events(self, now: datetime, limit: int = 500) -> int:
        """Enroll on (and exit on) every unprocessed event; returns how many were handled.

        The batch is worked set-based (`enrolling.work_events`); should that fail in the
        database, its events are worked again one by one, so that one broken event never
        stops the others.

        Finding nothing takes no write transaction (a read first): the engine looks after
        every commit of the API's, and an empty look must not queue for SQLite's write turn
        behind the API's writers, nor hold it from them."""
        with self.database.session() as session:
            if not any_event_pending(session):
                return 0
        workflows = list(self.registry.current().values())
        context = self.context(now)
        with self.database.transaction() as session:
            events = claim_new_events(session, limit, wanted_event_types(workflows))
            try:
                with session.begin_nested():
                    work_events(session, workflows, events, context, now)
            except Exception:
                log.warning("%d events failed together; working them one by one", len(events))
                for event in events:
                    try:
                        with session.begin_nested():
                            work_events(session, workflows, [event], context, now)
                    except Exception:  # one broken event never stops the others
                        log.exception("event %s (%s) could not be processed", event.id, event.type)
            mark_events_processed(session, [event.id for event in events])
        return len(events)

    # Schedules

    def fire_schedule(self, name: str, fire_time: datetime, now: datetime) -> int:
        """Select the workflow's audience now and enroll it (once per fire time)."""
        workflow = self.registry.get(name)
        if workflow is None:
            log.warning("schedule fired for unknown workflow %s", name)
            return 0
        occurrence = "schedule:" + fire_time.astimezone(self.zone).isoformat(timespec="minutes")
        enrolled = 0
        with self.database.transaction() as session:
            for batch in stream_audience(
                session, workflow, self.context(now), self.settings.engine.batch_size
            ):
                ids = [row.customer_id for row in batch]
                entries = [Entry(customer_id, occurrence) for customer_id in ids]
                enrolled += len(enroll_entries(session, workflow, entries, now))
        log.info("%s: schedule %s enrolled %d customers", name, occurrence, enrolled)
        return enrolled

    def fire_yearly(self, now: datetime) -> int:
        """Enroll customers whose yearly date is today (or was yesterday), at their local time."""
        today = now.astimezone(self.zone).date()
        days = [today - timedelta(days=1), today]
        enrolled = 0
        for workflow in self.registry.current().values():
            trigger = workflow.trigger
            if not isinstance(trigger, YearlyTrigger):
                continue
            with self.database.transaction() as session:
                for day in days:
                    for batch in yearly_audience(
                        session, workflow, trigger, [day], self.context(now)
                    ):
                        entries = [
                            Entry(
                                customer_id,
                                f"yearly:{day.year}",
                                start=yearly_start(day, trigger.at, zone_of(tz, self.zone), now),
                            )
                            for customer_id, tz in batch
                        ]
                        enrolled += len(enroll_entries(session, workflow, entries, now))
        return enrolled

    # Due steps

    def advance_due(self, now: datetime, limit: int = 500) -> int:
        """Walk every enrollment whose time has come; returns how many were walked. (Finding
        none takes no write transaction, as in `process_events`.)"""
        with self.database.session() as session:
            if not any_enrollment_due(session, now, LEASE):
                return 0
        with self.database.transaction() as session:
            due = claim_due_enrollments(session, self.worker_id, now, limit, LEASE)
            if not due:
                return 0
            contacts = contacts_of(session, (row.customer_id for row in due))
            shop_hour = shop_send_hour(session, self.settings)

            def walk(row: DueEnrollment) -> tuple[list[PlannedSend], EnrollmentChange]:
                return self._walk(session, row, contacts, shop_hour, now)

            try:
                with session.begin_nested():
                    changes = _walk_all(session, due, walk, now)
            except Exception:
                log.warning("%d enrollments failed together; walking them one by one", len(due))
                changes = [_walk_alone(session, row, walk, now) for row in due]
            apply_changes(session, self.worker_id, changes, now)
        return len(due)

    def _walk(
        self,
        session: Session,
        row: DueEnrollment,
        contacts: dict[int, Contact],
        shop_hour: int,
        now: datetime,
    ) -> tuple[list[PlannedSend], EnrollmentChange]:
        workflow = self.registry.version(row.workflow, row.workflow_version)
        if workflow is None:
            return [], EnrollmentChange(
                row.id, "failed", row.step_id, None, f"version {row.workflow_version} is unknown"
            )
        email, timezone, hour = contacts.get(row.customer_id, Contact("", None, None))
        facts = StoreFacts(
            session,
            row.customer_id,
            zone_of(timezone, self.zone),
            self.context(now),
            self.pressure,
            self._hold,
            send_hour=shop_hour if hour is None else hour,
        )
        result = advance(workflow, row.step_id, now, facts)
        planned = [self._planned(workflow, row, step, email) for step in result.sends]
        note = "; ".join(result.decisions)[-500:] or None
        return planned, EnrollmentChange(
            row.id, result.state, result.step_id, result.next_run_at, note
        )

    def _message_id(self, key: str) -> str:
        if self._message_ids is None:
            self._message_ids = keyed_message_ids(self._secret, self.settings.sender.domain)
        return self._message_ids(key)

    def _planned(
        self, workflow: Workflow, row: DueEnrollment, step: SendStep, email: str
    ) -> PlannedSend:
        key = f"{workflow.name}:{step.id}:{row.customer_id}:{row.occurrence}"
        payload: dict[str, Any] = {"enrollment": row.id, "tracking": workflow.tracking}
        if row.trigger_data:
            payload["trigger"] = row.trigger_data
        pinned = self.registry.pinned_template(workflow, step.template)
        if pinned is not None:
            payload[TEMPLATE_VERSION] = pinned
        if step.coupon is not None:
            coupon = step.coupon
            payload["coupon"] = {
                "percent": coupon.percent,
                "amount_minor": (
                    to_minor(coupon.amount, self.settings.currency)
                    if coupon.amount is not None
                    else None
                ),
                "currency": self.settings.currency if coupon.amount is not None else None,
                "valid_seconds": int(coupon.valid_for.total_seconds()),
            }
        return PlannedSend(
            idempotency_key=key,
            workflow=workflow.name,
            workflow_version=workflow.version,
            step=step.id,
            customer_id=row.customer_id,
            recipient=email,
            template=step.template,
            subject=step.subject,
            preheader=step.preheader,
            message_id=self._message_id(key),
            kind="transactional" if workflow.transactional else "marketing",
            payload=payload,
            held_out=row.holdout,
        )


Walk = Callable[[DueEnrollment], tuple[list[PlannedSend], EnrollmentChange]]


def _walk_all(
    session: Session, due: list[DueEnrollment], walk: Walk, now: datetime
) -> list[EnrollmentChange]:
    """Walk `due` and plan its sends, a round at a time: a customer's enrollments in turn
    (the mail one plans counts for the contact pressure of the next), customers at once."""
    changes: list[EnrollmentChange] = []
    for batch in rounds(due, key=lambda row: row.customer_id):
        planned: list[PlannedSend] = []
        for row in batch:
            sends, change = walk(row)
            planned.extend(sends)
            changes.append(change)
        plan_sends(session, planned, now)
    return changes


def _walk_alone(
    session: Session, row: DueEnrollment, walk: Walk, now: datetime
) -> EnrollmentChange:
    """Walk one enrollment in a savepoint of its own: its problem never stops the batch."""
    try:
        with session.begin_nested():
            planned, change = walk(row)
            plan_sends(session, planned, now)
    except Exception as error:
        log.exception("enrollment %s failed", row.id)
        return EnrollmentChange(row.id, "failed", row.step_id, None, str(error))
    return change


def yearly_start(day: date, at: time, zone: ZoneInfo, now: datetime) -> datetime:
    """`at` o'clock on `day` in the customer's zone; a moment already past means now."""
    return max(datetime.combine(day, at, tzinfo=zone), now)
