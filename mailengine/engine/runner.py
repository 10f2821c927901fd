"""The engine's database work: events enroll, schedules enroll, due enrollments advance.

Each unit of work is one transaction: enrollments are claimed (SKIP LOCKED on PostgreSQL),
walked by the pure planner, their sends planned in the outbox and their new positions stored,
all or nothing. A crash in the middle loses nothing and, replayed, plans nothing twice: sends
are keyed by (workflow, step, customer, occurrence).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailengine.config import Settings
from mailengine.engine.facts import HoldCheck, StoreFacts, shop_send_hour, zone_of
from mailengine.engine.planner import ContactPressure, advance
from mailengine.engine.registry import WorkflowRegistry
from mailengine.message_ids import keyed_message_id
from mailengine.money import decimals, to_minor
from mailengine.store.audience_queries import stream_audience
from mailengine.store.database import Database
from mailengine.store.engine_queries import (
    Contact,
    contacts_of,
    customer_in_audience,
    yearly_audience,
)
from mailengine.store.enrollments import (
    DueEnrollment,
    EnrollmentChange,
    NewEnrollment,
    apply_changes,
    claim_due_enrollments,
    enroll,
    exit_active,
    reentry_blocked,
)
from mailengine.store.events import EventRow, claim_new_events, mark_events_processed
from mailengine.store.outbox import plan_sends
from mailengine.store.records import TEMPLATE_VERSION, PlannedSend
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.data_filters import event_matches as data_matches
from mailengine.workflows.model import EventTrigger, SendStep, Workflow, YearlyTrigger

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
        """Enroll on (and exit on) every unprocessed event; returns how many were handled."""
        with self.database.transaction() as session:
            events = claim_new_events(session, limit)
            for event in events:
                try:
                    with session.begin_nested():
                        self._on_event(session, event, now)
                except Exception:  # one broken event never stops the others
                    log.exception("event %s (%s) could not be processed", event.id, event.type)
            mark_events_processed(session, [event.id for event in events], now)
        return len(events)

    def _on_event(self, session: Session, event: EventRow, now: datetime) -> None:
        if event.customer_id is None:
            return
        workflows = self.registry.current().values()
        leaving = [
            workflow.name
            for workflow in workflows
            if any(
                goal.event == event.type and data_matches(goal.where, event.data)
                for goal in workflow.exit_when
            )
        ]
        exit_active(session, event.customer_id, leaving, now, f"exit goal: {event.type}")
        context = self.context(now)
        for workflow in workflows:
            trigger = workflow.trigger
            if not (isinstance(trigger, EventTrigger) and trigger.event == event.type):
                continue
            if not data_matches(trigger.where, event.data):
                continue
            if not customer_in_audience(session, workflow, event.customer_id, context):
                continue
            self._enroll(
                session,
                workflow,
                [event.customer_id],
                f"event:{event.id}",
                now,
                {"event": event.type, **event.data},
            )

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
                enrolled += len(self._enroll(session, workflow, ids, occurrence, now, {}))
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
                        starts = {
                            customer_id: yearly_start(day, trigger.at, zone_of(tz, self.zone), now)
                            for customer_id, tz in batch
                        }
                        enrolled += len(
                            self._enroll(
                                session,
                                workflow,
                                list(starts),
                                f"yearly:{day.year}",
                                now,
                                {},
                                starts,
                            )
                        )
        return enrolled

    def _enroll(
        self,
        session: Session,
        workflow: Workflow,
        customer_ids: Sequence[int],
        occurrence: str,
        now: datetime,
        trigger_data: dict[str, Any],
        starts: dict[int, datetime] | None = None,
    ) -> list[int]:
        reentry = workflow.reenter
        blocked = reentry_blocked(
            session, workflow.name, customer_ids, reentry.policy, reentry.after, now
        )
        holdout = workflow.holdout
        candidates = [
            NewEnrollment(
                workflow=workflow.name,
                workflow_version=workflow.version,
                customer_id=customer_id,
                occurrence=occurrence,
                step_id=workflow.first_step_id(),
                next_run_at=(starts or {}).get(customer_id, now),
                holdout=holdout is not None and holdout.holds_out(workflow.name, customer_id),
                trigger_data=trigger_data,
            )
            for customer_id in customer_ids
            if customer_id not in blocked
        ]
        return enroll(session, candidates, now)

    # Due steps

    def advance_due(self, now: datetime, limit: int = 500) -> int:
        """Walk every enrollment whose time has come; returns how many were walked."""
        with self.database.transaction() as session:
            due = claim_due_enrollments(session, self.worker_id, now, limit, LEASE)
            if not due:
                return 0
            contacts = contacts_of(session, (row.customer_id for row in due))
            shop_hour = shop_send_hour(session, self.settings)
            sends: list[PlannedSend] = []
            changes: list[EnrollmentChange] = []
            for row in due:
                try:
                    with session.begin_nested():
                        planned, change = self._walk(session, row, contacts, shop_hour, now)
                        plan_sends(session, planned, now)
                except Exception as error:  # one customer's problem never stops the batch
                    log.exception("enrollment %s failed", row.id)
                    planned = []
                    change = EnrollmentChange(row.id, "failed", row.step_id, None, str(error))
                sends.extend(planned)
                changes.append(change)
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
            message_id=keyed_message_id(self._secret, self.settings.sender.domain, key),
            kind="transactional" if workflow.transactional else "marketing",
            payload=payload,
            held_out=row.holdout,
        )


def yearly_start(day: date, at: time, zone: ZoneInfo, now: datetime) -> datetime:
    """`at` o'clock on `day` in the customer's zone; a moment already past means now."""
    return max(datetime.combine(day, at, tzinfo=zone), now)
