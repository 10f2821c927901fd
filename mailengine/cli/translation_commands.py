"""`mailengine translations update`: the messages of templates, subjects and preheaders
gathered into `<templates>/locales/messages.pot` and merged into each language's catalog.

Babel does the catalog work (`Catalog.update` keeps translations, marks changed messages
fuzzy and drops ones no longer used); this module only finds the messages.
"""

from __future__ import annotations

from pathlib import Path

import click
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from mailengine.broadcasts.loader import load_broadcasts
from mailengine.broadcasts.validation import broadcast_sends
from mailengine.cli.context import CliContext, pass_context
from mailengine.config import Settings
from mailengine.polls.loader import load_polls
from mailengine.render.mjml_cache import TEMPLATE_SUFFIX, display_path
from mailengine.render.translation_checks import extract_messages
from mailengine.render.translations import CATALOGS_DIR, DOMAIN, Catalogs
from mailengine.workflows.copy_warnings import SendCopy
from mailengine.workflows.loader import load_workflows
from mailengine.workflows.validation import workflow_sends


@click.group("translations")
def translations() -> None:
    """Catalogs of translated copy (templates/locales/LANG/LC_MESSAGES/messages.po)."""


@translations.command("update")
@click.option(
    "--add",
    "added",
    multiple=True,
    metavar="LANG",
    help="Start a catalog for this language (de, fr, pt_BR) too.",
)
@pass_context
def update(state: CliContext, added: tuple[str, ...]) -> None:
    """Gather every message and merge it into each catalog; then translate the empty ones
    (`mailengine validate` lists what is missing)."""
    settings = state.settings
    template = gather_messages(settings)
    folder = settings.paths.templates / CATALOGS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{DOMAIN}.pot").open("wb") as file:
        write_po(file, template, sort_output=True)
    catalogs = Catalogs(settings.paths.templates)
    for language in sorted({*catalogs.languages(), *added}):
        counts = update_catalog(catalogs.path(language), language, template)
        click.echo(f"{catalogs.shown(language)}: {counts}")


def gather_messages(settings: Settings) -> Catalog:
    """Every message of the templates (partials too) and of the workflows' and broadcasts'
    subjects and preheaders, each with the places it is written."""
    root = settings.paths.templates
    catalog = Catalog(domain=DOMAIN, project="mailengine templates", fuzzy=False)
    for file in sorted(root.rglob(f"*{TEMPLATE_SUFFIX}")):
        shown = display_path(root, file)
        for line, message in extract_messages(file.read_text(encoding="utf-8")):
            _add(catalog, message, shown, line)
    workflows = load_workflows([settings.paths.workflows], Path.cwd())
    sends: list[SendCopy] = [s for w in workflows.workflows.values() for s in workflow_sends(w)]
    if settings.paths.broadcasts.is_dir():
        broadcasts = load_broadcasts([settings.paths.broadcasts], Path.cwd())
        sends += [s for b in broadcasts.broadcasts.values() for s in broadcast_sends(b)]
    for send in sends:
        for _part, source, where in send.lines:
            _add(catalog, source, where.path, where.line or 0)
        for text, where in send.texts:
            _add(catalog, text, where.path, where.line or 0)
    for poll_file, text in _poll_texts(settings):
        _add(catalog, text, poll_file, 0)
    return catalog


def _poll_texts(settings: Settings) -> list[tuple[str, str]]:
    """The words a poll block shows in a mail (`partials/poll.mjml` translates them): the
    question, the words at the scale's ends, and labelled answers."""
    found = load_polls([settings.paths.polls], display_base=Path.cwd())
    texts = []
    for name, poll in sorted(found.polls.items()):
        question = poll.question
        shown = [question.text, question.low, question.high]
        if question.kind == "choice":
            shown += [answer.label for answer in question.answers]
        texts += [(f"polls/{name}.yaml", text) for text in shown if text]
    return texts


def update_catalog(path: Path, language: str, template: Catalog) -> str:
    """Merge `template` into the catalog at `path` (made if missing); what it now holds."""
    if path.is_file():
        with path.open("rb") as file:
            catalog = read_po(file, locale=language)
    else:
        catalog = Catalog(
            locale=language, domain=DOMAIN, project="mailengine templates", fuzzy=False
        )
    catalog.update(template, update_header_comment=False)
    catalog.obsolete.clear()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalog, sort_output=True, ignore_obsolete=True)
    messages = [m for m in catalog if m.id]
    todo = sum(1 for m in messages if m.fuzzy or not m.string or not all(_strings(m.string)))
    return f"{len(messages)} messages, {todo} to translate"


def _strings(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _add(catalog: Catalog, message: str | tuple[str, str], path: str, line: int) -> None:
    existing = catalog.get(message if isinstance(message, str) else message[0])
    if existing is not None:
        existing.locations.append((path, line))
        return
    if isinstance(message, str) and "%(" not in message:
        # Subjects and plain copy are no format strings: "20 % off" must not be read as one.
        catalog.add(message, locations=[(path, line)], flags=["no-python-format"])
        return
    catalog.add(message, locations=[(path, line)])


__all__ = ["translations"]
