"""Which translations are missing or broken: the messages a template marks (`_()`, `gettext`,
`ngettext`, `{% trans %}`), found with Jinja's Babel extractor, against each catalog.

It imports Jinja, Babel and the catalogs and problems of `render`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from io import BytesIO

from babel.messages.catalog import Message
from jinja2.ext import babel_extract

from mailengine.errors import SourceError
from mailengine.render.checks import TemplateProblem
from mailengine.render.translations import Catalogs, language_name

_KEYWORDS = ("_", "gettext", "ngettext")
_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"}
_SHOWN_MAX = 60  # characters of a message quoted in a warning


@dataclass(frozen=True, slots=True)
class MarkedMessage:
    """A message as a template file marks it: its id (the singular of a plural) and line."""

    path: str
    line: int
    message: str


def extract_messages(source: str) -> Iterator[tuple[int, str | tuple[str, str]]]:
    """(line, message) for each message `source` marks; a plural as (singular, plural).

    A file that is not valid Jinja marks none here (the template checks report it)."""
    try:
        found = list(babel_extract(BytesIO(source.encode("utf-8")), _KEYWORDS, (), _OPTIONS))
    except Exception:  # Jinja's syntax errors are reported by the template checks
        return
    for line, function, message, _comments in found:
        # Arguments that are not string constants (a count, keyword values) come as None.
        strings = [part for part in _parts(message) if isinstance(part, str)]
        if function == "ngettext" and len(strings) > 1 and strings[0]:
            yield line, (strings[0], strings[1])
        elif strings and strings[0]:
            yield line, strings[0]


def _parts(message: object) -> tuple[object, ...]:
    return message if isinstance(message, tuple) else (message,)


def marked_messages(path: str, source: str) -> Iterator[MarkedMessage]:
    """The messages `source` (a template or partial shown as `path`) marks for translation."""
    for line, message in extract_messages(source):
        yield MarkedMessage(path, line, message if isinstance(message, str) else message[0])


def missing_in_files(files: Mapping[str, str], catalogs: Catalogs) -> list[TemplateProblem]:
    """For each catalog language, the messages of `files` (shown path → source) it does not
    translate: one warning per message, or one per file that it does not translate at all."""
    problems: list[TemplateProblem] = []
    for path, source in files.items():
        marked = list(marked_messages(path, source))
        for language in catalogs.languages():
            translated = _translated(catalogs, language)
            missing = [each for each in marked if not translated.get(each.message, False)]
            where = catalogs.shown(language)
            name = language_name(language)
            if missing and len(missing) == len(marked) and len(marked) > 1:
                problems.append(
                    TemplateProblem(
                        path,
                        missing[0].line,
                        None,
                        f"no {name} translation of any of its {len(marked)} messages in {where}",
                    )
                )
                continue
            problems.extend(
                TemplateProblem(
                    path,
                    each.line,
                    None,
                    f"no {name} translation of {_shown(each.message)} in {where}",
                )
                for each in missing
            )
    return problems


def missing_line(source: str, catalogs: Catalogs) -> list[tuple[str, str]]:
    """(language named, its catalog) for each catalog lacking the subject or preheader
    `source`."""
    return [
        (language_name(language), catalogs.shown(language))
        for language in catalogs.languages()
        if not _translated(catalogs, language).get(source, False)
    ]


def catalog_problems(catalogs: Catalogs) -> list[TemplateProblem]:
    """Catalogs that do not parse, and translations whose `%(name)s` placeholders differ
    from their message's (they would fail or lose a value for every customer)."""
    problems: list[TemplateProblem] = []
    for language in catalogs.languages():
        try:
            loaded = catalogs.catalog(language)
        except SourceError as exc:
            where = exc.location
            problems.append(
                TemplateProblem(
                    where.path if where else catalogs.shown(language),
                    where.line if where else None,
                    None,
                    exc.message,
                )
            )
            continue
        if loaded is None:
            continue
        for message, errors in loaded.catalog.check():
            if "%(" not in str(message.id):  # subjects are Jinja, not format strings
                continue
            problems.extend(_format_problem(catalogs.shown(language), message, e) for e in errors)
    return problems


def _format_problem(path: str, message: Message, error: Exception) -> TemplateProblem:
    shown = message.id if isinstance(message.id, str) else message.id[0]
    return TemplateProblem(
        path, message.lineno or None, None, f"translation of {_shown(shown)}: {error}"
    )


def _translated(catalogs: Catalogs, language: str) -> Mapping[str, bool]:
    try:
        return catalogs.translated_messages(language)
    except SourceError:  # reported by catalog_problems
        return {}


def _shown(message: str) -> str:
    text = " ".join(message.split())
    return repr(text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…")
