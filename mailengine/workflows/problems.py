"""Validation problems, collected so one run reports every mistake of a file at its place."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from mailengine.errors import SourceError, SourceLocation
from mailengine.yamlsource import PathKey, YamlDocument


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake: `workflows/win-back.yaml:12:5: unknown key 'stpes' (did you mean 'steps'?)`."""

    location: SourceLocation
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class WorkflowError(SourceError):
    """One or more workflow files are wrong; `problems` lists every mistake found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        super().__init__(
            (first.message if first else "invalid workflow") + more,
            location=first.location if first else None,
        )


class ProblemList:
    """What a loader found wrong, on the set of what it loaded (`WorkflowSet`...)."""

    problems: list[Problem]
    error_type: ClassVar[type[WorkflowError]] = WorkflowError

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise self.error_type(self.problems)


@dataclass
class ProblemLog:
    """Where the loader writes what it finds wrong in one document."""

    document: YamlDocument
    problems: list[Problem] = field(default_factory=list)

    def at(self, key_path: PathKey, message: str) -> None:
        self.problems.append(Problem(self.document.location(key_path), message))

    def unknown_keys(
        self, mapping: dict[str, object], allowed: Iterable[str], key_path: PathKey, what: str
    ) -> None:
        """Report each key of `mapping` that is not allowed, with a 'did you mean'."""
        allowed_list = list(allowed)
        for key in mapping:
            if key not in allowed_list:
                self.at((*key_path, key), unknown_key_message(key, allowed_list, what))


def unique_problems(found: Iterable[Problem]) -> list[Problem]:
    """Each problem once (a partial two templates include, a subject two variants share)."""
    return list({str(problem): problem for problem in found}.values())


def unknown_key_message(key: str, allowed: Sequence[str], what: str) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key '{key}' in {what}{hint}; allowed: {', '.join(allowed)}"


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
