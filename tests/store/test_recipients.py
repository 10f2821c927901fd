"""Send-time snapshots of customers on SQLite and PostgreSQL: profile, consent, orders, blocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mailengine.store.customers import get_customer, upsert_customers
from mailengine.store.database import Database
from mailengine.store.orders import upsert_orders
from mailengine.store.privacy import forget_customer
from mailengine.store.recipients import (
    OrderSnapshot,
    load_recipients,
    load_recipients_of,
    suppressions_of,
)
from mailengine.store.records import (
    ClaimedSend,
    ConsentStatement,
    CustomerUpsert,
    OrderUpsert,
    order_about,
)
from mailengine.store.suppressions import suppress
from tests.conftest import NOW

PROFILE_KEYS = {
    "email", "first_name", "last_name", "locale", "timezone", "birthday", "zip", "city",
    "country", "attributes", "consent_status", "forgotten_at", "orders_count",
    "total_spent_minor", "last_order_at",
}  # fmt: skip


def _order(external_id: str, email: str, placed_at: datetime, **extra: object) -> OrderUpsert:
    values: dict[str, object] = {
        "external_id": external_id,
        "email": email,
        "channel": "online",
        "amount_minor": 2490,
        "currency": "EUR",
        "base_amount_minor": 2490,
        "placed_at": placed_at,
        "items": [{"sku": external_id, "name": "T-shirt", "quantity": 1}],
    }
    values.update(extra)
    return OrderUpsert(**values)  # type: ignore[arg-type]


def _ids(database: Database, *emails: str) -> list[int]:
    with database.session() as session:
        customers = [get_customer(session, email) for email in emails]
    return [customer.id for customer in customers if customer is not None and customer.id]


def test_a_snapshot_holds_the_profile_as_stored(database: Database) -> None:
    granted = ConsentStatement("granted", "checkout", NOW - timedelta(days=3))
    ann = CustomerUpsert(
        email="ann@example.com",
        fields={
            "first_name": "Ann",
            "last_name": "Lee",
            "locale": "de-DE",
            "timezone": "Europe/Berlin",
            "birthday": date(1990, 2, 28),
            "zip": "10115",
            "city": "Berlin",
            "country": "DE",
        },
        attributes={"tier": "gold", "sizes": ["M", "L"]},
        consent=granted,
    )
    with database.transaction() as session:
        upsert_customers(session, [ann, CustomerUpsert(email="bob@example.com")], NOW)
        upsert_orders(
            session,
            [
                _order(
                    "W1",
                    "ann@example.com",
                    NOW - timedelta(days=2),
                    channel="store",
                    store_location="Berlin Mitte",
                    shipped_at=NOW - timedelta(days=1),
                    expected_ship_date=date(2026, 11, 20),
                )
            ],
            NOW,
        )
    ann_id, bob_id = _ids(database, "ann@example.com", "bob@example.com")
    with database.session() as session:
        loaded = load_recipients(session, [ann_id, bob_id, ann_id, 999_999])
    assert set(loaded) == {ann_id, bob_id}
    snapshot = loaded[ann_id]
    assert (snapshot.id, snapshot.email, snapshot.consent_status) == (
        ann_id,
        "ann@example.com",
        "granted",
    )
    assert len(snapshot.email_hash) == 64
    assert (snapshot.forgotten, snapshot.suppression) == (False, None)
    assert set(snapshot.profile) == PROFILE_KEYS
    assert snapshot.profile["first_name"] == "Ann"
    assert snapshot.profile["birthday"] == date(1990, 2, 28)
    assert snapshot.profile["attributes"] == {"tier": "gold", "sizes": ["M", "L"]}
    assert (snapshot.profile["orders_count"], snapshot.profile["total_spent_minor"]) == (1, 2490)
    assert snapshot.profile["forgotten_at"] is None
    last_order_at = snapshot.profile["last_order_at"]
    assert last_order_at == NOW - timedelta(days=2)
    assert last_order_at.tzinfo == UTC
    assert snapshot.orders == [
        OrderSnapshot(
            external_id="W1",
            channel="store",
            store_location="Berlin Mitte",
            amount_minor=2490,
            currency="EUR",
            status="placed",
            items=[{"sku": "W1", "name": "T-shirt", "quantity": 1}],
            placed_at=NOW - timedelta(days=2),
            shipped_at=NOW - timedelta(days=1),
            expected_ship_date=date(2026, 11, 20),
        )
    ]
    order = snapshot.orders[0]
    assert order.placed_at.tzinfo == UTC
    assert order.shipped_at is not None
    assert order.shipped_at.tzinfo == UTC
    bob = loaded[bob_id]
    assert (bob.consent_status, bob.orders, bob.profile["attributes"]) == ("unknown", [], {})
    assert bob.profile["last_order_at"] is None


def test_orders_are_the_newest_first_and_limited(database: Database) -> None:
    placed = [NOW - timedelta(days=days) for days in (9, 1, 5, 3, 7, 1)]
    with database.transaction() as session:
        upsert_orders(
            session,
            [_order(f"A{n}", "ann@example.com", at) for n, at in enumerate(placed)]
            + [_order("B0", "bob@example.com", NOW - timedelta(days=4))],
            NOW,
        )
    ann_id, bob_id = _ids(database, "ann@example.com", "bob@example.com")
    with database.session() as session:
        three = load_recipients(session, [ann_id, bob_id], orders_each=3)
        every = load_recipients(session, [ann_id], orders_each=10)
        none = load_recipients(session, [ann_id], orders_each=0)
    # A1 and A5 were placed at the same moment: the later order (A5) comes first.
    assert [o.external_id for o in three[ann_id].orders] == ["A5", "A1", "A3"]
    assert [o.external_id for o in three[bob_id].orders] == ["B0"]
    assert [o.external_id for o in every[ann_id].orders] == ["A5", "A1", "A3", "A2", "A4", "A0"]
    assert none[ann_id].orders == []


def test_suppressed_and_forgotten_customers_say_so(database: Database) -> None:
    with database.transaction() as session:
        upsert_customers(
            session,
            [CustomerUpsert(email=f"{name}@example.com") for name in ("ann", "bob", "cy")],
            NOW,
        )
    ann_id, bob_id, cy_id = _ids(database, "ann@example.com", "bob@example.com", "cy@example.com")
    with database.transaction() as session:
        suppress(session, "ANN@example.com", "complaint", NOW)
        forget_customer(session, "bob@example.com", NOW)
    with database.session() as session:
        loaded = load_recipients(session, [ann_id, bob_id, cy_id])
        assert load_recipients(session, []) == {}
        strangers = suppressions_of(session, ["Bob@Example.com", "dan@example.com"])
    assert (loaded[ann_id].suppression, loaded[ann_id].forgotten) == ("complaint", False)
    assert loaded[bob_id].forgotten
    assert loaded[bob_id].profile["forgotten_at"] == NOW
    assert (loaded[cy_id].suppression, loaded[cy_id].forgotten) == (None, False)
    assert strangers == {"Bob@Example.com": "forgotten"}


def _claimed(customer_id: int, payload: dict[str, object]) -> ClaimedSend:
    return ClaimedSend(
        id=1,
        idempotency_key=f"k{customer_id}",
        kind="transactional",
        workflow="thank-you",
        step="1",
        customer_id=customer_id,
        recipient="x@example.com",
        template="thank-you/order-confirmed",
        subject="s",
        preheader=None,
        payload=payload,
        message_id="<m@x>",
        attempts=0,
        created_at=NOW,
    )


def test_a_snapshot_holds_the_order_a_send_is_about_however_old(database: Database) -> None:
    with database.transaction() as session:
        upsert_customers(
            session,
            [CustomerUpsert(email="ann@example.com"), CustomerUpsert("bob@example.com")],
            NOW,
        )
        orders = [
            _order(f"A{day}", "ann@example.com", NOW - timedelta(days=day)) for day in range(1, 9)
        ]
        upsert_orders(session, [*orders, _order("B1", "bob@example.com", NOW)], NOW)
    ann_id, bob_id = _ids(database, "ann@example.com", "bob@example.com")
    sends = [
        _claimed(ann_id, {"trigger": {"event": "order.placed", "external_id": "A8"}}),
        _claimed(ann_id, {"order": "A2"}),
        _claimed(bob_id, {"trigger": {"event": "order.placed", "order": "A7"}}),  # not his
    ]
    with database.session() as session:
        loaded = load_recipients_of(session, sends)
    ann, bob = loaded[ann_id], loaded[bob_id]
    assert [order.external_id for order in ann.orders] == ["A1", "A2", "A3", "A4", "A5"]
    old = ann.order("A8")  # older than the five newest: loaded because a send is about it
    assert old is not None and old.placed_at == NOW - timedelta(days=8)
    assert ann.order("A2") == ann.orders[1]
    assert ann.order(None) is None and ann.order("B1") is None
    assert bob.order("A7") is None  # another customer's order is never shown
    assert [order_about(send.payload) for send in sends] == ["A8", "A2", "A7"]
    assert order_about({"trigger": {"event": "customer.created"}}) is None
