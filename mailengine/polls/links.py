"""The signed links that answer a poll or open a questionnaire, as templates see them.

A poll link is `/poll/<poll>/<answer>/<mail>/<token>`: the token (see `tokens`) names the
customer's address and is scoped to that poll, answer and mail (the outbox id; 0 when the
mail is not stored, as in a preview), so it answers nothing else. A questionnaire link is
`/questionnaire/<name>/<mail>/<token>`. Links are signed only for the polls a template
reads: `polls.delivery_nps` makes the block of that poll, with one link per answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailengine.polls.model import Poll, Questionnaire
from mailengine.tokens import make_token


def poll_scope(poll: str, answer: str, mail: int) -> str:
    return f"{poll}/{answer}/{mail}"


def questionnaire_scope(name: str, mail: int) -> str:
    return f"{name}/{mail}"


@dataclass(frozen=True)
class LinkSigner:
    """Signs the links of one recipient in one mail."""

    secret: bytes
    public_url: str
    address_hash: str
    issued: datetime
    mail: int = 0

    def poll_url(self, poll: str, answer: str) -> str:
        scope = poll_scope(poll, answer, self.mail)
        token = make_token(self.secret, "poll", self.address_hash, self.issued, scope)
        return f"{self.public_url}/poll/{poll}/{answer}/{self.mail}/{token}"

    def questionnaire_url(self, name: str) -> str:
        scope = questionnaire_scope(name, self.mail)
        token = make_token(self.secret, "questionnaire", self.address_hash, self.issued, scope)
        return f"{self.public_url}/questionnaire/{name}/{self.mail}/{token}"


def poll_block(poll: Poll, url_of: Any) -> dict[str, Any]:
    """What the poll partial renders: the question, the ends' words, one link per answer."""
    question = poll.question
    return {
        "name": poll.name,
        "question": question.text,
        "kind": question.kind,
        "low": question.low,
        "high": question.high,
        "answers": [
            {"value": answer.value, "label": answer.label, "url": url_of(poll.name, answer.value)}
            for answer in question.answers
        ],
    }


class PollBlocks(Mapping[str, dict[str, Any]]):
    """`polls.NAME` in a template: the block of poll NAME, its links signed when first read."""

    def __init__(self, polls: Mapping[str, Poll], signer: LinkSigner) -> None:
        self._polls = polls
        self._signer = signer
        self._made: dict[str, dict[str, Any]] = {}

    def __getitem__(self, name: str) -> dict[str, Any]:
        if name not in self._made:
            self._made[name] = poll_block(self._polls[name], self._signer.poll_url)
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._polls)

    def __len__(self) -> int:
        return len(self._polls)


class QuestionnaireLinks(Mapping[str, dict[str, str]]):
    """`questionnaires.NAME` in a template: its title and signed `url`."""

    def __init__(self, questionnaires: Mapping[str, Questionnaire], signer: LinkSigner) -> None:
        self._forms = questionnaires
        self._signer = signer

    def __getitem__(self, name: str) -> dict[str, str]:
        form = self._forms[name]
        return {"name": name, "title": form.title, "url": self._signer.questionnaire_url(name)}

    def __iter__(self) -> Iterator[str]:
        return iter(self._forms)

    def __len__(self) -> int:
        return len(self._forms)
