"""A missing value fails for that one customer, naming template, line, variable and customer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mailengine.errors import RenderError
from mailengine.render import (
    CustomerData,
    LinksData,
    RenderContext,
    RenderedEmail,
    SenderData,
    TemplateLibrary,
    TemplateRenderError,
    TicketData,
    build_context,
)

WriteTemplate = Callable[[str, str], Path]

HELLO = """<mjml>
<mj-body>
<mj-section><mj-column>
<mj-text>Dear customer,</mj-text>
<mj-text>Hello {{ customer.first_name }}, size {{ customer.attributes.waist | d('?') }}</mj-text>
<mj-text>{% if customer.nickname %}Hi {{ customer.nickname }}{% endif %}</mj-text>
</mj-column></mj-section>
<mj-include path="partials/sign-off.mjml" />
<mj-section><mj-column><mj-text>Bye {{ customer.first_name }}</mj-text></mj-column></mj-section>
</mj-body>
</mjml>
"""
SIGN_OFF = """<mj-section><mj-column>
<mj-text>{% if customer.city %}Greetings to {{ customer.city }}{% endif %}</mj-text>
<mj-text>Reference {{ ticket.reference }}</mj-text>
</mj-column></mj-section>
"""


def customer(email: str, first_name: str | None, *, ticket: bool = True) -> RenderContext:
    return build_context(
        customer=CustomerData(email=email, first_name=first_name, locale="de_DE"),
        links=LinksData("https://x.example/u", "https://x.example/p", "https://x.example"),
        sender=SenderData("Shop", "shop@x.example", "Street 1\nCity"),
        ticket=TicketData("T-1042", "Where is my order?") if ticket else None,
    )


@pytest.fixture
def strict_library(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> TemplateLibrary:
    write_template("strict/hello", HELLO)
    write_template("partials/sign-off.mjml", SIGN_OFF)
    return scratch_library


def test_missing_first_name_names_template_line_variable_and_customer(
    strict_library: TemplateLibrary,
) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        strict_library.render("strict/hello", customer("nameless@example.com", None), subject="Hi")
    error = caught.value
    assert error.location is not None
    assert (error.location.path, error.location.line) == ("templates/strict/hello.mjml", 5)
    assert error.variable == "customer.first_name"
    assert error.customer_email == "nameless@example.com"
    assert error.template == "strict/hello"
    text = str(error)
    assert text.startswith("templates/strict/hello.mjml:5:")
    for part in ("strict/hello", "customer.first_name", "nameless@example.com", "default("):
        assert part in text


def test_an_error_inside_a_partial_points_at_the_partial(strict_library: TemplateLibrary) -> None:
    with pytest.raises(RenderError) as caught:
        strict_library.render(
            "strict/hello", customer("a@example.com", "Anna", ticket=False), subject="Hi"
        )
    assert str(caught.value).startswith("templates/partials/sign-off.mjml:3:")
    assert "ticket.reference is missing for customer a@example.com" in str(caught.value)


def test_one_customers_error_does_not_stop_the_batch(strict_library: TemplateLibrary) -> None:
    batch = [
        customer("first@example.com", "Anna"),
        customer("broken@example.com", None),
        customer("third@example.com", "Zoë"),
    ]
    results = strict_library.render_batch("strict/hello", batch, subject="Hi {{ customer.email }}")
    assert [type(r) for r in results] == [RenderedEmail, TemplateRenderError, RenderedEmail]
    first, broken, third = results
    assert isinstance(first, RenderedEmail) and isinstance(third, RenderedEmail)
    assert "Hello Anna, size ?" in first.text and "Bye Zoë" in third.text
    assert isinstance(broken, TemplateRenderError)
    assert broken.customer_email == "broken@example.com"


def test_fallbacks_and_tests_make_missing_values_safe(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template(
        "safe",
        "<mjml><mj-body><mj-section><mj-column><mj-text>"
        "Hi {{ customer.first_name | default('there') }}"
        "{% if customer.city %} in {{ customer.city }}{% endif %}"
        "{% if customer.attributes.waist == '32' %} waist 32{% endif %}"
        "{% if customer.first_name is defined %}!{% endif %}."
        "</mj-text></mj-column></mj-section></mj-body></mjml>",
    )
    email = scratch_library.render("safe", customer("x@example.com", None), subject="S")
    assert email.text.strip() == "Hi there."


def test_a_misspelt_name_fails_even_in_a_condition(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template(
        "typo",
        "<mjml><mj-body><mj-section><mj-column>\n"
        "<mj-text>{% if custmer.city %}x{% endif %}</mj-text>\n"
        "</mj-column></mj-section></mj-body></mjml>",
    )
    with pytest.raises(TemplateRenderError) as caught:
        scratch_library.render("typo", customer("t@example.com", "Tom"), subject="S")
    assert caught.value.variable == "custmer"
    assert "custmer is not defined" in str(caught.value)
    assert str(caught.value).startswith("templates/typo.mjml:2:")


def test_a_missing_value_in_the_subject_names_the_subject(strict_library: TemplateLibrary) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        strict_library.render(
            "strict/hello", customer("s@example.com", "Sam"), subject="Hi {{ customer.nickname }}"
        )
    assert caught.value.part == "subject"
    assert "customer.nickname is missing for customer s@example.com" in str(caught.value)
    assert "Hi {{ customer.nickname }}" in str(caught.value)


def test_a_template_that_does_not_exist_is_a_source_error(library: TemplateLibrary) -> None:
    from mailengine.errors import SourceError

    with pytest.raises(SourceError, match="does not exist"):
        library.render("welcome/nope", customer("a@example.com", "A"), subject="S")
    with pytest.raises(SourceError, match="not valid"):
        library.render("../pyproject", customer("a@example.com", "A"), subject="S")
    with pytest.raises(SourceError, match="is a partial"):
        library.render("partials/footer", customer("a@example.com", "A"), subject="S")
