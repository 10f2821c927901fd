"""Tables of what the engine can fall back on when a workflow file breaks, and what broke.

`workflow_last_good` keeps, per workflow file, the last version that loaded with every
template it sends; `template_version` keeps those templates as text (by digest, shared by the
versions that sent the same sources). `broken_workflow_file` is what the engine found at its
last start or reload, for `mailengine status` and `/metrics`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from mailengine.store.types import UTCDateTime, json_type


class TemplateVersion(SQLModel, table=True):
    """A template as a workflow version sent it: its MJML and every file it includes."""

    __tablename__ = "template_version"

    digest: str = Field(max_length=64, primary_key=True)
    name: str = Field(max_length=200)
    # path under the templates folder -> text
    files: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(json_type(), nullable=False)
    )
    stored_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class WorkflowLastGood(SQLModel, table=True):
    """The last version of a workflow file that loaded, with the templates it sent then."""

    __tablename__ = "workflow_last_good"

    file: str = Field(max_length=255, primary_key=True)  # its name in the workflows folder
    name: str = Field(max_length=100)
    version: str = Field(max_length=64)
    path: str = Field(max_length=500)
    source: str
    # template name -> template_version.digest
    templates: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(json_type(), nullable=False)
    )
    stored_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class BrokenWorkflowFile(SQLModel, table=True):
    """A workflow file the engine found broken, and what it runs in its place (if anything)."""

    __tablename__ = "broken_workflow_file"

    file: str = Field(max_length=255, primary_key=True)
    path: str = Field(max_length=500)
    workflow: str | None = Field(default=None, max_length=100)
    problems: list[Any] = Field(default_factory=list, sa_column=Column(json_type(), nullable=False))
    running_version: str | None = Field(default=None, max_length=64)
    running_stored_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    note: str | None = Field(default=None, max_length=1000)
    found_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
