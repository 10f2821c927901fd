"""What every request handler needs: settings, database, clock, key, and the app's options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from fastapi import Request
from sqlmodel import Session

from mailengine.broadcasts.model import Broadcast
from mailengine.clock import Clock
from mailengine.config import Settings
from mailengine.polls.loader import PollSet
from mailengine.store.api_queries import ConfirmationMail
from mailengine.store.database import Database
from mailengine.web.intake import Intake
from mailengine.web.stored_broadcasts import StoredBroadcasts
from mailengine.workflows.problems import Problem

# What stops a broadcast from being scheduled (its templates, renders for sample customers):
# the engine's check, handed in by whoever builds the app (the web may not import the engine).
BroadcastCheck = Callable[[Broadcast, datetime], list[Problem]]


@dataclass(frozen=True)
class PreferenceTopic:
    """A kind of mail as customers see it (one workflow): marketing they may keep or stop, or
    `service` mail (order confirmations) that reaches them whatever they choose."""

    name: str
    label: str
    description: str = ""
    service: bool = False
    broadcast: bool = False  # a broadcasts' topic (newsletter, promotions), not a workflow


# How the usual broadcast topics read to customers; any other topic reads as its name.
TOPIC_WORDS: dict[str, tuple[str, str]] = {
    "newsletter": ("Newsletter", "News from the shop: new arrivals, stories and opening hours"),
    "promotions": ("Offers and sales", "Sales, discounts and personal codes"),
}


def broadcast_topic(name: str) -> PreferenceTopic:
    """A broadcasts' topic as customers see it."""
    label, description = TOPIC_WORDS.get(name, (name.replace("-", " ").capitalize(), ""))
    return PreferenceTopic(name, label, description, broadcast=True)


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    database: Database
    clock: Clock
    secret: bytes
    api_key_hashes: frozenset[str]
    topics: tuple[PreferenceTopic, ...]
    confirmation: ConfirmationMail | None  # set when double opt-in is on
    scheduler_running: Callable[[], bool] | None
    inbound_counts: Callable[[], Mapping[str, int]] | None
    broadcast_check: BroadcastCheck | None = None  # None: broadcasts are not taken
    stored_broadcasts: StoredBroadcasts = field(default_factory=StoredBroadcasts)
    asking: PollSet = field(default_factory=PollSet)  # the polls and questionnaires
    on_stored: Callable[[], None] | None = None  # events or orders were committed
    intake: Intake = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "intake", Intake(self.database, self.clock, self.on_stored))

    @property
    def public_url(self) -> str:
        return self.settings.http.public_url.rstrip("/")

    def choices(self, session: Session) -> tuple[PreferenceTopic, ...]:
        """The kinds of marketing mail the preferences page offers to keep or stop: the
        broadcasts' topics (of their files, and of the broadcasts stored, which the API may
        have brought), then the marketing workflows."""
        known = {topic.name for topic in self.topics}
        stored = sorted(self.stored_broadcasts.topics(session) - known)
        found = [topic for topic in self.topics if topic.broadcast]
        found += [broadcast_topic(name) for name in stored]
        found.sort(key=lambda topic: topic.name)
        return tuple(found) + tuple(
            topic for topic in self.topics if not topic.service and not topic.broadcast
        )

    @property
    def service_mail(self) -> tuple[PreferenceTopic, ...]:
        """The kinds of mail sent whatever the preferences (and an unsubscribe) say."""
        return tuple(topic for topic in self.topics if topic.service)


def web_context(request: Request) -> WebContext:
    return cast(WebContext, request.app.state.web)


def client_ip(request: Request) -> str | None:
    """The caller's address: the connection's peer, or, when that peer is one of
    http.trusted_proxies, the client the proxy names in X-Forwarded-For."""
    return request.client.host if request.client is not None else None
