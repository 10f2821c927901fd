"""A customer's latest poll answers as templates see them: `customer.polls`, and the poll
blocks and questionnaire links a mail offers: `polls`, `questionnaires`.

`customer.polls` maps each poll the customer answered to their latest answer: `answer` (its
name), `score` (a number on a scale or in stars; not there for a labelled choice),
`comment` and `answered_at`. A poll not answered is not in it: test it
(`{% if customer.polls.delivery_nps %}`).

`polls.NAME` is the block the poll partial renders (question, ends' words, `answers` each
with `label` and signed `url`), `questionnaires.NAME` a questionnaire's `title` and `url`;
the composer fills both from the poll files, signing links only for what a template reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NotRequired, TypedDict

from mailengine.clock import ensure_aware


@dataclass(frozen=True, slots=True)
class PollAnswerData:
    answer: str
    answered_at: datetime
    score: int | None = None
    comment: str = ""


class PollAnswerContext(TypedDict):
    answer: str
    comment: str
    answered_at: datetime
    score: NotRequired[int]


class PollAnswerLinkContext(TypedDict):
    value: str
    label: str
    url: str


class PollBlockContext(TypedDict):
    name: str
    question: str
    kind: str
    low: str
    high: str
    answers: list[PollAnswerLinkContext]


class QuestionnaireLinkContext(TypedDict):
    name: str
    title: str
    url: str


def polls_context(answers: Mapping[str, PollAnswerData]) -> dict[str, PollAnswerContext]:
    found: dict[str, PollAnswerContext] = {}
    for poll, data in answers.items():
        entry: PollAnswerContext = {
            "answer": data.answer,
            "comment": data.comment,
            "answered_at": ensure_aware(data.answered_at),
        }
        if data.score is not None:
            entry["score"] = data.score
        found[poll] = entry
    return found
