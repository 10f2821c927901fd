"""Warnings about a mail's copy that do not stop it from sending: a send without a preheader,
and copy (template messages, subject, preheader) a catalog language does not translate yet.

It imports the template library and the problem type; workflows and broadcasts hand it their
sends as `SendCopy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mailengine.errors import SourceLocation
from mailengine.render import TemplateLibrary
from mailengine.workflows.problems import Problem, unique_problems

NO_PREHEADER = (
    "no preheader: add `preheader:` saying what the mail offers (inbox lists show it after "
    "the subject; without one they show the first words of the body)"
)


@dataclass(frozen=True, slots=True)
class SendCopy:
    """One mail a file sends: its template, where that is named, its subject and preheader
    (part, source, place), whether it has a preheader, and the free texts of its file that
    the template shows through `| translate` (a broadcast's `content`)."""

    template: str
    named_at: SourceLocation
    lines: tuple[tuple[str, str, SourceLocation], ...]
    has_preheader: bool
    texts: tuple[tuple[str, SourceLocation], ...] = ()  # free text the template translates


def copy_warnings(sends: Iterable[SendCopy], library: TemplateLibrary) -> list[Problem]:
    """Every warning of `sends`, each template's missing translations reported once."""
    warnings: list[Problem] = []
    templates: set[str] = set()
    for send in sends:
        if not send.has_preheader:
            warnings.append(Problem(send.named_at, NO_PREHEADER))
        if send.template not in templates:
            templates.add(send.template)
            warnings.extend(
                Problem(found.location, found.message)
                for found in library.missing_translations(send.template)
            )
        lines = [*send.lines, *(("content text", text, at) for text, at in send.texts)]
        for part, source, where in lines:
            warnings.extend(
                Problem(where, f"{part} has no {language} translation in {catalog}")
                for language, catalog in library.missing_line_translations(source)
            )
    return unique_problems(warnings)
