"""The text part is derived once from the compiled HTML and reads well."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mailengine.render import TemplateLibrary
from mailengine.render.sample_data import sample_contexts
from mailengine.render.text_part import html_to_text_template, tidy_text

WriteTemplate = Callable[[str, str], Path]


def test_links_images_tables_and_hidden_parts(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template(
        "text/demo",
        """<mjml>
<mj-head><mj-preview>Hidden preview text</mj-preview><mj-title>Title</mj-title></mj-head>
<mj-body><mj-section><mj-column>
  <mj-image src="https://x.example/logo.png" alt="Shop logo" href="{{ links.shop_url }}" />
  <mj-image src="https://x.example/deco.png" alt="" />
  <mj-text><h1>Hello {{ customer.email }}</h1><p>First paragraph with <strong>bold</strong> and
     <a href="{{ links.preferences_url }}">your preferences</a>.</p><p>Second line<br/>broken.</p>
     <ul><li>One</li><li>Two</li></ul></mj-text>
  <mj-button href="{{ links.shop_url }}/new">See what is new</mj-button>
  <mj-table>
    <tr><th>Item</th><th>Qty</th></tr>
    {% for item in last_order.items %}
    <tr><td>{{ item.name }}</td><td>{{ item.quantity }}</td></tr>{% endfor %}
  </mj-table>
  <mj-text><a href="mailto:help@x.example">help@x.example</a></mj-text>
</mj-column></mj-section></mj-body></mjml>
""",
    )
    context = next(c for c in sample_contexts(40, seed=11) if c["last_order"])
    assert context["last_order"] is not None
    email = scratch_library.render("text/demo", context, subject="S")
    shop = context["links"]["shop_url"]
    rows = [f"{i['name']} | {i['quantity']}" for i in context["last_order"]["items"]]
    assert (
        email.text
        == "\n\n".join(
            [
                f"Shop logo ({shop})",
                f"Hello {context['customer']['email']}",
                "First paragraph with bold and your preferences "
                f"({context['links']['preferences_url']}).",
                "Second line\nbroken.",
                "- One\n- Two",
                f"See what is new ({shop}/new)",
                "\n".join(["Item | Qty", *rows]),
                "help@x.example",
            ]
        )
        + "\n"
    )
    assert "Hidden preview text" not in email.text and "Title" not in email.text


def test_false_conditions_leave_no_gaps(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template(
        "text/conditions",
        "<mjml><mj-body>\n"
        "<mj-section><mj-column><mj-text>Top</mj-text></mj-column></mj-section>\n"
        "{% if coupon %}<mj-section><mj-column><mj-text>Code {{ coupon.code }}</mj-text>"
        "</mj-column></mj-section>{% endif %}\n"
        "<mj-section><mj-column><mj-text>{% if customer.city %}In {{ customer.city }}"
        "{% endif %}</mj-text><mj-text>Bottom</mj-text></mj-column></mj-section>\n"
        "</mj-body></mjml>\n",
    )
    for context in sample_contexts(30, seed=2):
        text = scratch_library.render("text/conditions", context, subject="S").text
        expected = ["Top"]
        if context["coupon"]:
            expected.append(f"Code {context['coupon']['code']}")
        if "city" in context["customer"]:
            expected.append(f"In {context['customer']['city']}")
        assert text == "\n\n".join([*expected, "Bottom"]) + "\n"


def test_the_text_template_is_made_once_and_only_jinja_runs_per_recipient(
    library: TemplateLibrary,
) -> None:
    compiled = library.compiled("welcome/hello")
    assert compiled.text_source == html_to_text_template(compiled.html_source)
    assert "{{ links.unsubscribe_url }}" in compiled.text_source
    assert "<" not in re.sub(r"\{[{%].*?[}%]\}", "", compiled.text_source)
    for context in sample_contexts(20, seed=4):
        # English copy (the sample customers' de_DE and fr_FR get theirs: see translations)
        context = {**context, "customer": {**context["customer"], "locale": "en_GB"}}
        values = {**context, "subject": "S", "preheader": "", "language": "en"}
        email = library.render("welcome/hello", context, subject="S")
        assert email.text == tidy_text(compiled.text.render(values))
        assert f"Unsubscribe ({context['links']['unsubscribe_url']})" in email.text
        assert f"Email preferences ({context['links']['preferences_url']})" in email.text
