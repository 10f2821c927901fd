"""Queries of the saved replies of the support desk (`support_snippet`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailengine.store.desk_models import SupportSnippet

snippet_table = SupportSnippet.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SnippetRow:
    id: int
    name: str
    body: str
    updated_by: str
    updated_at: datetime


class SnippetNameTaken(ValueError):
    """Another saved reply has this name."""


def list_snippets(session: Session) -> list[SnippetRow]:
    s = snippet_table.c
    statement = select(s.id, s.name, s.body, s.updated_by, s.updated_at).order_by(s.name)
    return [SnippetRow(**row._mapping) for row in session.execute(statement)]


def get_snippet(session: Session, snippet_id: int) -> SnippetRow | None:
    s = snippet_table.c
    row = session.execute(
        select(s.id, s.name, s.body, s.updated_by, s.updated_at).where(s.id == snippet_id)
    ).first()
    return SnippetRow(**row._mapping) if row is not None else None


def save_snippet(
    session: Session, snippet_id: int | None, name: str, body: str, by: str, now: datetime
) -> int | None:
    """Add a saved reply (`snippet_id` None) or change one; None when there is no such
    snippet to change. Raises SnippetNameTaken when another one has the name."""
    values = {"name": name, "body": body, "updated_by": by, "updated_at": now}
    try:
        with session.begin_nested():
            if snippet_id is None:
                created = session.execute(
                    insert(snippet_table).values(values).returning(snippet_table.c.id)
                ).scalar_one()
                return int(created)
            result = session.execute(
                update(snippet_table).where(snippet_table.c.id == snippet_id).values(values)
            )
    except IntegrityError:
        raise SnippetNameTaken(f"a saved reply named {name!r} exists already") from None
    return snippet_id if int(result.rowcount) == 1 else None  # type: ignore[attr-defined]


def delete_snippet(session: Session, snippet_id: int) -> bool:
    result = session.execute(delete(snippet_table).where(snippet_table.c.id == snippet_id))
    return int(result.rowcount) == 1  # type: ignore[attr-defined]
