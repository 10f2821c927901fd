"""The exception hierarchy: one base that carries context, mixed with stdlib types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLocation:
    """A place in a file a user wrote: `workflows/win-back.yaml:12:5`."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = self.path
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


class MailengineError(Exception):
    """Base of every error mailengine raises on purpose.

    The message says what failed, where, and what to do; the CLI prints it without a
    traceback and exits 1.
    """

    def __init__(self, message: str, *, location: SourceLocation | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class ConfigError(MailengineError, ValueError):
    """config.yaml or a MAILENGINE_* variable is wrong."""


class SourceError(MailengineError, ValueError):
    """A file a user wrote (a workflow, a template) is wrong at a known place."""


class StoreError(MailengineError, RuntimeError):
    """The database is unreachable or not at the expected schema."""


class ImportFileError(MailengineError, ValueError):
    """An import file cannot be read at all (missing, unknown format, bad header)."""


class RenderError(MailengineError, ValueError):
    """A template failed to render for one customer."""


class DeliveryError(MailengineError, RuntimeError):
    """A message could not be handed to the mail server."""


class PredictionError(MailengineError, ValueError):
    """The customer-lifetime models cannot be fitted on these orders (none, or no repeat orders)."""


def quoted(value: object, limit: int = 24) -> str:
    """A refused value as an error message shows it: quoted, control characters escaped, and
    cut to `limit` characters, so that a message never carries back what a stranger sent."""
    text = str(value)
    shown = text[:limit].encode("unicode_escape").decode("ascii")
    return f"'{shown}…'" if len(text) > limit else f"'{shown}'"


class MessageHeaderError(MailengineError, ValueError):
    """A header value cannot be written safely (a line break, a bad address or name)."""
