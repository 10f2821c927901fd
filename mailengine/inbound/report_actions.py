"""Acting on bounces and complaints: only a report that proves it concerns our own mail acts.

Anybody can send a delivery report or an abuse report from `<>` naming any address. A report
acts (suppresses, unsubscribes, marks the send) only for a send it proves: it came back to
that send's signed VERP bounce address, or it names a Message-ID we sent to the very address
it reports on. What a report cannot prove is left alone, and the caller shows the report to
the team saying why it was not acted on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from mailengine.addresses import InvalidAddressError, address_hash, normalize_email
from mailengine.inbound.bounces import BouncedRecipient, BounceReport, parse_bounce
from mailengine.inbound.complaints import parse_complaint
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.verp_lookup import VerpKey
from mailengine.store.api_queries import record_tracking_event
from mailengine.store.inbound_store import (
    SentMessage,
    mark_send_bounced,
    record_bounce,
    safe_text,
    sent_message,
    sent_to,
)
from mailengine.store.privacy import unsubscribe
from mailengine.store.suppressions import suppress

_NOT_FAILURES = ("delayed", "relayed", "delivered", "expanded")
_MAX_NAMED = 3


@dataclass
class ReportOutcome:
    """What acting on a report did; `unproven` says why (part of) it was not acted on."""

    notes: list[str] = field(default_factory=list)
    unproven: str | None = None


def act_on_bounce(
    session: Session, inbound_id: int, msg: InboundMessage, verp: VerpKey, now: datetime
) -> ReportOutcome:
    """Count and, when hard, suppress each failed recipient the report proves is ours."""
    report = parse_bounce(msg, verp)
    failures = [r for r in report.recipients if (r.action or "").lower() not in _NOT_FAILURES]
    by_verp = sent_message(session, report.send_id) if report.send_id is not None else None
    outcome = ReportOutcome()
    strangers: list[str] = []
    for failure in failures:
        named = usable_address(failure.recipient) or usable_address(failure.original_recipient)
        target = _proven_send(session, by_verp, report, named, single=len(failures) == 1)
        if target is None:
            strangers.append(named or "an unreadable address")
            continue
        _count_bounce(session, inbound_id, failure, target, now)
        outcome.notes.append(f"{_kind(failure)} bounce ({failure.reason})")
    if strangers:
        outcome.unproven = _why_unproven("delivery report", strangers, report.original_message_id)
    elif not failures and by_verp is None:
        outcome.unproven = "delivery report naming no failed recipient: nothing done"
    return outcome


def act_on_complaint(
    session: Session, inbound_id: int, msg: InboundMessage, verp: VerpKey, now: datetime
) -> ReportOutcome:
    """Suppress (or, for an opt-out, unsubscribe) the recipient of the send complained about."""
    report = parse_complaint(msg, verp)
    if report is None:
        return ReportOutcome(unproven="complaint without a readable report: nothing done")
    by_verp = sent_message(session, report.send_id) if report.send_id is not None else None
    named = [found for found in map(usable_address, report.recipients) if found is not None]
    targets: list[SentMessage] = []
    strangers: list[str] = []
    if by_verp is not None:
        targets.append(by_verp)
    else:
        for name in dict.fromkeys(named):
            found = sent_to(session, report.original_message_id, name)
            if found is None:
                strangers.append(name)
            else:
                targets.append(found)
    opt_out = report.feedback_type == "opt-out"
    for target in targets:
        if opt_out:
            how = f"complaint:{report.source}"
            unsubscribe(session, address_hash(target.recipient), how, None, now)
            continue
        new = record_bounce(
            session,
            inbound_id=inbound_id,
            address=target.recipient,
            kind="complaint",
            now=now,
            outbox_id=target.id,
            reason=report.feedback_type[:40],
        )
        detail = safe_text(f"{report.source} {report.feedback_type}")
        suppress(session, target.recipient, "complaint", now, detail)
        if new:
            record_tracking_event(session, target.id, "complaint", now)
    what = "unsubscribe" if opt_out else "complaint"
    outcome = ReportOutcome(notes=[f"{what} for {len(targets)} address(es)"])
    if strangers or not targets:
        outcome.unproven = _why_unproven(
            f"{what} report", strangers or ["nobody readable"], report.original_message_id
        )
    return outcome


def usable_address(value: str | None) -> str | None:
    """The stored form of an address in a report, or None when it is not a usable one."""
    if not value:
        return None
    try:
        return normalize_email(value)
    except InvalidAddressError:
        return None


def _proven_send(
    session: Session,
    by_verp: SentMessage | None,
    report: BounceReport,
    named: str | None,
    *,
    single: bool,
) -> SentMessage | None:
    """The send a failure is about, when the report proves it; else None.

    Back at a send's VERP address, the one failure of a report is about that send even when
    the address it names was rewritten on the way (a forward, an alias); with several, only
    the one naming the send's recipient is.
    """
    if by_verp is not None:
        return by_verp if single or named == by_verp.recipient else None
    if named is None:
        return None
    return sent_to(session, report.original_message_id, named)


def _count_bounce(
    session: Session,
    inbound_id: int,
    failure: BouncedRecipient,
    target: SentMessage,
    now: datetime,
) -> None:
    new = record_bounce(
        session,
        inbound_id=inbound_id,
        address=target.recipient,
        kind=_kind(failure),
        now=now,
        outbox_id=target.id,
        status=failure.status,
        reason=failure.reason,
        diagnostic=failure.diagnostic,
    )
    if not failure.hard:
        return
    detail = safe_text(" ".join(f"{failure.status or ''} {failure.diagnostic}".split()))
    suppress(session, target.recipient, "hard-bounce", now, detail)
    mark_send_bounced(session, target.id, f"bounced: {detail}", now)
    if new:
        record_tracking_event(session, target.id, "bounce", now)


def _kind(failure: BouncedRecipient) -> str:
    return "hard" if failure.hard else "soft"


def _why_unproven(what: str, strangers: list[str], message_id: str | None) -> str:
    shown = ", ".join(safe_text(name)[:80] for name in strangers[:_MAX_NAMED])
    more = f" and {len(strangers) - _MAX_NAMED} more" if len(strangers) > _MAX_NAMED else ""
    proof = (
        f"Message-ID {safe_text(message_id)[:100]} is not one we sent to that address"
        if message_id
        else "it names no Message-ID of ours"
    )
    return (
        f"{what} not acted on for {shown}{more}: it did not come back to a signed bounce "
        f"address of ours, and {proof}"
    )
