"""How `validate` shows a mail that failed to render for some of the customers it tried."""

from __future__ import annotations

from rich.console import Console

from mailengine.engine.render_trials import Trial
from mailengine.errors import SourceLocation


def print_failures(where: SourceLocation, label: str, trial: Trial, out: Console) -> None:
    """`path:line:col: LABEL fails for N of M customers tried; first:` and the first ones."""
    out.print(
        f"{where}: {label} fails for {trial.failed} of {trial.tried} customers tried"
        f"{' (tried no more)' if trial.given_up else ''}; first:",
        markup=False,
    )
    for failure in trial.first_failures():
        shown = f"{failure.location}: " if failure.location else ""
        out.print(f"  {failure.customer}: {shown}{failure.message}", markup=False)
