"""stored schedule jobs name the modules their function and trigger live in now

The scheduler's job store (APScheduler's table `apscheduler_jobs`) pickles each job's function
as a `module:function` reference and its trigger as an object of its class. The scheduler and
the cron trigger moved (`mailengine.scheduler` to `mailengine.engine.scheduler`,
`mailengine.cron_trigger` to `mailengine.cron.trigger`); APScheduler drops a stored job it
cannot read, and with it a fire missed while the engine was down. This rewrites the stored
references. Going back below it removes the stored jobs instead (the older code cannot read
the new trigger class): the engine adds them again when it starts, each from its next fire.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:40:00
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_TABLE = "apscheduler_jobs"
MOVED = {
    "mailengine.scheduler": "mailengine.engine.scheduler",
    "mailengine.cron_trigger": "mailengine.cron.trigger",
}


class _RenamingUnpickler(pickle.Unpickler):
    """Reads a pickle whose classes live in other modules than it names."""

    def __init__(self, data: bytes, renamed: Mapping[str, str]) -> None:
        super().__init__(io.BytesIO(data))
        self._renamed = renamed

    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(self._renamed.get(module, module), name)


def _moved_state(data: bytes, renamed: Mapping[str, str]) -> bytes:
    state = _RenamingUnpickler(data, renamed).load()
    module, colon, function = str(state["func"]).partition(":")
    state["func"] = f"{renamed.get(module, module)}{colon}{function}"
    return pickle.dumps(state, pickle.HIGHEST_PROTOCOL)


def _rewrite_jobs(renamed: Mapping[str, str]) -> None:
    connection = op.get_bind()
    if not sa.inspect(connection).has_table(JOB_TABLE):
        return  # the engine never ran on this database: the scheduler creates the table
    jobs = sa.table(
        JOB_TABLE, sa.column("id", sa.Unicode()), sa.column("job_state", sa.LargeBinary())
    )
    for job_id, state in connection.execute(sa.select(jobs.c.id, jobs.c.job_state)).all():
        connection.execute(
            jobs.update().where(jobs.c.id == job_id).values(job_state=_moved_state(state, renamed))
        )


def upgrade() -> None:
    _rewrite_jobs(MOVED)


def downgrade() -> None:
    connection = op.get_bind()
    if sa.inspect(connection).has_table(JOB_TABLE):
        connection.execute(sa.table(JOB_TABLE).delete())
