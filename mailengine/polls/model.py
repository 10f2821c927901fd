"""What a poll or a questionnaire asks: questions on a scale, with stars, with labelled
choices, or in free text; plain frozen data, read from YAML by `polls.loader`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

QuestionKind = Literal["scale", "stars", "choice", "text"]
# NPS: 9 and 10 promote, 7 and 8 are passive, 0 to 6 detract.
PROMOTER_FROM = 9
DETRACTOR_UP_TO = 6


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer a question offers: its name in links and storage, the words shown, and
    its score on a scale (None for a labelled choice)."""

    value: str
    label: str
    score: int | None = None


@dataclass(frozen=True, slots=True)
class Question:
    name: str
    text: str
    kind: QuestionKind
    answers: tuple[Answer, ...] = ()  # none for free text
    low: str = ""  # words under the scale's first answer ("Not at all likely")
    high: str = ""  # and under its last

    def answer(self, value: str) -> Answer | None:
        return next((answer for answer in self.answers if answer.value == value), None)


@dataclass(frozen=True, slots=True)
class Poll:
    """One question asked in a mail, answered by following one of its links.

    `ticket_at_most`: an answer scoring this or less opens a support ticket with the comment,
    for a person to follow up (NPS detractors: 6)."""

    name: str
    question: Question
    ticket_at_most: int | None = None


@dataclass(frozen=True, slots=True)
class Questionnaire:
    """Several questions on one page, reached from a mail by a signed link."""

    name: str
    title: str
    questions: tuple[Question, ...]
    intro: str = ""
