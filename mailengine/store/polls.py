"""Storing poll and questionnaire answers, and reading them back per customer.

Recording an answer writes three things in the caller's transaction: the answer of that mail
(a second answer from the same mail replaces the first), the customer's latest answer to the
poll, and a `poll.answered` event the engine hands to workflows (a trigger, an exit). Nothing
here touches consent or suppression: answering a poll is not a subscription.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, select
from sqlmodel import Session

from mailengine.polls.nps import NpsReport, Period, nps_report
from mailengine.store.desk import Author, add_entry, entry_by_key
from mailengine.store.events import record_event
from mailengine.store.inbound_store import insert_for, safe_text
from mailengine.store.models import Order, OutboxMessage
from mailengine.store.poll_models import (
    COMMENT_LENGTH,
    PollAnswer,
    PollLatest,
    QuestionnaireAnswer,
)
from mailengine.store.records import order_about
from mailengine.store.tickets import open_ticket

POLL_ANSWERED = "poll.answered"
POLL_AUTHOR = Author(None, "poll", via="poll")  # who writes a poll ticket's note

answer_table = PollAnswer.__table__  # type: ignore[attr-defined]
latest_table = PollLatest.__table__  # type: ignore[attr-defined]
questionnaire_table = QuestionnaireAnswer.__table__  # type: ignore[attr-defined]
outbox_table = OutboxMessage.__table__  # type: ignore[attr-defined]
order_table = Order.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class GivenAnswer:
    """An answer as a customer sent it: the answer's name, its score on a scale (None for a
    labelled choice) and the optional comment."""

    answer: str
    score: int | None = None
    comment: str = ""


@dataclass(frozen=True)
class LatestAnswer:
    poll: str
    answer: str
    score: int | None
    comment: str
    answered_at: datetime


def _comment(text: str) -> str:
    return safe_text(text.strip())[:COMMENT_LENGTH]


def record_poll_answer(
    session: Session,
    customer_id: int,
    poll: str,
    given: GivenAnswer,
    now: datetime,
    *,
    outbox_id: int | None = None,
) -> int:
    """Store the answer (replacing this mail's earlier one) and the customer's latest answer,
    and record `poll.answered`; returns the answer's id."""
    a = answer_table.c
    outbox_id, order_ref = _mail_of(session, customer_id, outbox_id)
    same_mail = a.outbox_id == outbox_id if outbox_id is not None else a.outbox_id.is_(None)
    session.execute(
        delete(answer_table).where(a.customer_id == customer_id, a.poll == poll, same_mail)
    )
    comment = _comment(given.comment)
    values = {"answer": given.answer, "score": given.score, "comment": comment, "answered_at": now}
    answer_id = session.execute(
        answer_table.insert()
        .values(
            customer_id=customer_id, poll=poll, outbox_id=outbox_id, order_ref=order_ref, **values
        )
        .returning(a.id)
    ).scalar_one()
    session.execute(
        insert_for(session)(latest_table)
        .values(customer_id=customer_id, poll=poll, **values)
        .on_conflict_do_update(index_elements=["customer_id", "poll"], set_=values)
    )
    data: dict[str, Any] = {"poll": poll, "answer": given.answer, "comment": comment}
    if given.score is not None:
        data["score"] = given.score
    if outbox_id is not None:
        data["outbox_id"] = outbox_id
    if order_ref is not None:  # a mail triggered by the answer is about that order, too
        data["order"] = order_ref
    record_event(session, customer_id, POLL_ANSWERED, data, now, now)
    return int(answer_id)


def _mail_of(
    session: Session, customer_id: int, outbox_id: int | None
) -> tuple[int | None, str | None]:
    """The mail an answer came from, if it is one of this customer's, and the order it asked
    about (its external id)."""
    if outbox_id is None:
        return None, None
    o = outbox_table.c
    row = session.execute(
        select(o.payload).where(o.id == outbox_id, o.customer_id == customer_id)
    ).one_or_none()
    if row is None:
        return None, None
    return outbox_id, order_about(row.payload or {})


@dataclass(frozen=True)
class ScoredAnswer:
    """A scored answer of a poll, with the items of the order the mail asked about."""

    answered_at: datetime
    score: int
    items: list[dict[str, Any]] | None


def scored_answers(
    session: Session, poll: str, since: datetime, until: datetime
) -> Iterator[ScoredAnswer]:
    """Every scored answer to `poll` given in [since, until), oldest first, streamed."""
    a, o = answer_table.c, order_table.c
    statement = (
        select(a.answered_at, a.score, o["items"])
        .select_from(
            answer_table.outerjoin(
                order_table, and_(o.external_id == a.order_ref, o.customer_id == a.customer_id)
            )
        )
        .where(a.poll == poll, a.score.is_not(None), a.answered_at >= since, a.answered_at < until)
        .order_by(a.answered_at, a.id)
        .execution_options(yield_per=1000)
    )
    for row in session.execute(statement):
        yield ScoredAnswer(row.answered_at, int(row.score), row.items)


def latest_answers(session: Session, customer_id: int) -> dict[str, LatestAnswer]:
    """The customer's latest answer to each poll they answered, by poll name."""
    c = latest_table.c
    rows = session.execute(
        select(c.poll, c.answer, c.score, c.comment, c.answered_at).where(
            c.customer_id == customer_id
        )
    )
    return {row.poll: LatestAnswer(**row._mapping) for row in rows}


def latest_answers_of(
    session: Session, customer_ids: Iterable[int]
) -> dict[int, dict[str, LatestAnswer]]:
    """`latest_answers` for many customers in one query (those without answers left out)."""
    wanted = sorted(set(customer_ids))
    found: dict[int, dict[str, LatestAnswer]] = {}
    c = latest_table.c
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(c.customer_id, c.poll, c.answer, c.score, c.comment, c.answered_at).where(
                c.customer_id.in_(wanted[start : start + 500])
            )
        )
        for row in rows:
            answer = LatestAnswer(row.poll, row.answer, row.score, row.comment, row.answered_at)
            found.setdefault(row.customer_id, {})[row.poll] = answer
    return found


def record_questionnaire_answers(
    session: Session,
    customer_id: int,
    questionnaire: str,
    answers: Mapping[str, GivenAnswer],
    now: datetime,
    *,
    outbox_id: int | None = None,
) -> None:
    """Store one answer per question (replacing earlier ones); questions left empty are
    left as they were."""
    for question, given in answers.items():
        values = {
            "answer": _comment(given.answer),
            "score": given.score,
            "outbox_id": outbox_id,
            "answered_at": now,
        }
        session.execute(
            insert_for(session)(questionnaire_table)
            .values(
                customer_id=customer_id, questionnaire=questionnaire, question=question, **values
            )
            .on_conflict_do_update(
                index_elements=["customer_id", "questionnaire", "question"], set_=values
            )
        )


def questionnaire_answers(
    session: Session, customer_id: int, questionnaire: str
) -> dict[str, GivenAnswer]:
    """The customer's answers to a questionnaire, by question (to show them again)."""
    q = questionnaire_table.c
    rows = session.execute(
        select(q.question, q.answer, q.score).where(
            q.customer_id == customer_id, q.questionnaire == questionnaire
        )
    )
    return {row.question: GivenAnswer(row.answer, row.score) for row in rows}


def open_poll_ticket(
    session: Session,
    customer_id: int,
    address: str,
    poll: str,
    given: GivenAnswer,
    now: datetime,
    *,
    outbox_id: int | None = None,
) -> int | None:
    """Open a ticket for a person to follow up a low answer, with the comment as a note;
    once per customer, poll and mail (answering again adds nothing). Returns its id, or
    None when this answer's ticket was opened before."""
    key = f"poll:{poll}:{customer_id}:{outbox_id or 0}"
    if entry_by_key(session, key) is not None:
        return None
    comment = _comment(given.comment)
    said = f": {comment[:80]}" if comment else " (no comment)"
    ticket = open_ticket(session, customer_id, address, f"{poll} {given.answer}{said}", now)
    words = comment or "They left no comment."
    body = f"Answered {given.answer} to the poll {poll}.\n\n{words}"
    add_entry(session, ticket.id, "note", POLL_AUTHOR, now, body=body, request_key=key)
    return ticket.id


def poll_report(
    session: Session, poll: str, since: datetime, until: datetime, period: Period, zone: ZoneInfo
) -> NpsReport:
    """The NPS report of `poll`'s scored answers given in [since, until) (see `polls.nps`)."""
    answers = scored_answers(session, poll, since, until)
    rows = ((found.answered_at, found.score, found.items) for found in answers)
    return nps_report(poll, rows, since, until, period, zone)
