"""Login throttling: failed log-ins counted per address and per client address, in the database.

After `studio.login_attempts_per_address` failures for one address (or
`login_attempts_per_ip` from one client address) each further failure locks that key: 30 s,
then twice as long with every failure, up to `studio.lockout_max_minutes`. A locked key is
refused before any password is checked, with the same words whether the address has an account
or not. A day without failures forgets them; a successful log-in forgets its address's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailengine.addresses import address_hash
from mailengine.config import StudioSettings
from mailengine.store.database import Database
from mailengine.store.users import (
    FailureRecord,
    forget_login_failures,
    login_failures,
    login_failures_for_update,
    save_login_failure,
)

FIRST_LOCKOUT = timedelta(seconds=30)
FORGET_AFTER = timedelta(days=1)
_MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class LoginKeys:
    """The keys one log-in attempt counts under, each with the failures it allows."""

    address: str
    allowed: dict[str, int]

    @classmethod
    def of(cls, email: str, client: str | None, settings: StudioSettings) -> LoginKeys:
        address = f"address:{address_hash(email)}"
        allowed = {address: settings.login_attempts_per_address}
        if client:
            allowed[f"ip:{client}"[:100]] = settings.login_attempts_per_ip
        return cls(address, allowed)


def locked_until(database: Database, keys: LoginKeys, now: datetime) -> datetime | None:
    """When the latest lockout of these keys ends, if any is still in force."""
    with database.session() as session:
        records = login_failures(session, keys.allowed)
    ends = [r.locked_until for r in records if r.locked_until is not None and r.locked_until > now]
    return max(ends, default=None)


def count_failure(
    database: Database, keys: LoginKeys, now: datetime, settings: StudioSettings
) -> datetime | None:
    """Count one failed log-in under every key; when a lockout now ends, if one began."""
    longest = timedelta(minutes=settings.lockout_max_minutes)
    ends: list[datetime] = []
    with database.transaction() as session:
        for record in login_failures_for_update(session, keys.allowed, now):
            counted = after_failure(record, now, keys.allowed[record.key], longest)
            save_login_failure(session, counted)
            if counted.locked_until is not None:
                ends.append(counted.locked_until)
    return max(ends, default=None)


def forget_failures(database: Database, keys: LoginKeys) -> None:
    """A successful log-in: its address starts afresh (the client address does not)."""
    with database.transaction() as session:
        forget_login_failures(session, [keys.address])


def after_failure(
    record: FailureRecord, now: datetime, allowed: int, longest: timedelta
) -> FailureRecord:
    """The record once one more failure is counted: the count, and the lockout it earns."""
    fresh = record.failures == 0 or now - record.last_failure_at > FORGET_AFTER
    failures = 1 if fresh else record.failures + 1
    lock: datetime | None = None
    if failures >= allowed:
        doublings = min(failures - allowed, _MAX_DOUBLINGS)
        lock = now + min(FIRST_LOCKOUT * 2**doublings, longest)
    return FailureRecord(record.key, failures, now, lock)
