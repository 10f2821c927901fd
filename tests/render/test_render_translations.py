"""Copy in the customer's language from the gettext catalogs, else in the shop's; `lang` and
dates follow the copy actually sent."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

from mailengine.render import (
    CouponData,
    CustomerData,
    LinksData,
    RenderContext,
    SenderData,
    TemplateLibrary,
    build_context,
)
from mailengine.render.environment import html_environment, install_translations, text_environment
from mailengine.render.translations import Catalogs
from tests.conftest import NOW
from tests.render.conftest import WriteTemplate

TEMPLATE = """<mjml lang="{{ language }}">
  <mj-head><mj-title>{{ subject }}</mj-title><mj-preview>{{ preheader }}</mj-preview></mj-head>
  <mj-body>
    <mj-section><mj-column>
      <mj-text>{{ _("Hello %(name)s, your code is valid until %(date)s.",
        name=customer.first_name | default('friend'), date=coupon.expires_at | date) }}</mj-text>
      <mj-text>{{ _("Free returns for 30 days.") }}</mj-text>
      <mj-button href="{{ links.shop_url }}">{{ _("Visit the shop") }}</mj-button>
    </mj-column></mj-section>
  </mj-body>
</mjml>
"""
SUBJECT = "{{ customer.first_name | default('Hello') }}, a present for you"
PREHEADER = "15 % off until {{ coupon.expires_at | date }}"

GERMAN_PO = r"""msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Language: de\n"

msgid "Hello %(name)s, your code is valid until %(date)s."
msgstr "Hallo %(name)s, dein Code gilt bis zum %(date)s."

msgid "Free returns for 30 days."
msgstr "30 Tage kostenlose Rücksendung."

msgid "Visit the shop"
msgstr "Zum Shop"

msgid "{{ customer.first_name | default('Hello') }}, a present for you"
msgstr "{{ customer.first_name | default('Hallo') }}, ein Geschenk für dich"

msgid "15 % off until {{ coupon.expires_at | date }}"
msgstr "15 % Rabatt bis zum {{ coupon.expires_at | date }}"
"""


def write_catalog(templates: Path, language: str, text: str) -> Path:
    path = templates / "locales" / language / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def context_for(locale: str, first_name: str = "Jana") -> RenderContext:
    return build_context(
        customer=CustomerData(
            email="jana@example.com", locale=locale, timezone="Europe/Berlin", first_name=first_name
        ),
        links=LinksData(
            unsubscribe_url="https://shop.example/u",
            preferences_url="https://shop.example/p",
            shop_url="https://shop.example",
        ),
        sender=SenderData("Example Shop", "hello@shop.example", "Musterstraße 1, Berlin"),
        coupon=CouponData("GIFT15", NOW + timedelta(days=30), percent=15),
    )


def html_lang(html: str) -> str:
    match = re.search(r'<html[^>]*\blang="([^"]*)"', html)
    assert match, html[:300]
    return match.group(1)


def test_a_german_customer_gets_german_subject_preheader_and_body(
    scratch_dir: Path, write_template: WriteTemplate
) -> None:
    write_template("gift", TEMPLATE)
    write_catalog(scratch_dir, "de", GERMAN_PO)
    library = TemplateLibrary(scratch_dir, shop_locale="en_US")
    mail = library.render("gift", context_for("de_AT"), subject=SUBJECT, preheader=PREHEADER)
    assert mail.subject == "Jana, ein Geschenk für dich"
    assert mail.preheader == "15 % Rabatt bis zum 23. Dezember 2026"
    assert html_lang(mail.html) == "de"
    assert "Hallo Jana, dein Code gilt bis zum 23. Dezember 2026." in mail.text
    assert "30 Tage kostenlose Rücksendung." in mail.text
    assert "Zum Shop" in mail.text
    assert "Free returns" not in mail.text + mail.html
    assert "R&#252;cksendung" in mail.html or "Rücksendung" in mail.html


def test_a_dutch_customer_without_dutch_copy_gets_the_shop_language_and_its_lang(
    scratch_dir: Path, write_template: WriteTemplate
) -> None:
    write_template("gift", TEMPLATE)
    write_catalog(scratch_dir, "de", GERMAN_PO)
    english_shop = TemplateLibrary(scratch_dir, shop_locale="en_GB")
    mail = english_shop.render("gift", context_for("nl_NL"), subject=SUBJECT, preheader=PREHEADER)
    assert html_lang(mail.html) == "en"
    assert mail.subject == "Jana, a present for you"
    # English copy: English month names (with Dutch conventions), never "december" in Dutch.
    assert "Hello Jana, your code is valid until 23 December 2026." in mail.text
    assert mail.preheader == "15 % off until 23 December 2026"

    german_shop = TemplateLibrary(scratch_dir, shop_locale="de_DE")
    mail = german_shop.render("gift", context_for("nl_NL"), subject=SUBJECT, preheader=PREHEADER)
    assert html_lang(mail.html) == "de"
    assert mail.subject == "Jana, ein Geschenk für dich"
    assert "dein Code gilt bis zum 23. Dezember 2026." in mail.text


def test_a_message_the_catalog_lacks_stays_in_the_source_language(
    scratch_dir: Path, write_template: WriteTemplate
) -> None:
    write_template("gift", TEMPLATE)
    write_catalog(scratch_dir, "de", GERMAN_PO.replace('msgstr "Zum Shop"', 'msgstr ""'))
    library = TemplateLibrary(scratch_dir)
    mail = library.render("gift", context_for("de_DE"), subject=SUBJECT, preheader=PREHEADER)
    assert "Visit the shop" in mail.text
    assert "30 Tage kostenlose Rücksendung." in mail.text


def test_customer_data_in_a_translated_message_is_escaped(
    scratch_dir: Path, write_template: WriteTemplate
) -> None:
    write_template("gift", TEMPLATE)
    write_catalog(scratch_dir, "de", GERMAN_PO)
    library = TemplateLibrary(scratch_dir)
    mail = library.render(
        "gift", context_for("de_DE", "<b>Jo</b>"), subject=SUBJECT, preheader=PREHEADER
    )
    assert "<b>Jo</b>" not in mail.html
    assert "&lt;b&gt;Jo&lt;/b&gt;" in mail.html
    assert "Hallo <b>Jo</b>, dein Code" in mail.text


def test_translations_are_the_same_in_loops_macros_and_blocks_as_alone() -> None:
    """`_()` and `ngettext` called directly (outside loops and blocks) give what Jinja's own
    newstyle gettext gives everywhere: translated, then formatted with escaped keywords."""
    catalogs_dir = Path(__file__).parent  # no catalogs: the source language
    html = html_environment()
    install_translations(html, Catalogs(catalogs_dir / "no-such-folder", "en"))
    source = (
        "{% macro m(x) %}{{ _('Hi %(n)s', n=x) }}{% endmacro %}"
        "{{ _('Hi %(n)s', n=name) }}|{% for i in [1] %}{{ _('Hi %(n)s', n=name) }}{% endfor %}|"
        "{{ m(name) }}|{% set s %}{{ _('Hi %(n)s', n=name) }}{% endset %}{{ s }}|"
        "{{ ngettext('%(num)d item of %(n)s', '%(num)d items of %(n)s', 2, n=name) }}|"
        "{% trans count=2 %}{{ count }} thing{% pluralize %}{{ count }} things{% endtrans %}|"
        "{{ _('100%% sure') }}"
    )
    rendered = html.from_string(source).render(name="<b>")
    hi = "Hi &lt;b&gt;"
    assert rendered == f"{hi}|{hi}|{hi}|{hi}|2 items of &lt;b&gt;|2 things|100% sure"
    text = text_environment()
    install_translations(text, Catalogs(catalogs_dir / "no-such-folder", "en"))
    assert text.from_string(source).render(name="<b>").startswith("Hi <b>|Hi <b>|Hi <b>|")


def test_with_auto_reload_a_changed_catalog_and_a_new_language_show_in_the_next_mail(
    scratch_dir: Path, write_template: WriteTemplate
) -> None:
    """Translations and each customer's copy language are kept between mails, except where
    the folder is read again when it changes."""
    write_template("gift", TEMPLATE)
    path = write_catalog(scratch_dir, "de", GERMAN_PO)
    library = TemplateLibrary(scratch_dir, auto_reload=True)
    mail = library.render("gift", context_for("de_DE"), subject=SUBJECT, preheader=PREHEADER)
    assert "Zum Shop" in mail.text and html_lang(mail.html) == "de"
    assert "Visit the shop" in library.render("gift", context_for("fr_FR"), subject=SUBJECT).text
    path.write_text(GERMAN_PO.replace("Zum Shop", "Zum Laden"), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    write_catalog(scratch_dir, "fr", GERMAN_PO.replace("Zum Shop", "Vers la boutique"))
    mail = library.render("gift", context_for("de_DE"), subject=SUBJECT, preheader=PREHEADER)
    assert "Zum Laden" in mail.text and "Zum Laden" in mail.html
    french = library.render("gift", context_for("fr_FR"), subject=SUBJECT)
    assert "Vers la boutique" in french.text and html_lang(french.html) == "fr"
