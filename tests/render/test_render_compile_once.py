"""Compiling MJML once and running only Jinja per recipient gives the same email as MRML per
recipient, for every shipped template over many generated customers.

Two documents are "the same" when html.parser sees the same tags, attributes (entities decoded),
comments and text, with whitespace runs collapsed (Jinja block tags leave blank lines where MRML
would have none; the compiled HTML is shaped for the wire, see `wire_html`) and with head CSS
rules for classes the document never uses dropped: MRML writes a `.mj-column-per-28` rule for
every column it compiled, so the compiled-once head also holds rules for columns that a false
`{% if %}` removes for this recipient. Inside `<!--[if mso]>` comments the markup Outlook reads
is compared as markup, the comment's start and end as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailengine.render import RenderContext, TemplateLibrary
from mailengine.render.sample_data import sample_contexts

WriteTemplate = Callable[[str, str], Path]

CUSTOMERS_PER_TEMPLATE = 60
_CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_EMPTY_MEDIA = re.compile(r"@media[^{]*\{\s*\}")
_CONDITIONAL = re.compile(r"(\[if [^\]]*\]>)(.*?)(<!\[endif\])?", re.DOTALL)
_SPACE_SEPARATED = {"class", "style"}  # values in which whitespace runs are all the same

Token = tuple[str, ...]


class _Tokens(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[Token] = []
        self.classes: set[str] = set()
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if name == "class" and value:
                self.classes.update(value.split())
        flat = [
            f"{name}={' '.join((value or '').split()) if name in _SPACE_SEPARATED else value or ''}"
            for name, value in sorted(attrs, key=lambda a: a[0])
        ]
        self.tokens.append(("start", tag, *flat))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        self.tokens.append(("end", tag))

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text:
            self.tokens.append(("css" if self._in_style else "text", text))

    def handle_comment(self, data: str) -> None:
        conditional = _CONDITIONAL.fullmatch(data)
        if conditional is None:
            self.tokens.append(("comment", " ".join(data.split())))
            return
        inner = _Tokens()
        inner.feed(conditional[2])
        inner.close()
        self.tokens += [("comment", conditional[1]), *inner.tokens]
        self.tokens += [("comment", conditional[3])] if conditional[3] else []
        self.classes |= inner.classes

    def handle_decl(self, decl: str) -> None:
        self.tokens.append(("decl", decl.lower()))


def normalised(html: str) -> list[Token]:
    parser = _Tokens()
    parser.feed(html)
    parser.close()

    def used_rule(rule: re.Match[str]) -> str:
        classes = re.findall(r"\.([A-Za-z][\w-]*)", rule.group(1))
        return rule.group() if all(c in parser.classes for c in classes) else ""

    result: list[Token] = []
    for token in parser.tokens:
        if token[0] == "css":
            css = _EMPTY_MEDIA.sub("", _CSS_RULE.sub(used_rule, token[1]))
            token = ("text", " ".join(css.split()))
            if not token[1]:
                continue
        if token == ("end", "style") and result and result[-1][:2] == ("start", "style"):
            result.pop()  # a style element left empty
            continue
        result.append(token)
    return result


@pytest.fixture(scope="module")
def customers() -> list[RenderContext]:
    return list(sample_contexts(CUSTOMERS_PER_TEMPLATE, seed=7))


@pytest.mark.parametrize(
    "name",
    [
        "birthday/happy-birthday",
        "double-opt-in/confirm",
        "replenish/time-to-restock",
        "support/autoreply",
        "support/autoreply-unknown",
        "support/reply",
        "support/team-notification",
        "thank-you/how-is-it",
        "thank-you/order-confirmed",
        "vip/welcome-to-vip",
        "welcome/first-order-coupon",
        "welcome/hello",
        "welcome/our-favourites",
        "win-back/coupon",
        "win-back/we-miss-you",
    ],
)
def test_compiled_once_equals_compiled_per_recipient(
    library: TemplateLibrary, customers: list[RenderContext], name: str
) -> None:
    for context in customers:
        email = library.render(
            name, context, subject="Hi {{ customer.first_name | default('you') }}", preheader="P"
        )
        language = library.language_for(context)
        reference = library.render_per_recipient_html(
            name,
            {
                **context,
                "subject": email.subject,
                "preheader": email.preheader,
                "language": language,
            },
        )
        assert normalised(email.html) == normalised(reference), context["customer"]["email"]


def test_the_comparison_notices_a_real_difference(
    library: TemplateLibrary, customers: list[RenderContext]
) -> None:
    context = {**customers[0], "customer": {**customers[0]["customer"], "locale": "en_GB"}}
    email = library.render("welcome/hello", context, subject="Hi")
    reference = library.render_per_recipient_html(
        "welcome/hello", {**context, "subject": "Hi", "preheader": "", "language": "en"}
    )
    assert normalised(email.html) == normalised(reference)
    assert normalised(email.html) != normalised(reference.replace("Welcome,", "Welcome!"))
    assert normalised(email.html) != normalised(reference.replace("<td", '<td lang="x"', 1))


def test_css_inline_applies_inline_styles_without_moving_jinja(library: TemplateLibrary) -> None:
    compiled = library.compiled("thank-you/order-confirmed")
    # `<mj-style inline="inline">` rules reached the elements ...
    assert re.search(r'<span class="price"\s+style="[^"]*white-space: nowrap', compiled.html_source)
    # ... and the item loop is still between the table rows it repeats, not hoisted before it.
    loop = compiled.html_source.index("{% for item in order.items %}")
    assert compiled.html_source.index("{{ item.name }}") > loop
    assert compiled.html_source.index("{% endfor %}") > compiled.html_source.index(
        "{{ item.name }}"
    )


def test_a_loop_between_table_rows_stays_inside_the_table_when_css_is_inlined(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template(
        "orders/table",
        """<mjml>
  <mj-head><mj-style inline="inline">.qty { color: #c8553d; }</mj-style></mj-head>
  <mj-body><mj-section><mj-column>
    <mj-table>
      <tr><th>Item</th><th>Qty</th></tr>
      {% for item in last_order.items %}
      <tr><td>{{ item.name }}</td><td class="qty">{{ item.quantity }}</td></tr>
      {% endfor %}
    </mj-table>
  </mj-column></mj-section></mj-body>
</mjml>
""",
    )
    context = next(
        c
        for c in sample_contexts(50, seed=3)
        if c["last_order"] and len(c["last_order"]["items"]) > 1
    )
    assert context["last_order"] is not None
    email = scratch_library.render("orders/table", context, subject="Orders")
    table = email.html[email.html.index("<th>Item</th>") :]
    table = table[: table.index("</table>")]
    # (a line break may stand before a tag's ">": see wire_html)
    rows = re.findall(r'<td class="qty" style="color: #c8553d;"\s*>(\d+)</td>', table)
    assert rows == [str(item["quantity"]) for item in context["last_order"]["items"]]
    reference = scratch_library.render_per_recipient_html(
        "orders/table", {**context, "subject": "Orders", "preheader": ""}
    )
    assert normalised(email.html) == normalised(reference)
