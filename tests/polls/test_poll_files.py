"""Poll and questionnaire files: the shipped ones load, mistakes are named at file:line:col,
and a poll link's token answers only its own poll, answer and mail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailengine.addresses import address_hash
from mailengine.polls.links import LinkSigner, PollBlocks, poll_scope
from mailengine.polls.loader import load_polls
from mailengine.tokens import read_token
from tests.conftest import NOW

REPO = Path(__file__).resolve().parents[2]
SECRET = b"s" * 32


def test_the_shipped_poll_and_questionnaire_load() -> None:
    loaded = load_polls([REPO / "polls"], [REPO / "questionnaires"])
    assert loaded.problems == []
    nps = loaded.polls["delivery_nps"]
    assert [answer.score for answer in nps.question.answers] == list(range(11))
    assert nps.ticket_at_most == 6
    kinds = [question.kind for question in loaded.questionnaires["after_delivery"].questions]
    assert kinds == ["choice", "stars", "text"]


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("name: nps\nquestion: Q?\nscale: {from: 0, to: 11}\n", "3:1", "2 to 11 whole numbers"),
        ("name: nps\nquestion: Q?\nstars: 5\nchoices: {a: A, b: B}\n", "2:1", "exactly one of"),
        ("name: Nps\nquestion: Q?\nstars: 5\n", "1:1", "lower-case"),
        ("name: nps\nquestion: Q?\nchoices: {a: A}\n", "3:1", "2 to 11 answers"),
        ("name: nps\nquestion: Q?\nchoices: {a: A, b: B}\nticket: {lte: 6}\n", "4:1", "scale"),
        ("name: nps\nquestion: Q?\nstars: 5\ntickt: {lte: 1}\n", "4:1", "did you mean 'ticket'"),
        ("name: nps\nquestion: Q?\ntext: true\n", "3:1", "unknown key 'text'"),
    ],
)
def test_a_wrong_poll_file_is_named_at_its_place(
    tmp_path: Path, text: str, where: str, words: str
) -> None:
    (tmp_path / "nps.yaml").write_text(text)
    loaded = load_polls([tmp_path])
    assert loaded.polls == {}
    assert any(
        str(problem).startswith(f"{tmp_path}/nps.yaml:{where}:") and words in problem.message
        for problem in loaded.problems
    ), [str(problem) for problem in loaded.problems]


def test_a_wrong_question_of_a_questionnaire_is_named_at_its_place(tmp_path: Path) -> None:
    (tmp_path / "q.yaml").write_text(
        "name: q\ntitle: T\nquestions:\n  - {name: a, question: A, text: true}\n"
        "  - {name: b, question: B, stars: 1}\n  - {name: a, question: C, text: true}\n"
    )
    loaded = load_polls([], [tmp_path])
    assert [str(problem) for problem in loaded.problems] == [
        f"{tmp_path}/q.yaml:5:28: stars: a whole number of stars from 2 to 10, got 1",
        f"{tmp_path}/q.yaml:6:6: the question name 'a' is used twice",
    ]


def test_a_poll_link_answers_only_its_own_poll_answer_and_mail() -> None:
    loaded = load_polls([REPO / "polls"])
    digest = address_hash("ada@example.com")
    blocks = PollBlocks(loaded.polls, LinkSigner(SECRET, "https://x.example", digest, NOW, 42))
    links = [answer["url"] for answer in blocks["delivery_nps"]["answers"]]
    assert len(links) == 11 and len(set(links)) == 11
    poll, answer, mail, token = links[7].rsplit("/", 4)[1:]
    assert (poll, answer, mail) == ("delivery_nps", "7", "42")
    week = timedelta(days=7)

    def reads(scope: str) -> str | None:
        return read_token(SECRET, "poll", token, NOW, week, scope)

    assert reads(poll_scope("delivery_nps", "7", 42)) == digest
    assert reads(poll_scope("delivery_nps", "10", 42)) is None
    assert reads(poll_scope("delivery_nps", "7", 43)) is None
    assert reads(poll_scope("other", "7", 42)) is None
    assert read_token(SECRET, "unsubscribe", token, NOW, week) is None
