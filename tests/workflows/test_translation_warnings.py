"""`mailengine validate` warns, at the file and line, about copy a catalog does not translate
and a send without a preheader; it still passes (exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailengine.cli.workflow_commands import validate
from tests.workflows.conftest import SHIPPED_OK, invoke

CATALOG = "templates/locales/{}/LC_MESSAGES/messages.po"


def untranslate(project: Path, language: str, message: str) -> None:
    path = project / CATALOG.format(language)
    text = path.read_text(encoding="utf-8")
    start = text.index(f'msgid "{message}"\nmsgstr "')
    end = text.index("\n", start + len(message) + 10)
    path.write_text(text[:start] + f'msgid "{message}"\nmsgstr ""' + text[end:], encoding="utf-8")


def test_the_shipped_files_validate_without_warnings(project: Path) -> None:
    code, output = invoke(project, validate, ["--no-render"])
    assert code == 0
    assert "warning" not in output
    assert output.splitlines()[0] == SHIPPED_OK


def test_validate_warns_of_a_missing_translation_and_preheader(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    untranslate(project, "de", "Discover the collection")
    untranslate(project, "fr", "Good to have you here.")
    welcome = project / "workflows" / "welcome.yaml"
    welcome.write_text(
        welcome.read_text(encoding="utf-8").replace(
            '    preheader: "Good to have you here."\n', ""
        ),
        encoding="utf-8",
    )
    (project / "templates" / "locales" / "nl" / "LC_MESSAGES").mkdir(parents=True)
    (project / CATALOG.format("nl")).write_text(
        'msgid ""\nmsgstr ""\n"Language: nl\\n"\n\n'
        'msgid "Discover the collection"\nmsgstr "Ontdek de collectie"\n',
        encoding="utf-8",
    )
    code, output = invoke(project, validate, ["--no-render", "workflows/welcome.yaml"])
    assert code == 0, output
    lines = output.splitlines()
    assert (
        "templates/welcome/hello.mjml:19: warning: no German (de) translation of "
        "'Discover the collection' in templates/locales/de/LC_MESSAGES/messages.po"
    ) in lines
    assert (
        "workflows/welcome.yaml:7:5: warning: no preheader: add `preheader:` saying what the "
        "mail offers (inbox lists show it after the subject; without one they show the first "
        "words of the body)"
    ) in lines
    # A new catalog: one line per message of a file it translates in part, one per file
    # it does not translate at all, one per subject and preheader.
    assert (
        "templates/welcome/hello.mjml:24: warning: no Dutch (nl) translation of 'Free returns' "
        "in templates/locales/nl/LC_MESSAGES/messages.po"
    ) in lines
    assert (
        "templates/partials/footer.mjml:4: warning: no Dutch (nl) translation of any of its 4 "
        "messages in templates/locales/nl/LC_MESSAGES/messages.po"
    ) in lines
    assert (
        "workflows/welcome.yaml:8:5: warning: subject has no Dutch (nl) translation in "
        "templates/locales/nl/LC_MESSAGES/messages.po"
    ) in lines
    assert lines[-2].endswith("(they do not stop sending)")


def test_a_translation_that_breaks_its_placeholders_is_a_problem(project: Path) -> None:
    path = project / CATALOG.format("de")
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('msgstr "Willkommen, %(name)s!"', 'msgstr "Willkommen, %(nom)s!"'),
        encoding="utf-8",
    )
    code, output = invoke(project, validate, ["--no-render"])
    assert code == 1
    assert "templates/locales/de/LC_MESSAGES/messages.po:" in output
    assert "translation of 'Welcome, %(name)s!'" in output
