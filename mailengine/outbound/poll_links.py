"""The poll blocks and questionnaire links a composer puts in every context.

The poll and questionnaire files are read once, when a template first asks for one; a file
that is wrong leaves its poll out (a template naming it then fails to render, naming it) and
`mailengine check` reports the file. Links are signed only for the polls a template reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailengine.config import Settings
from mailengine.polls.links import LinkSigner, PollBlocks, QuestionnaireLinks
from mailengine.polls.loader import PollSet, load_polls


class PollLinks:
    def __init__(self, settings: Settings, secret: bytes, public_url: str) -> None:
        self._paths = (settings.paths.polls, settings.paths.questionnaires)
        self._secret = secret
        self._public_url = public_url
        self._loaded: PollSet | None = None

    @property
    def loaded(self) -> PollSet:
        if self._loaded is None:
            polls, questionnaires = self._paths
            self._loaded = load_polls([polls], [questionnaires])
        return self._loaded

    def contexts(self, address_hash: str, now: datetime, mail: int) -> dict[str, Any]:
        """`polls` and `questionnaires` for one recipient of one mail."""
        signer = LinkSigner(self._secret, self._public_url, address_hash, now, mail)
        loaded = self.loaded
        return {
            "polls": PollBlocks(loaded.polls, signer),
            "questionnaires": QuestionnaireLinks(loaded.questionnaires, signer),
        }
