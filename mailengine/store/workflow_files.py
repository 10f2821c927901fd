"""The last good version of each workflow file, its templates' sources, and the broken files.

The engine writes a file's version here whenever it loads with every template it sends (at
start and on each successful reload), and reads it back when that file is broken at a later
start. What it found broken is kept for `mailengine status` and `/metrics`, which may run in
other processes. Only plain records cross: `GoodVersion`, `TemplateSources`, `BrokenFile`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlmodel import Session

from mailengine.render.template_sources import TemplateSources
from mailengine.store.database import upsert_insert
from mailengine.store.workflow_file_models import (
    BrokenWorkflowFile,
    TemplateVersion,
    WorkflowLastGood,
)

template_table = TemplateVersion.__table__  # type: ignore[attr-defined]
last_good_table = WorkflowLastGood.__table__  # type: ignore[attr-defined]
broken_table = BrokenWorkflowFile.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class GoodVersion:
    """A workflow file as it loaded: its YAML and the sources of every template it sends.
    `stored_at` is when this version was first stored (None before it is)."""

    file: str
    name: str
    version: str
    path: str
    source: str
    templates: Mapping[str, TemplateSources] = field(default_factory=dict)
    stored_at: datetime | None = None

    def digests(self) -> dict[str, str]:
        return {name: sources.digest for name, sources in sorted(self.templates.items())}


@dataclass(frozen=True)
class BrokenFile:
    """A workflow file found broken: its problems (`path:line:col: message`) and the version
    that runs in its place (`running_version`, stored at `running_stored_at`), or None and a
    `note` saying why none does."""

    file: str
    path: str
    problems: tuple[str, ...]
    found_at: datetime
    workflow: str | None = None
    running_version: str | None = None
    running_stored_at: datetime | None = None
    note: str | None = None


def remember_good_versions(
    session: Session, versions: Sequence[GoodVersion], now: datetime
) -> list[str]:
    """Store each version as its file's last good one; the files whose version changed."""
    if not versions:
        return []
    upsert = upsert_insert(session)
    templates = {
        sources.digest: sources for version in versions for sources in version.templates.values()
    }
    for digest, sources in sorted(templates.items()):
        session.execute(
            upsert(template_table)
            .values(digest=digest, name=sources.name, files=dict(sources.files), stored_at=now)
            .on_conflict_do_nothing(index_elements=["digest"])
        )
    g = last_good_table.c
    known = {
        row.file: (row.version, row.templates)
        for row in session.execute(
            select(g.file, g.version, g.templates).where(g.file.in_([v.file for v in versions]))
        )
    }
    changed = [v for v in versions if known.get(v.file) != (v.version, v.digests())]
    for version in changed:
        values = {
            "name": version.name,
            "version": version.version,
            "path": version.path,
            "source": version.source,
            "templates": version.digests(),
            "stored_at": now,
        }
        session.execute(
            upsert(last_good_table)
            .values(file=version.file, **values)
            .on_conflict_do_update(index_elements=["file"], set_=values)
        )
    return [version.file for version in changed]


def last_good_versions(session: Session, files: Collection[str]) -> dict[str, GoodVersion]:
    """The stored last good version of each of `files` that has one, with its templates
    (a template whose sources are not stored is left out: the caller sees it missing)."""
    if not files:
        return {}
    g = last_good_table.c
    rows = list(session.execute(select(last_good_table).where(g.file.in_(list(files)))))
    digests = {str(digest) for row in rows for digest in row.templates.values()}
    sources = template_versions(session, digests)
    return {
        row.file: GoodVersion(
            file=row.file,
            name=row.name,
            version=row.version,
            path=row.path,
            source=row.source,
            templates={
                name: sources[digest] for name, digest in row.templates.items() if digest in sources
            },
            stored_at=row.stored_at,
        )
        for row in rows
    }


def template_versions(session: Session, digests: Collection[str]) -> dict[str, TemplateSources]:
    """Stored template sources by digest (the unknown ones left out)."""
    if not digests:
        return {}
    t = template_table.c
    rows = session.execute(select(t.digest, t.name, t.files).where(t.digest.in_(sorted(digests))))
    return {row.digest: TemplateSources(row.name, dict(row.files)) for row in rows}


def record_broken_files(session: Session, found: Sequence[BrokenFile]) -> None:
    """What the engine found now replaces what it found before (none: nothing is broken).
    Written as upserts: two engines starting at once on one database each write the list,
    and the one that waited for the other's delete must not trip over its rows."""
    b = broken_table.c
    session.execute(delete(broken_table).where(b.file.not_in([item.file for item in found])))
    upsert = upsert_insert(session)
    for item in found:
        values = {
            "path": item.path,
            "workflow": item.workflow,
            "problems": list(item.problems),
            "running_version": item.running_version,
            "running_stored_at": item.running_stored_at,
            "note": item.note,
            "found_at": item.found_at,
        }
        session.execute(
            upsert(broken_table)
            .values(file=item.file, **values)
            .on_conflict_do_update(index_elements=["file"], set_=values)
        )


def broken_files(session: Session) -> list[BrokenFile]:
    """The broken workflow files the engine found at its last start or reload, by path."""
    b = broken_table.c
    return [
        BrokenFile(
            file=row.file,
            path=row.path,
            problems=tuple(str(problem) for problem in row.problems),
            found_at=row.found_at,
            workflow=row.workflow,
            running_version=row.running_version,
            running_stored_at=row.running_stored_at,
            note=row.note,
        )
        for row in session.execute(select(broken_table).order_by(b.path))
    ]
