"""Every shipped template renders for 1,000 varied customers into sound, escaped email."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from mailengine.errors import RenderError
from mailengine.render import RenderContext, RenderedEmail, TemplateLibrary

SHIPPED = [
    "birthday/happy-birthday",
    "double-opt-in/confirm",
    "newsletter/newsletter",  # the example broadcasts'
    "replenish/time-to-restock",
    "reviews/invitation",
    "support/autoreply",
    "support/autoreply-unknown",
    "support/reply",
    "support/team-notification",
    "thank-you/how-is-it",
    "thank-you/how-likely",
    "thank-you/order-confirmed",
    "vip/welcome-to-vip",
    "welcome/first-order-coupon",
    "welcome/hello",
    "welcome/our-favourites",
    "win-back/coupon",
    "win-back/we-miss-you",
]
SUBJECT = "{{ customer.first_name | default('Hello') }}, news from {{ sender.name }}"
PREHEADER = "{% if customer.city %}For you in {{ customer.city }}{% else %}Just for you{% endif %}"
LEFTOVER = re.compile(r"\{\{|\{%|\{#|%\}|\}\}")
# Layout markup only: customer data may legitimately contain "<b>" or "<script>" as text.
MARKUP = re.compile(r"</?(?:a|p|div|span|table|tbody|tr|td|th|img|br|strong|h[1-6]|style)\b[^>]*>")
VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip
# html.parser costs ~2 ms per email; every 4th customer gets the full structural parse,
# all 1,000 get the render, leftover, alt and escaping checks.
PARSE_EVERY = 4
# Service mail (order mail, support, double opt-in) reaches the reader whatever they chose:
# it offers the preferences link, never an unsubscribe link.
UNSUBSCRIBE = {"en": "Unsubscribe", "de": "Abmelden", "fr": "Se désinscrire"}
SERVICE_MAIL = ("support/", "double-opt-in/", "thank-you/")


class StructureChecker(HTMLParser):
    """Parses a document and records unbalanced elements and images without alt."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images += 1
            if "alt" not in dict(attrs):
                self.problems.append(f"<img {attrs}> has no alt")
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> while <{self.open[-1] if self.open else ''}> is open")
            return
        self.open.pop()


def structure_problems(html: str) -> tuple[list[str], int]:
    checker = StructureChecker()
    checker.feed(html)
    checker.close()
    problems = checker.problems + ([f"never closed: {checker.open}"] if checker.open else [])
    return problems, checker.images


def test_the_shipped_template_names_are_exactly_the_ones_workflows_and_broadcasts_use(
    library: TemplateLibrary,
) -> None:
    assert library.names() == SHIPPED


def test_shipped_templates_pass_every_static_check(library: TemplateLibrary) -> None:
    assert [str(problem) for problem in library.check_all()] == []


@pytest.mark.parametrize("name", SHIPPED)
def test_template_renders_for_a_thousand_customers(
    library: TemplateLibrary, thousand_customers: list[RenderContext], name: str
) -> None:
    results = library.render_batch(name, thousand_customers, subject=SUBJECT, preheader=PREHEADER)
    errors = [str(r) for r in results if isinstance(r, RenderError)]
    assert errors == []
    images_seen = 0
    for number, (context, email) in enumerate(zip(thousand_customers, results, strict=True)):
        assert isinstance(email, RenderedEmail)
        for part in (email.subject, email.preheader, email.html, email.text):
            assert not LEFTOVER.search(part), f"Jinja left in output for {context['customer']}"
        assert "\n" not in email.subject and "\r" not in email.subject
        assert email.html.startswith("<!DOCTYPE html>")
        assert all(re.search(r"\salt=", tag) for tag in re.findall(r"<img\b[^>]*>", email.html))
        assert "<script>" not in email.html and "<b>Bold</b>" not in email.html
        assert not MARKUP.search(email.text), "markup in the text part"
        unsubscribe = UNSUBSCRIBE[context["customer"]["locale"].split("_")[0]]
        if name.startswith(SERVICE_MAIL):  # service mail: no unsubscribe
            assert context["links"]["unsubscribe_url"] not in email.text
        else:
            assert f"{unsubscribe} ({context['links']['unsubscribe_url']})" in email.text
            assert context["links"]["unsubscribe_url"].replace("&", "&amp;") in email.html
        if name != "support/team-notification":  # internal mail carries no postal address
            assert context["sender"]["postal_address_lines"][1] in email.text
        if number % PARSE_EVERY == 0:
            problems, images = structure_problems(email.html)
            assert problems == [], f"{name} for {context['customer']['email']}"
            images_seen += images
    if name in ("welcome/our-favourites", "birthday/happy-birthday", "thank-you/how-is-it"):
        assert images_seen > 0


def test_customer_data_is_personalised_where_the_templates_promise_it(
    library: TemplateLibrary, thousand_customers: list[RenderContext]
) -> None:
    sized = next(
        c for c in thousand_customers
        if c["customer"]["attributes"].get("shirt_size") == "M"
        and "first_name" in c["customer"] and "city" in c["customer"]
    )  # fmt: skip
    favourites = library.render("welcome/our-favourites", sized, subject="Picks")
    assert "We picked these in your size M" in favourites.text
    assert "c/shirts?size=M" in favourites.html
    back = library.render("win-back/we-miss-you", sized, subject="Hi")
    assert f"Near {sized['customer']['city']}?" in back.text


def test_support_autoreply_tells_a_known_customer_about_their_latest_order(
    library: TemplateLibrary, thousand_customers: list[RenderContext]
) -> None:
    context = next(
        c for c in thousand_customers
        if c["ticket"] and c["last_order"] and "expected_ship_date" in c["last_order"]
        and c["customer"]["locale"] == "en_US"
    )  # fmt: skip
    order = context["last_order"]
    assert order is not None and context["ticket"] is not None
    email = library.render("support/autoreply", context, subject="Re: {{ ticket.subject }}")
    assert "A person from our team will answer shortly" in email.text
    assert f"Your reference is {context['ticket']['reference']}" in email.text
    assert f"Order {order['external_id']}" in email.text
    assert "Expected to ship on" in email.text
    assert f"Quantity {order['items'][0]['quantity']}" in email.text
    assert email.subject == "Re: " + " ".join(context["ticket"]["subject"].split())
    unknown = library.render("support/autoreply-unknown", context, subject="Thanks")
    assert "a person from our team will answer shortly" in unknown.text
    assert "Unsubscribe" not in unknown.text
