"""The preview's data and the editor's drafts and saves, on a copy of the shipped shop."""

from __future__ import annotations

import email
import os
from email.policy import default as default_policy
from pathlib import Path

import pytest

from mailengine.engine.step_preview import StepPreviewer
from mailengine.outbound import Composer
from mailengine.render.library import TemplateLibrary
from mailengine.studio.editor import Draft, EditorShop, render_draft, save_draft, template_uses
from mailengine.studio.preview import PreviewChoiceError, Who, build_preview
from mailengine.studio.step_lines import StepLines
from mailengine.studio.template_files import (
    ChangedOnDiskError,
    TemplateNameError,
    read_template,
    template_names,
    version_of,
)
from tests.studio.preview_shop import NOW, PreviewShop, make_preview_shop

SECRET = b"k" * 32


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> PreviewShop:
    return make_preview_shop(tmp_path_factory.mktemp("shop"))


@pytest.fixture
def editable(tmp_path: Path) -> PreviewShop:
    return make_preview_shop(tmp_path)


def previewer(shop: PreviewShop) -> StepPreviewer:
    library = TemplateLibrary(shop.settings.paths.templates)
    return StepPreviewer(Composer(shop.settings, library, SECRET), tracked=True)


def editor_shop(shop: PreviewShop) -> EditorShop:
    return EditorShop(shop.settings, shop.database, SECRET, shop.settings.paths.workflows)


def test_a_customer_outside_the_audience_is_previewed_with_the_reason(shop: PreviewShop) -> None:
    welcome = shop.workflows()["welcome"]
    who = Who(customer_id=shop.customer_id("bob@example.com"))
    view = build_preview(previewer(shop), shop.database, welcome, 1, who, NOW)
    assert view.who_label == "Bob Baker <bob@example.com>"
    assert view.preview is not None
    assert view.preview.not_in_audience == ("no marketing consent (withdrawn on 2026-05-02)",)
    message = email.message_from_bytes(view.preview.composed.envelope.data, policy=default_policy)
    assert message["Subject"] == "Willkommen bei Example Shop, Bob"  # Bob reads German (de_DE)
    assert message["To"] == "Bob Baker <bob@example.com>"
    assert view.eml_name == f"welcome-step-1-customer-{who.customer_id}.eml"


def test_every_tracked_link_of_the_mail_is_listed_with_its_target(shop: PreviewShop) -> None:
    welcome = shop.workflows()["welcome"]
    who = Who(customer_id=shop.customer_id("ann@example.com"))
    view = build_preview(previewer(shop), shop.database, welcome, 2, who, NOW)
    assert view.report is not None and view.frames is not None
    tracked = [link for link in view.report.links if link.tracked]
    assert tracked
    html = view.preview.composed.rendered.html if view.preview else ""
    for link in tracked:
        assert link.href.startswith(f"{shop.settings.http.public_url.rstrip('/')}/c/")
        assert link.href in html
        assert link.target.startswith("https://")
    assert view.preview is not None and view.preview.not_in_audience == ()
    assert '<base target="_blank">' in view.frames.mail


def test_samples_are_offered_and_a_wrong_choice_is_named(shop: PreviewShop) -> None:
    welcome = shop.workflows()["welcome"]
    view = build_preview(previewer(shop), shop.database, welcome, None, Who(), NOW)
    assert view.who == Who(sample=view.samples[0].number)
    assert view.who_label == view.samples[0].label
    with pytest.raises(PreviewChoiceError, match="send steps 1 to 3, not 4"):
        build_preview(previewer(shop), shop.database, welcome, 4, Who(), NOW)
    with pytest.raises(PreviewChoiceError, match="no customer has the id 999"):
        build_preview(previewer(shop), shop.database, welcome, 1, Who(customer_id=999), NOW)
    with pytest.raises(PreviewChoiceError, match="numbers"):
        Who.parse("ann", None)


def test_names_outside_the_templates_folder_are_refused(shop: PreviewShop, tmp_path: Path) -> None:
    root = shop.settings.paths.templates
    (tmp_path / "secret.mjml").write_text("<mjml></mjml>", encoding="utf-8")
    os.symlink(tmp_path / "secret.mjml", root / "partials" / "outside.mjml")
    try:
        for name in ("../config", "/etc/passwd", "welcome/../../config", "partials/outside"):
            with pytest.raises(TemplateNameError):
                read_template(root, name)
        assert "partials/outside" not in template_names(root)
    finally:
        (root / "partials" / "outside.mjml").unlink()
    assert {"welcome/hello", "partials/footer"} <= set(template_names(root))


def test_a_partial_is_previewed_through_the_steps_that_include_it(shop: PreviewShop) -> None:
    root = shop.settings.paths.templates
    uses = template_uses(shop.workflows().values(), root, "partials/coupon")
    assert {(use.workflow.name, use.step.template) for use in uses} == {
        ("birthday", "birthday/happy-birthday"),
        ("churn-risk-win-back", "win-back/coupon"),
        ("vip", "vip/welcome-to-vip"),
        ("welcome", "welcome/first-order-coupon"),
        ("win-back", "win-back/coupon"),
    }


def test_a_typo_is_shown_at_its_line_and_not_saved(editable: PreviewShop) -> None:
    shop = editor_shop(editable)
    opened = read_template(shop.templates_dir, "welcome/hello")
    use = template_uses(editable.workflows().values(), shop.templates_dir, "welcome/hello")[0]
    line = next(n for n, text in enumerate(opened.text.splitlines(), 1) if "customer." in text)
    typo = opened.text.replace("customer.", "custmer.", 1)
    draft = Draft("welcome/hello", typo, use, None, Who(sample=3))
    result = render_draft(shop, draft, NOW)
    assert any(
        (p.path, p.line) == ("templates/welcome/hello.mjml", line) and "custmer" in p.message
        for p in result.problems
    )
    refused, saved = save_draft(shop, draft, opened.version, None, NOW)
    assert saved is None and refused.problems
    assert read_template(shop.templates_dir, "welcome/hello").text == opened.text
    broken = opened.text.replace("</mj-text>", "", 1)
    result = render_draft(shop, Draft("welcome/hello", broken, use, None, Who(sample=3)), NOW)
    assert result.view is None
    opened_at = next(n for n, text in enumerate(broken.splitlines(), 1) if "<mj-text" in text)
    assert [(p.path, p.line, p.message) for p in result.problems if p.line] == [
        ("templates/welcome/hello.mjml", opened_at, "<mj-text> is never closed")
    ]


def test_a_valid_draft_is_saved_with_its_subject_and_the_workflow_keeps_its_comments(
    editable: PreviewShop,
) -> None:
    shop = editor_shop(editable)
    opened = read_template(shop.templates_dir, "welcome/hello")
    workflow_file = shop.workflows_dir / "welcome.yaml"
    workflow_before = workflow_file.read_bytes()
    use = template_uses(editable.workflows().values(), shop.templates_dir, "welcome/hello")[0]
    changed = opened.text.replace("</mj-body>", "<mj-section><mj-column><mj-text>P.S. See you soon"
                                  "</mj-text></mj-column></mj-section></mj-body>")  # fmt: skip
    lines = StepLines(
        "Welcome aboard, {{ customer.first_name | default('friend') }}", "Hello: it's us"
    )
    draft = Draft("welcome/hello", changed, use, lines, Who(sample=3))
    result, saved = save_draft(shop, draft, opened.version, version_of(workflow_before), NOW)
    assert result.problems == ()
    assert saved is not None and saved.text == changed
    assert read_template(shop.templates_dir, "welcome/hello").text == changed
    text = workflow_file.read_text(encoding="utf-8")
    assert "subject: \"Welcome aboard, {{ customer.first_name | default('friend') }}\"" in text
    assert 'preheader: "Hello: it\'s us"' in text
    assert "# 10 o'clock in the customer's time zone" in text
    assert len(text.splitlines()) == len(workflow_before.decode().splitlines())
    reloaded = editable.workflows()["welcome"].sends()[0]
    assert (reloaded.subject, reloaded.preheader) == (lines.subject, lines.preheader)
    assert result.view is not None and result.view.preview is not None
    assert "P.S. See you soon" in result.view.preview.composed.rendered.text


def test_a_file_changed_on_disk_since_it_was_opened_is_not_overwritten(
    editable: PreviewShop,
) -> None:
    shop = editor_shop(editable)
    opened = read_template(shop.templates_dir, "welcome/hello")
    use = template_uses(editable.workflows().values(), shop.templates_dir, "welcome/hello")[0]
    someone_else = opened.text.replace("<mj-body", "<!-- edited in vim -->\n<mj-body", 1)
    opened.path.write_text(someone_else, encoding="utf-8")
    draft = Draft("welcome/hello", opened.text + "\n", use, None, Who(sample=3))
    with pytest.raises(ChangedOnDiskError, match="changed on disk since you opened it"):
        save_draft(shop, draft, opened.version, None, NOW)
    assert opened.path.read_text(encoding="utf-8") == someone_else
    assert [p.name for p in opened.path.parent.iterdir() if p.name.startswith(".")] == []


def test_a_draft_is_previewed_in_the_sample_customers_language(shop: PreviewShop) -> None:
    editor = editor_shop(shop)
    opened = read_template(editor.templates_dir, "welcome/hello")
    use = template_uses(shop.workflows().values(), editor.templates_dir, "welcome/hello")[0]
    seen: dict[str, str] = {}
    for sample in range(12):
        result = render_draft(
            editor, Draft("welcome/hello", opened.text, use, None, Who(sample=sample)), NOW
        )
        assert result.view is not None and result.view.preview is not None
        html = result.view.preview.composed.rendered.html
        lang = html.split('<html lang="', 1)[1].split('"', 1)[0]
        seen[lang] = result.view.preview.composed.rendered.text
    assert {"de", "fr", "en"} <= set(seen), sorted(seen)
    assert "Kollektion entdecken" in seen["de"] and "Découvrir la collection" in seen["fr"]
