"""The broadcasts' part of `mailengine validate`: which paths are broadcast files, and the
render trials of their variants."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from mailengine.broadcasts.model import Broadcast
from mailengine.cli.trial_output import print_failures
from mailengine.engine.broadcast_trials import try_broadcast
from mailengine.engine.render_trials import RenderTrials
from mailengine.render.library import TemplateLibrary
from mailengine.workflows.validation import source_files


def split_targets(
    paths: list[Path], workflows: Path, broadcasts: Path | None
) -> tuple[list[Path], list[Path]]:
    """(workflow files, broadcast files) among the paths given, by the folder they are in;
    no paths: both folders (`broadcasts` None: no broadcasts)."""
    if not paths:
        return [workflows], [broadcasts] if broadcasts is not None else []
    if broadcasts is None:
        return list(paths), []
    folder = broadcasts.resolve()
    named = [path for path in paths if path.resolve().is_relative_to(folder)]
    return [path for path in paths if path not in named], named


def files_of_broadcast(broadcast: Broadcast, library: TemplateLibrary) -> set[str]:
    """The broadcast's file and the template files its variants send, as problems name them."""
    templates = dict.fromkeys(variant.template for variant in broadcast.test_variants())
    return source_files(broadcast.path, templates, library)


def try_broadcasts(
    trials: RenderTrials, broadcasts: list[Broadcast], out: Console
) -> tuple[list[str], int, int]:
    """Render each broadcast's variants; (the file of each failing variant, variants tried,
    renders)."""
    failed: list[str] = []
    variants = renders = 0
    for broadcast in broadcasts:
        for trial in try_broadcast(trials, broadcast):
            variants += 1
            renders += trial.tried
            if trial.failures:
                failed.append(broadcast.path)
                print_failures(trial.variant.location, trial.label, trial, out)
    return failed, variants, renders
