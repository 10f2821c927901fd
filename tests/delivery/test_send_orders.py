"""A send whose templates do not name `orders` gets only its latest order and the one it is
about: the same `last_order` as with every order made, the list back as soon as the
template, its subject or preheader (or a translation of one) names it."""

from __future__ import annotations

import os
from pathlib import Path

from mailengine.addresses import address_hash
from mailengine.config import Settings
from mailengine.outbound.composer import Composer
from mailengine.outbound.order_contexts import order_context, order_contexts
from mailengine.outbound.send_context import latest_order
from mailengine.render.library import TemplateLibrary
from mailengine.render.template_sources import TemplateSources
from mailengine.store.recipients import RecipientSnapshot
from mailengine.store.records import ClaimedSend
from tests.conftest import NOW
from tests.delivery.test_order_contexts import ORDERS

LAST_ONLY = "Last {{ last_order.external_id if last_order else 'none' }}."
EVERY = "All{% for each in orders %} {{ each.external_id }}{% endfor %}."


def _mjml(text: str) -> str:
    return (
        "<mjml><mj-body><mj-section><mj-column>"
        f"<mj-text>{text}</mj-text>"
        "</mj-column></mj-section></mj-body></mjml>\n"
    )


def _send(template: str, subject: str = "Hello", preheader: str | None = None) -> ClaimedSend:
    return ClaimedSend(
        id=1,
        idempotency_key="test:1",
        kind="marketing",
        workflow="test",
        step="1",
        customer_id=1,
        recipient="ann@example.com",
        template=template,
        subject=subject,
        preheader=preheader,
        payload={},
        message_id="<test.1@shop.example>",
        attempts=1,
        created_at=NOW,
    )


EMAIL = "ann@example.com"
# id, address and its hash, profile, consent, forgotten, suppression, orders
ANN = RecipientSnapshot(
    1, EMAIL, address_hash(EMAIL), {"first_name": "Ann"}, "granted", False, None, list(ORDERS)
)


def _composer(folder: Path, **templates: str) -> Composer:
    for name, text in templates.items():
        (folder / f"{name}.mjml").write_text(_mjml(text), encoding="utf-8")
    library = TemplateLibrary(folder, auto_reload=True)
    return Composer(Settings(), library, b"k" * 32)


def test_the_latest_order_is_the_one_the_sorted_list_starts_with() -> None:
    assert latest_order([]) is None
    for count in range(1, len(ORDERS) + 1):
        orders = ORDERS[:count]
        latest = latest_order(orders)
        assert latest is not None
        assert order_context(latest) == order_contexts(orders)[0]


def test_a_template_without_orders_gets_the_same_latest_order(tmp_path: Path) -> None:
    composer = _composer(tmp_path, last=LAST_ONLY)
    context, _ = composer._send_context(_send("last"), ANN, NOW, None, None)
    full = composer.context(ANN, NOW, None, {}, composer.links(ANN.email_hash, NOW, 1), 1)
    assert "orders" not in context and len(full["orders"]) == len(ORDERS)
    assert context["last_order"] == full["last_order"] == order_contexts(ORDERS)[0]
    assert list(context) == [key for key in full if key != "orders"]
    assert "Last A-1." in composer.rendered(_send("last"), ANN, NOW).text


def test_orders_named_anywhere_are_made(tmp_path: Path) -> None:
    composer = _composer(tmp_path, last=LAST_ONLY, every=EVERY)
    everyone = " ".join(order["external_id"] for order in order_contexts(ORDERS))
    assert f"All {everyone}." in composer.rendered(_send("every"), ANN, NOW).text
    by_subject = composer.rendered(_send("last", "{{ orders | length }} orders"), ANN, NOW)
    assert by_subject.subject == f"{len(ORDERS)} orders"
    by_preheader = _send("last", preheader="You ordered {{ orders | length }} times")
    assert composer.rendered(by_preheader, ANN, NOW).preheader == "You ordered 5 times"


def test_an_edited_template_naming_orders_gets_them(tmp_path: Path) -> None:
    composer = _composer(tmp_path, mail=LAST_ONLY)
    assert "Last A-1." in composer.rendered(_send("mail"), ANN, NOW).text
    file = tmp_path / "mail.mjml"
    file.write_text(_mjml(EVERY), encoding="utf-8")
    later = file.stat().st_mtime_ns + 5_000_000_000
    os.utime(file, ns=(later, later))
    assert "All A-1" in composer.rendered(_send("mail"), ANN, NOW).text
    kept = TemplateSources("mail", {"mail.mjml": _mjml(LAST_ONLY)})
    context, _ = composer._send_context(_send("mail"), ANN, NOW, None, kept)
    assert "orders" not in context  # the stored version renders, not the file
