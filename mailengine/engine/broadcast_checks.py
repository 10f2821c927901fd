"""What a broadcast must pass before it is scheduled, from a file (`broadcast schedule`) or
from the API (`POST /v1/broadcasts`): the checks `validate` makes (each variant's template
exists, compiles and uses only what its mail has; its subject and preheader) and renders for
a sample of its audience and the built-in sample customers. Both callers ask here, so that
neither lets through what the other refuses (`broadcasts.timing` says whether its send time
has passed). The web may not import the engine: the app is handed `check_for_schedule`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mailengine.broadcasts.model import Broadcast
from mailengine.broadcasts.validation import check_broadcast
from mailengine.config import Settings
from mailengine.engine.broadcast_trials import VariantTrial, try_broadcast
from mailengine.engine.render_trials import RenderTrials
from mailengine.render.library import TemplateLibrary
from mailengine.store.database import Database
from mailengine.workflows.problems import Problem, unique_problems


@dataclass(frozen=True)
class BroadcastCheck:
    """What stops a broadcast: `problems` in its file or templates, and the variants that
    failed to render for some of the customers tried (`failures`)."""

    problems: list[Problem] = field(default_factory=list)
    failures: list[VariantTrial] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failures

    def all_problems(self) -> list[Problem]:
        """Every reason as a problem; a failed render is placed at the variant's template
        (`path:line:col`) and names the first customers it failed for."""
        found = list(self.problems)
        for trial in self.failures:
            variant = trial.variant
            first = "; ".join(
                f"{failure.customer}: "
                + (f"{failure.location}: " if failure.location else "")
                + failure.message
                for failure in trial.first_failures()
            )
            found.append(
                Problem(
                    variant.template_at or variant.location,
                    f"{trial.label} fails for {trial.failed} of {trial.tried} customers tried"
                    f"{' (tried no more)' if trial.given_up else ''}; first: {first}",
                )
            )
        return found


def check_for_schedule(
    settings: Settings, database: Database | None, broadcast: Broadcast, now: datetime
) -> BroadcastCheck:
    """Check the broadcast's templates, subjects and preheaders; when they are fine, render
    every variant for a sample of its audience (from `database`) and the sample customers."""
    library = TemplateLibrary(settings.paths.templates, shop_locale=settings.locale)
    problems = unique_problems(check_broadcast(broadcast, library, {}))
    if problems:
        return BroadcastCheck(problems)
    trials = RenderTrials(settings, library, now, database)
    failed = [trial for trial in try_broadcast(trials, broadcast) if trial.failures]
    return BroadcastCheck(failures=failed)
