"""Every shipped template renders in German and French, wholly in that language, for varied
customers; the catalogs translate every message the templates and send steps have."""

from __future__ import annotations

import re

import pytest

from mailengine.render import RenderContext, TemplateLibrary
from mailengine.render.translation_checks import marked_messages
from tests.render.conftest import REPO
from tests.render.test_render_shipped_templates import LEFTOVER, SHIPPED

# Words of the English copy that no German or French sentence of these templates contains.
ENGLISH = re.compile(r"\b(?:Thank you|your|Your|order|Unsubscribe|Email preferences|We )\b")
SUBJECT = "Thank you for your order, {{ customer.first_name | default('there') }}"
LANGUAGES = {"de": "Danke für deine Bestellung", "fr": "Merci pour votre commande"}
INTERNAL = {"support/team-notification"}  # read by the shop's team, in the team's language


def in_locale(context: RenderContext, locale: str) -> RenderContext:
    return {**context, "customer": {**context["customer"], "locale": locale}}


@pytest.mark.parametrize("language", ["de", "fr"])
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_template_renders_in_the_language(
    library: TemplateLibrary, thousand_customers: list[RenderContext], name: str, language: str
) -> None:
    for context in thousand_customers[:60]:
        mail = library.render(name, in_locale(context, f"{language}_CH"), subject=SUBJECT)
        assert mail.subject.startswith(LANGUAGES[language]), mail.subject
        if name in INTERNAL:
            continue
        assert re.search(rf'<html[^>]*\blang="{language}"', mail.html), name
        assert not LEFTOVER.search(mail.html) and not LEFTOVER.search(mail.text), name
        assert not ENGLISH.search(copy_of(mail.text, context)), (name, language, mail.text)


def copy_of(text: str, context: RenderContext) -> str:
    """The text without customer data, links and addresses (they may hold any word)."""
    customer = context["customer"]
    data = [customer.get("first_name"), customer.get("city")]
    orders = [*context["orders"], *([context["order"]] if context["order"] else [])]
    data += [item["name"] for order in orders for item in order["items"]]
    data += [context["ticket"]["subject"]] if context["ticket"] else []
    for value in data:
        if value:
            text = text.replace(str(value), "")
    return re.sub(r"\(https?://[^)]*\)|\S+@\S+", "", text)


def test_the_catalogs_translate_every_shipped_message(library: TemplateLibrary) -> None:
    files = sorted((REPO / "templates").rglob("*.mjml"))
    marked = [m for file in files for m in marked_messages(file.name, file.read_text("utf-8"))]
    assert len(marked) > 150
    for language in ("de", "fr"):
        translated = library.catalogs.translated_messages(language)
        assert [m.message for m in marked if not translated.get(m.message)] == [], language
    for name in library.names():
        assert library.missing_translations(name) == [], name
    assert library.catalog_problems() == []


def test_an_unknown_language_falls_back_to_the_shop_language(
    library: TemplateLibrary, thousand_customers: list[RenderContext]
) -> None:
    german_shop = TemplateLibrary(library.templates_dir, shop_locale="de_DE")
    context = in_locale(thousand_customers[0], "nl_BE")
    mail = german_shop.render("welcome/hello", context, subject=SUBJECT)
    assert 'lang="de"' in mail.html
    assert "Willkommen" in mail.text and mail.subject.startswith("Danke für deine Bestellung")
    english = library.render("welcome/hello", context, subject=SUBJECT)
    assert 'lang="en"' in english.html and "Welcome" in english.text


def test_a_broadcasts_content_is_translated_where_the_catalog_has_it(
    library: TemplateLibrary, thousand_customers: list[RenderContext]
) -> None:
    content = {
        "headline": "Warm things for cold days",
        "paragraphs": ["20 % off, only in this mail."],  # not in the catalog: stays as written
        "products": [
            {
                "title": "Merino sweater",
                "price": 89,
                "image": "favourites/merino-sweater.png",
                "link": "/c",
            }
        ],
    }
    broadcast = {"name": "december", "variant": "all", "content": content}
    context: RenderContext = {**in_locale(thousand_customers[0], "de_DE"), "broadcast": broadcast}  # type: ignore[typeddict-item]
    mail = library.render("newsletter/newsletter", context, subject="s")
    assert "Warmes für kalte Tage" in mail.text
    assert "20 % off, only in this mail." in mail.text
    assert "Merinopullover ansehen" in mail.text


def test_the_poll_block_asks_its_question_in_the_customer_s_language(
    library: TemplateLibrary, thousand_customers: list[RenderContext]
) -> None:
    """The question and the words at the scale's ends come from polls/*.yaml, translated
    through the same catalogs (`mailengine translations update` gathers them)."""
    german = library.render(
        "thank-you/how-likely", in_locale(thousand_customers[0], "de_AT"), subject=SUBJECT
    )
    assert "Wie wahrscheinlich ist es, dass du uns" in german.text
    assert "Äußerst wahrscheinlich" in german.text and "wahrscheinlich" in german.html
    assert "likely" not in german.html and "likely" not in german.text
    english = library.render(
        "thank-you/how-likely", in_locale(thousand_customers[0], "en_GB"), subject=SUBJECT
    )
    assert "How likely are you to recommend us" in english.text
