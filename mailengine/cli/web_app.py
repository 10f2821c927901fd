"""The HTTP app as `mailengine run` and `mailengine studio` serve it: the API, the pages for
customers and, when it is on, the studio."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from fastapi import FastAPI

from mailengine.broadcasts.loader import load_broadcasts
from mailengine.broadcasts.model import Broadcast
from mailengine.clock import Clock
from mailengine.config import Settings
from mailengine.engine.broadcast_checks import check_for_schedule
from mailengine.secret import secret_key
from mailengine.store.database import Database
from mailengine.studio import StudioContext, check_bind, mount_studio, studio_enabled
from mailengine.studio.enabling import HOW_TO_TURN_ON
from mailengine.web.app import create_app, topics_from_broadcasts, topics_from_workflows
from mailengine.web.context import PreferenceTopic
from mailengine.workflows.loader import load_workflows
from mailengine.workflows.model import Workflow
from mailengine.workflows.problems import Problem


@dataclass(frozen=True)
class WebApp:
    app: FastAPI
    studio_on: bool
    settings: Settings

    @property
    def studio_url(self) -> str:
        return f"{self.settings.http.public_url.rstrip('/')}/studio/"

    def studio_line(self) -> str:
        if self.studio_on:
            return f"studio on {self.studio_url} (accounts: `mailengine user list`)"
        return f"studio off: {HOW_TO_TURN_ON}"


def build_web_app(
    settings: Settings,
    database: Database,
    clock: Clock,
    *,
    workflows: Iterable[Workflow] | None = None,
    scheduler_running: Callable[[], bool] | None = None,
    sends_mail: bool = True,
    on_stored: Callable[[], None] | None = None,
) -> WebApp:
    """The app, with the studio mounted when it is on; a studio that would serve log-ins in
    the clear on a reachable address stops start-up (`StudioBindError`). `workflows` name the
    kinds of mail on the preferences pages (else: the good files of the workflows folder),
    beside the topics of the broadcast files."""
    if workflows is None:
        workflows = load_workflows([settings.paths.workflows]).workflows.values()
    secret = secret_key(settings)

    def check(broadcast: Broadcast, now: datetime) -> list[Problem]:
        return check_for_schedule(settings, database, broadcast, now).all_problems()

    app = create_app(
        settings,
        database,
        api_key_hashes=settings.http.api_keys,
        scheduler_running=scheduler_running,
        double_opt_in=settings.http.double_opt_in,
        topics=preference_topics(settings, workflows),
        clock=clock,
        secret=secret,
        broadcast_check=check,
        on_stored=on_stored,
    )
    studio_on = studio_enabled(settings, database)
    if studio_on:
        check_bind(settings)
        mount_studio(app, StudioContext(settings, database, clock, secret, sends_mail))
    return WebApp(app, studio_on, settings)


def worker_app(
    workflows: Sequence[Workflow],
    settings: Settings,
    database: Database,
    clock: Clock,
    scheduler_running: Callable[[], bool],
    on_stored: Callable[[], None],
) -> FastAPI:
    """The app as an HTTP worker process serves it (`http.workers`): as `mailengine run` builds
    it, with the `workflows` the engine runs."""
    return build_web_app(
        settings,
        database,
        clock,
        workflows=workflows,
        scheduler_running=scheduler_running,
        on_stored=on_stored,
    ).app


def preference_topics(settings: Settings, workflows: Iterable[Workflow]) -> list[PreferenceTopic]:
    """The workflows as kinds of mail, and the topics of the broadcast files that no workflow
    is named like."""
    topics = topics_from_workflows(workflows)
    named = {topic.name for topic in topics}
    broadcasts = load_broadcasts([settings.paths.broadcasts]).broadcasts.values()
    return topics + [item for item in topics_from_broadcasts(broadcasts) if item.name not in named]
