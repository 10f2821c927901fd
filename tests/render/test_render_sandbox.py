"""Templates run sandboxed and escaped; subjects and preheaders stay on one line."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from markupsafe import Markup, escape

from mailengine.errors import RenderError
from mailengine.render import (
    CustomerData,
    LinksData,
    OrderData,
    OrderItemData,
    RenderContext,
    SenderData,
    TemplateLibrary,
    build_context,
)
from mailengine.render.environment import html_environment, output_escape

WriteTemplate = Callable[[str, str], Path]
NASTY = '<script>alert("x")</script> & O\'Brien'


def context(first_name: str = NASTY, city: str | None = "Köln") -> RenderContext:
    from datetime import UTC, datetime
    from decimal import Decimal

    order = OrderData(
        external_id="FF-1",
        channel="online",
        placed_at=datetime(2025, 5, 1, 12, tzinfo=UTC),
        status="processing",
        amount=Decimal("20.00"),
        currency="EUR",
        items=[OrderItemData("SKU-1", "Shirt <slim>", 2, Decimal("10.00"), size="M")],
    )
    return build_context(
        customer=CustomerData(email="evil@example.com", first_name=first_name, city=city),
        links=LinksData("https://x.example/u?a=1&b=2", "https://x.example/p", "https://x.example"),
        sender=SenderData("Shop", "shop@x.example", "Street 1"),
        orders=[order],
    )


def body(text: str) -> str:
    return (
        "<mjml><mj-body><mj-section><mj-column>\n"
        f"<mj-text>{text}</mj-text>\n"
        "</mj-column></mj-section></mj-body></mjml>\n"
    )


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ customer.attributes.clear() }}",
        "{{ last_order['items'].append(1) }}",
    ],
)
def test_the_sandbox_refuses_reaching_outside_the_data(
    write_template: WriteTemplate, scratch_library: TemplateLibrary, expression: str
) -> None:
    write_template("escape", body(expression))
    with pytest.raises(RenderError) as caught:
        scratch_library.render("escape", context(), subject="S")
    assert "evil@example.com" in str(caught.value)
    assert "sandbox refused" in str(caught.value) or "unsafe" in str(caught.value)


def test_customer_data_is_escaped_in_html_and_raw_in_text(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template(
        "hello",
        "<mjml><mj-body><mj-section><mj-column>\n"
        "<mj-text>Hi {{ customer.first_name }}</mj-text>\n"
        '<mj-image src="https://x.example/a.png" alt="{{ customer.first_name }}" />\n'
        '<mj-button href="{{ links.unsubscribe_url }}">Leave</mj-button>\n'
        "{% for item in last_order.items %}<mj-text>{{ item.name }} ({{ item.size }})</mj-text>"
        "{% endfor %}\n"
        "</mj-column></mj-section></mj-body></mjml>\n",
    )
    email = scratch_library.render("hello", context(), subject="S")
    assert "<script>" not in email.html
    assert "Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; O&#39;Brien" in email.html
    assert 'alt="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; O&#39;Brien"' in email.html
    assert 'href="https://x.example/u?a=1&amp;b=2"' in email.html
    assert "Shirt &lt;slim&gt; (M)" in email.html  # `order.items` is the key, not dict.items
    assert f"Hi {NASTY}" in email.text
    assert "Leave (https://x.example/u?a=1&b=2)" in email.text


@pytest.mark.parametrize("separator", ["\r\n", "\n", "\r", "\u2028", "\x85", "\x0b", "\t"])
def test_subject_and_preheader_never_carry_line_breaks_from_data(
    write_template: WriteTemplate, scratch_library: TemplateLibrary, separator: str
) -> None:
    write_template("hello", body("Hi"))
    injected = f"Anna{separator}Bcc: victim@example.com"
    email = scratch_library.render(
        "hello",
        context(first_name=injected, city=f"Paris{separator}"),
        subject="Hello {{ customer.first_name }} <&>",
        preheader="In {{ customer.city }}\n  and more",
    )
    assert email.subject == "Hello Anna Bcc: victim@example.com <&>"
    assert email.preheader == "In Paris and more"
    for value in (email.subject, email.preheader):
        assert not any(ch in value for ch in "\r\n\u2028\x85\x0b\t")


@pytest.mark.parametrize(
    "line",
    ["Neu eingetroffen, in deiner Größe.", " a \r\n b\t\x85c\u2028 ", "100 % } > <&>", ""],
)
def test_a_line_without_jinja_renders_as_jinja_renders_it(
    write_template: WriteTemplate, scratch_library: TemplateLibrary, line: str
) -> None:
    """(it is not handed to Jinja: a subject or preheader without "{" is the text itself)"""
    write_template("hello", body("Hi"))
    email = scratch_library.render("hello", context(), subject="S", preheader=line + "{{ '' }}")
    plain = scratch_library.render("hello", context(), subject="S", preheader=line)
    assert plain.preheader == email.preheader


def test_the_subject_reaches_the_html_title_escaped(library: TemplateLibrary) -> None:
    email = library.render("welcome/hello", context(), subject="{{ customer.first_name }}\r\n!")
    assert email.subject == f"{NASTY} !"
    title = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; O&#39;Brien !"
    # (a line break may come before a tag's ">": the HTML goes as 7bit in short lines)
    assert re.search(rf"<title\s*>{re.escape(title)}</title\s*>", email.html)


def test_templates_cannot_see_config_or_the_environment(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template("peek", body("{{ config }}{{ environ }}{{ os }}"))
    with pytest.raises(RenderError, match="config is not defined"):
        scratch_library.render("peek", context(), subject="S")


@pytest.mark.parametrize(
    "value",
    ["plain", "<a href=\"x\">'&'</a>", "", "ünï €", Markup("<b>kept</b>"), 42, Decimal("1.50")],
)
def test_output_is_escaped_as_markupsafe_escapes(value: object) -> None:
    env = html_environment()
    assert output_escape(value) == str(escape(value))
    assert env.from_string("{{ v }}").render(v=value) == str(escape(value))


def test_any_callable_a_template_may_call_is_called_as_before() -> None:
    """Translation calls are told apart by identity: an unhashable callable is no problem."""

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def method(self) -> str:
            return "method"

        def __call__(self) -> str:
            return "called"

    env = html_environment()
    rendered = env.from_string("{{ u.method() }} {{ u() }} {{ d.items() | list }}").render(
        u=Unhashable(), d={"a": 1}
    )
    assert rendered == "method called [(&#39;a&#39;, 1)]"
