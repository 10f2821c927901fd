"""What every request handler needs: settings, database, clock, key, and the app's options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from fastapi import Request

from mailengine.clock import Clock
from mailengine.config import Settings
from mailengine.store.api_queries import ConfirmationMail
from mailengine.store.database import Database


@dataclass(frozen=True)
class PreferenceTopic:
    """A kind of mail as customers see it (one workflow): marketing they may keep or stop, or
    `service` mail (order confirmations) that reaches them whatever they choose."""

    name: str
    label: str
    description: str = ""
    service: bool = False


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

    @property
    def public_url(self) -> str:
        return self.settings.http.public_url.rstrip("/")

    @property
    def choices(self) -> tuple[PreferenceTopic, ...]:
        """The kinds of marketing mail the preferences page offers to keep or stop."""
        return tuple(topic for topic in self.topics if not topic.service)

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
