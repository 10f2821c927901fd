"""The plain data a template sees: built from plain values, never from ORM rows or config.

Templates get nested plain dicts, lists, strings, numbers, Decimals, dates and aware datetimes.
A field the data does not have is left out of its dict (not set to None): printing it fails for
that one customer, naming the variable, unless the template gives a fallback
(`{{ customer.first_name | default("there") }}`), while `{% if customer.city %}` is simply false.
The sections that may be absent as a whole (`coupon`, `order`, `last_order`, `ticket`,
`broadcast`, and `customer.predictions` until the customer is predicted) are None. `order`
is the order this mail is about (the one whose `order.placed` enrolled the customer);
`last_order` is the customer's most recent order by date, whichever it is. `broadcast` is
the broadcast a mail is part of, with the free `content` of its file. `customer.polls`,
`polls` and `questionnaires` are described in `customer_polls`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, NotRequired, TypedDict

from mailengine.clock import ensure_aware
from mailengine.render import customer_polls as polls_of
from mailengine.render.customer_predictions import (
    PredictionsContext,
    PredictionsData,
    predictions_context,
)
from mailengine.render.locales import (
    DEFAULT_LOCALE,
    DEFAULT_TIMEZONE,
    normalise_locale,
    normalise_timezone,
)
from mailengine.render.order_context import item_context_of, order_context_of, orders_section

AttributeValue = str | int | Decimal | bool | date | Sequence[str] | None
Channel = Literal["online", "store"]


# --- what callers pass in -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerData:
    """One customer as the store knows them; None means "not known"."""

    email: str
    locale: str = DEFAULT_LOCALE
    timezone: str = DEFAULT_TIMEZONE
    currency: str = "EUR"
    first_name: str | None = None
    last_name: str | None = None
    birthday: date | None = None
    city: str | None = None
    zip: str | None = None
    country: str | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    orders_count: int = 0
    total_spent: Decimal = Decimal(0)
    predictions: PredictionsData | None = None
    polls: Mapping[str, polls_of.PollAnswerData] = field(
        default_factory=dict
    )  # latest answer per poll


@dataclass(frozen=True, slots=True)
class OrderItemData:
    """One line of an order."""

    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    size: str | None = None
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class OrderData:
    """One order, online or in a store."""

    external_id: str
    channel: Channel
    placed_at: datetime
    status: str
    amount: Decimal
    currency: str
    items: Sequence[OrderItemData] = ()
    shipped_at: datetime | None = None
    expected_ship_date: date | None = None


@dataclass(frozen=True, slots=True)
class CouponData:
    """A coupon issued for this send: either a percentage or a fixed amount off."""

    code: str
    expires_at: datetime
    percent: Decimal | int | None = None
    amount: Decimal | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if (self.percent is None) == (self.amount is None):
            raise ValueError(f"coupon {self.code!r} needs exactly one of percent or amount")


@dataclass(frozen=True, slots=True)
class LinksData:
    """Per-recipient links; `assets_url` is where the shipped templates find their images."""

    unsubscribe_url: str
    preferences_url: str
    shop_url: str
    view_in_browser_url: str | None = None
    assets_url: str | None = None
    confirm_url: str | None = None  # double opt-in: the signed confirmation link


@dataclass(frozen=True, slots=True)
class SenderData:
    """Who sends the mail; `postal_address` lines go into every footer."""

    name: str
    address: str
    postal_address: str


@dataclass(frozen=True, slots=True)
class TicketData:
    """A support ticket an autoreply acknowledges."""

    reference: str
    subject: str


@dataclass(frozen=True, slots=True)
class BroadcastData:
    """The broadcast a mail is part of: its name, the variant sent, the file's `content`."""

    name: str
    variant: str
    content: Mapping[str, Any] = field(default_factory=dict)


# --- what templates see ---------------------------------------------------------------------


class ItemContext(TypedDict):
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    size: NotRequired[str]
    image_url: NotRequired[str]


class OrderContext(TypedDict):
    external_id: str
    channel: Channel
    placed_at: datetime
    status: str
    amount: Decimal
    currency: str
    items: list[ItemContext]
    item_count: int
    shipped_at: NotRequired[datetime]
    expected_ship_date: NotRequired[date]


class CustomerContext(TypedDict):
    email: str
    locale: str
    lang: str
    timezone: str
    currency: str
    attributes: dict[str, AttributeValue]
    orders_count: int
    total_spent: Decimal
    predictions: PredictionsContext | None
    polls: dict[str, polls_of.PollAnswerContext]
    first_name: NotRequired[str]
    last_name: NotRequired[str]
    full_name: NotRequired[str]
    birthday: NotRequired[date]
    city: NotRequired[str]
    zip: NotRequired[str]
    country: NotRequired[str]


class CouponContext(TypedDict):
    code: str
    expires_at: datetime
    kind: Literal["percent", "amount"]
    percent: NotRequired[Decimal]
    amount: NotRequired[Decimal]
    currency: NotRequired[str]


class LinksContext(TypedDict):
    unsubscribe_url: str
    preferences_url: str
    shop_url: str
    assets_url: str
    view_in_browser_url: NotRequired[str]
    confirm_url: NotRequired[str]


class SenderContext(TypedDict):
    name: str
    address: str
    postal_address: str
    postal_address_lines: list[str]


class TicketContext(TypedDict):
    reference: str
    subject: str


class BroadcastContext(TypedDict):
    name: str
    variant: str
    content: dict[str, Any]


class RenderContext(TypedDict):
    customer: CustomerContext
    orders: list[OrderContext]
    order: OrderContext | None
    last_order: OrderContext | None
    coupon: CouponContext | None
    links: LinksContext
    sender: SenderContext
    ticket: TicketContext | None
    broadcast: BroadcastContext | None
    polls: dict[str, polls_of.PollBlockContext]
    questionnaires: dict[str, polls_of.QuestionnaireLinkContext]


# --- the builder ----------------------------------------------------------------------------


def build_context(
    *,
    customer: CustomerData,
    links: LinksData,
    sender: SenderData,
    orders: Sequence[OrderData] = (),
    order: OrderData | None = None,
    coupon: CouponData | None = None,
    ticket: TicketData | None = None,
    broadcast: BroadcastData | None = None,
    polls: Mapping[str, polls_of.PollBlockContext] | None = None,
    questionnaires: Mapping[str, polls_of.QuestionnaireLinkContext] | None = None,
) -> RenderContext:
    """Turn plain values into the dict a template renders from (orders most recent first);
    `order` is the order the mail is about, if it is about one."""
    section = orders_section(
        [order_context(each) for each in orders],
        order_context(order) if order is not None else None,
    )
    return {
        "customer": customer_context(customer),
        "orders": section["orders"],
        "order": section["order"],
        "last_order": section["last_order"],
        "coupon": coupon_context(coupon) if coupon is not None else None,
        "links": links_context(links),
        "sender": sender_context(sender),
        "ticket": {"reference": ticket.reference, "subject": ticket.subject} if ticket else None,
        "broadcast": broadcast_context(broadcast) if broadcast is not None else None,
        "polls": polls if polls is not None else {},  # type: ignore[typeddict-item]
        "questionnaires": questionnaires if questionnaires is not None else {},  # type: ignore[typeddict-item]
    }


@lru_cache(maxsize=1024)
def _locale_and_lang(value: str) -> tuple[str, str]:
    """`de_DE` and `de-DE` for a customer's locale as given (naming a Babel locale costs
    some 3 us, for every mail otherwise)."""
    locale = normalise_locale(value)
    return str(locale), locale.language + (f"-{locale.territory}" if locale.territory else "")


def customer_context(customer: CustomerData) -> CustomerContext:
    locale, lang = _locale_and_lang(customer.locale)
    timezone = normalise_timezone(customer.timezone)
    predicted = customer.predictions
    result: CustomerContext = {
        "email": customer.email,
        "locale": locale,
        "lang": lang,
        "timezone": timezone,
        "currency": customer.currency.strip().upper() or "EUR",
        "attributes": {k: v for k, v in customer.attributes.items() if v is not None},
        "orders_count": customer.orders_count,
        "total_spent": Decimal(customer.total_spent),
        "predictions": predictions_context(predicted, timezone) if predicted else None,
        "polls": polls_of.polls_context(customer.polls),
    }
    first, last = _known(customer.first_name), _known(customer.last_name)
    if first:
        result["first_name"] = first
    if last:
        result["last_name"] = last
    if first or last:
        result["full_name"] = " ".join(part for part in (first, last) if part)
    if customer.birthday is not None:
        result["birthday"] = customer.birthday
    for key in ("city", "zip", "country"):
        value = _known(getattr(customer, key))
        if value:
            result[key] = value
    return result


def order_context(order: OrderData) -> OrderContext:
    items = [
        item_context_of(
            sku=item.sku,
            name=item.name,
            quantity=item.quantity,
            unit_price=Decimal(item.unit_price),
            size=item.size,
            image_url=item.image_url,
        )
        for item in order.items
    ]
    return order_context_of(
        external_id=order.external_id,
        channel=order.channel,
        placed_at=order.placed_at,
        status=order.status,
        amount=Decimal(order.amount),
        currency=order.currency,
        items=items,
        shipped_at=order.shipped_at,
        expected_ship_date=order.expected_ship_date,
    )


def coupon_context(coupon: CouponData) -> CouponContext:
    result: CouponContext = {
        "code": coupon.code,
        "expires_at": ensure_aware(coupon.expires_at),
        "kind": "percent" if coupon.percent is not None else "amount",
    }
    if coupon.percent is not None:
        result["percent"] = Decimal(coupon.percent)
    if coupon.amount is not None:
        result["amount"] = Decimal(coupon.amount)
    if coupon.currency:
        result["currency"] = coupon.currency.upper()
    return result


def links_context(links: LinksData) -> LinksContext:
    result: LinksContext = {
        "unsubscribe_url": links.unsubscribe_url,
        "preferences_url": links.preferences_url,
        "shop_url": links.shop_url,
        "assets_url": (links.assets_url or links.shop_url.rstrip("/") + "/email-assets").rstrip(
            "/"
        ),
    }
    if links.view_in_browser_url:
        result["view_in_browser_url"] = links.view_in_browser_url
    if links.confirm_url:
        result["confirm_url"] = links.confirm_url
    return result


def broadcast_context(broadcast: BroadcastData) -> BroadcastContext:
    return {
        "name": broadcast.name,
        "variant": broadcast.variant,
        "content": dict(broadcast.content),
    }


def sender_context(sender: SenderData) -> SenderContext:
    lines = [line.strip() for line in sender.postal_address.splitlines() if line.strip()]
    return {
        "name": sender.name,
        "address": sender.address,
        "postal_address": ", ".join(lines),
        "postal_address_lines": lines,
    }


def _known(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None
