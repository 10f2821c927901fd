"""Where a workflow's customers are: states, the control group, and the queue at each step."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from mailengine.store.database import Database
from mailengine.store.enrollments import NewEnrollment, enroll, exit_active
from mailengine.store.workflow_progress import StepQueue, workflow_progress
from tests.conftest import NOW
from tests.web.conftest import add_customers

HOUR = timedelta(hours=1)


@time_machine.travel(NOW, tick=False)
def test_queues_count_waiting_and_due_customers_per_step_and_version(database: Database) -> None:
    people = add_customers(database, [(f"c{n}@example.com", "granted") for n in range(8)])
    ids = list(people.values())
    placed = [  # (customer, version, step, next run)
        (ids[0], "v2", "1", NOW - HOUR),  # overdue: due, not waiting
        (ids[1], "v2", "3", NOW + HOUR),  # waiting, due within a day
        (ids[2], "v2", "3", NOW + 23 * HOUR),
        (ids[3], "v2", "3", NOW + 25 * HOUR),  # waiting, not due within a day
        (ids[4], "v1", "3", NOW + 2 * HOUR),  # an earlier version's step 3
        (ids[5], "v2", None, NOW),  # finished at once
        (ids[6], "v2", "3", NOW + HOUR),  # leaves below
    ]
    rows = [
        NewEnrollment("welcome", version, customer, "o1", step, at, holdout=customer == ids[2])
        for customer, version, step, at in placed
    ]
    rows.append(NewEnrollment("win-back", "v9", ids[7], "o1", "1", NOW))  # another workflow
    with database.transaction() as session:
        enroll(session, rows, NOW - 48 * HOUR)
        exit_active(session, ids[6], ["welcome"], NOW, "ordered")
    with database.session() as session:
        progress = workflow_progress(session, "welcome", NOW)
    assert progress.states == {"active": 5, "completed": 1, "exited": 1}
    assert (progress.enrolled, progress.held_out) == (7, 1)
    assert progress.at_step("1", "v2") == StepQueue("v2", "1", resting=1, waiting=0, due_soon=1)
    assert progress.at_step("3", "v2") == StepQueue("v2", "3", resting=3, waiting=3, due_soon=2)
    assert progress.at_step("2", "v2") is None
    assert progress.on_other_versions("v2") == 1


@time_machine.travel(NOW, tick=False)
def test_a_workflow_nobody_entered(database: Database) -> None:
    with database.session() as session:
        progress = workflow_progress(session, "welcome", NOW)
    assert (progress.states, progress.queues, progress.enrolled) == ({}, [], 0)
