"""Load poll files (`polls/NAME.yaml`) and questionnaire files (`questionnaires/NAME.yaml`),
every mistake reported with its `file:line:col`.

```yaml
# polls/delivery_nps.yaml
name: delivery_nps
question: How likely are you to recommend us to a friend?
scale: {from: 0, to: 10, low: Not at all likely, high: Extremely likely}
ticket: {lte: 6}                 # an answer of 6 or less opens a ticket with the comment

# questionnaires/after_delivery.yaml
name: after_delivery
title: Two minutes on your order
questions:
  - {name: fit, question: How did the sizes fit?, choices: {fits: Just right, small: Too small}}
  - {name: delivery, question: How was the delivery?, stars: 5}
  - {name: remarks, question: Anything else?, text: true}
```
A question has exactly one of `scale` (2 to 11 whole numbers), `stars` (2 to 10), `choices`
(2 to 11 answers, name: words) or `text: true` (questionnaires only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeGuard

from mailengine.polls.model import Answer, Poll, Question, Questionnaire
from mailengine.workflows.problems import Problem, ProblemList, ProblemLog, WorkflowError
from mailengine.workflows.source_files import YAML_SUFFIXES, load_named_files
from mailengine.yamlsource import PathKey, YamlDocument

NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")  # `polls.delivery_nps` in templates and audiences
ANSWER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
KINDS = ("scale", "stars", "choices", "text")
MOST_ANSWERS = 11
_QUESTION_TEXT_LENGTH = 300


class PollError(WorkflowError):
    """One or more poll or questionnaire files are wrong; `problems` lists every mistake."""


@dataclass
class PollSet(ProblemList):
    """The polls and questionnaires that loaded, and every problem found."""

    polls: dict[str, Poll] = field(default_factory=dict)
    questionnaires: dict[str, Questionnaire] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    error_type: ClassVar[type[WorkflowError]] = PollError


def load_polls(
    polls: Iterable[Path], questionnaires: Iterable[Path] = (), display_base: Path | None = None
) -> PollSet:
    """Load poll and questionnaire files (a folder stands for its YAML files; a folder that is
    not there holds none). One broken file never stops the others."""

    def present(paths: Iterable[Path]) -> list[Path]:
        return [path for path in paths if path.exists() or path.suffix in YAML_SUFFIXES]

    found_polls, problems = load_named_files(present(polls), display_base, parse_poll, "poll")
    found_forms, more = load_named_files(
        present(questionnaires), display_base, parse_questionnaire, "questionnaire"
    )
    return PollSet(found_polls, found_forms, problems + more)


def parse_poll(document: YamlDocument) -> tuple[Poll | None, list[Problem]]:
    log = ProblemLog(document)
    data = document.data
    if not isinstance(data, dict):
        log.at((), "a poll file is a mapping with name, question and one of scale, stars, choices")
        return None, log.problems
    log.unknown_keys(data, ("name", "question", *KINDS[:3], "ticket"), (), "a poll")
    name = _name(data, (), log)
    question = _question(data, (), log, free_text=False, name=name or "")
    ticket = _ticket(data.get("ticket"), log) if "ticket" in data else None
    if log.problems or name is None or question is None:
        return None, log.problems
    if ticket is not None and question.kind not in ("scale", "stars"):
        log.at(("ticket",), "ticket: {lte: N} needs a question with a scale or stars")
        return None, log.problems
    return Poll(name, question, ticket), log.problems


def parse_questionnaire(document: YamlDocument) -> tuple[Questionnaire | None, list[Problem]]:
    log = ProblemLog(document)
    data = document.data
    if not isinstance(data, dict):
        log.at((), "a questionnaire file is a mapping with name, title and questions")
        return None, log.problems
    log.unknown_keys(data, ("name", "title", "intro", "questions"), (), "a questionnaire")
    name = _name(data, (), log)
    title, intro = _text(data, ("title",), log), data.get("intro", "")
    if not isinstance(intro, str):
        log.at(("intro",), f"expected text, got {intro!r}")
    items = data.get("questions")
    questions: list[Question] = []
    if not isinstance(items, list) or not items or len(items) > 30:
        log.at(("questions",), "questions: a list of 1 to 30 questions")
        items = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        at: PathKey = ("questions", index)
        if not isinstance(item, dict):
            log.at(at, "a question is a mapping: {name: fit, question: ..., choices: {...}}")
            continue
        log.unknown_keys(item, ("name", "question", *KINDS), at, "a question")
        question_name = _name(item, at, log)
        question = _question(item, at, log, free_text=True, name=question_name or "")
        if question_name in seen:
            log.at((*at, "name"), f"the question name '{question_name}' is used twice")
        elif question is not None and question_name is not None:
            seen.add(question_name)
            questions.append(question)
    if log.problems or name is None or title is None:
        return None, log.problems
    return Questionnaire(name, title, tuple(questions), str(intro)), log.problems


def _name(data: dict[str, Any], at: PathKey, log: ProblemLog) -> str | None:
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        log.at(
            (*at, "name"),
            f"a name is lower-case letters, digits and '_' (e.g. delivery_nps), got {name!r}",
        )
        return None
    return name


def _text(data: dict[str, Any], at: PathKey, log: ProblemLog) -> str | None:
    value = data.get(str(at[-1]))
    if not isinstance(value, str) or not value.strip() or len(value) > _QUESTION_TEXT_LENGTH:
        log.at(at, f"expected text of 1 to {_QUESTION_TEXT_LENGTH} characters, got {value!r}")
        return None
    return value.strip()


def _question(
    data: dict[str, Any], at: PathKey, log: ProblemLog, *, free_text: bool, name: str
) -> Question | None:
    text = _text(data, (*at, "question"), log)
    kinds = [key for key in KINDS if key in data and (free_text or key != "text")]
    if len(kinds) != 1:
        offered = ", ".join(KINDS if free_text else KINDS[:3])
        log.at(at or ("question",), f"a question has exactly one of {offered}")
        return None
    kind, where = kinds[0], (*at, kinds[0])
    value = data[kind]
    if text is None:
        return None
    if kind == "text":
        if value is not True:
            log.at(where, "write text: true for a free-text answer")
            return None
        return Question(name, text, "text")
    if kind == "choices":
        return _choices(name, text, value, where, log)
    if kind == "stars":
        if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 10:
            log.at(where, f"stars: a whole number of stars from 2 to 10, got {value!r}")
            return None
        answers = tuple(Answer(str(n), f"{n} ★", n) for n in range(1, value + 1))
        return Question(name, text, "stars", answers)
    return _scale(name, text, value, where, log)


def _scale(name: str, text: str, value: Any, at: PathKey, log: ProblemLog) -> Question | None:
    if not isinstance(value, dict):
        log.at(at, "scale: {from: 0, to: 10} (optionally low: and high: words)")
        return None
    log.unknown_keys(value, ("from", "to", "low", "high"), at, "a scale")
    low, high = value.get("from"), value.get("to")
    if not _whole(low) or not _whole(high) or not 2 <= high - low + 1 <= MOST_ANSWERS or low < 0:
        log.at(at, f"a scale runs over 2 to {MOST_ANSWERS} whole numbers from 0 up, e.g. 0 to 10")
        return None
    words = [value.get(key, "") for key in ("low", "high")]
    if not all(isinstance(word, str) for word in words):
        log.at(at, "low: and high: are the words under the scale's ends")
        return None
    answers = tuple(Answer(str(n), str(n), n) for n in range(low, high + 1))
    return Question(name, text, "scale", answers, words[0], words[1])


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _choices(name: str, text: str, value: Any, at: PathKey, log: ProblemLog) -> Question | None:
    if not isinstance(value, dict) or not 2 <= len(value) <= MOST_ANSWERS:
        log.at(at, f"choices: 2 to {MOST_ANSWERS} answers as name: words, e.g. {{yes: Yes}}")
        return None
    answers = []
    for key, label in value.items():
        if not ANSWER_NAME.match(str(key)) or not isinstance(label, str) or not label.strip():
            log.at((*at, key), f"an answer is name: words (name in lower case), got {key!r}")
            return None
        answers.append(Answer(str(key), label.strip()))
    return Question(name, text, "choice", tuple(answers))


def _ticket(value: Any, log: ProblemLog) -> int | None:
    if not isinstance(value, dict) or list(value) != ["lte"] or not _whole(value["lte"]):
        log.at(
            ("ticket",),
            f"write ticket: {{lte: 6}} (the highest score that opens one), got {value!r}",
        )
        return None
    return int(value["lte"])
