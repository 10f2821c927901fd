"""`mailengine import`: every problem of a row, a rejects file to fix and import again, and
rows that repeat an address."""

from __future__ import annotations

import json

from mailengine.store.customers import get_customer
from mailengine.store.orders import orders_of
from tests.cli.conftest import Shop

CUSTOMERS = """\
email,first_name,last_name,birthday,locale,country,attributes.shoe_size
ann@example.com,Ann,Lee,1990-04-23,en_GB,GB,38
broken-address,"Bo
Line",Ray,31/12/1980,xx_YY,Germany,41
cy@example.com,Cy,,,de_DE,DE,
dee@example.com,Dee,,1990-01-01,de_DE,DE,39,surplus
"""


def test_every_problem_of_a_row_is_reported(shop: Shop) -> None:
    path = shop.write("customers.csv", CUSTOMERS)
    done = shop.run("import", "customers", str(path))
    assert done.code == 1
    assert done.err.splitlines() == [
        f"{path}:3: email: 'broken-address' is not a valid e-mail address",
        # a line break in a name would reach mail headers: refused with its reason
        f"{path}:3: first_name: a line break, where one line of text is expected",
        f"{path}:3: locale: 'xx_YY' is not a known locale like de_DE",
        f"{path}:3: birthday: '31/12/1980' is not a date like 1990-04-23",
        f"{path}:3: country: 7 characters, at most 2",
        f"{path}:6: 8 fields where the header has 7",
    ]
    assert done.out == f"{path}: 2 inserted, 0 updated, 2 rejected\n"

    orders = shop.write(
        "orders.csv",
        "external_id,email,channel,amount,currency,placed_at,items\n"
        ',nobody,drone,12.345,EUR,,"[{""name"": ""Shirt"", ""quantity"": 0}, {}]"\n'
        "W2,ann@example.com,online,5.00,US$,2026-11-01,\n",
    )
    done = shop.run("import", "orders", str(orders))
    assert done.code == 1
    assert done.err.splitlines() == [
        f"{orders}:2: external_id: missing",
        f"{orders}:2: email: 'nobody' is not a valid e-mail address",
        f"{orders}:2: channel: 'drone' is not one of online, store",
        f"{orders}:2: amount: '12.345' has more than 2 decimals for EUR",
        f"{orders}:2: placed_at: missing",
        f"{orders}:2: items[1].quantity: must be a whole number of 1 or more",
        f"{orders}:2: items[2].name: missing",
        f"{orders}:3: currency: 'US$' is not a currency code like EUR",
    ]


def test_the_rejects_file_holds_the_rows_as_written_and_imports_again_once_fixed(
    shop: Shop,
) -> None:
    path = shop.write("customers.csv", CUSTOMERS)
    rejects = shop.folder / "rejects.csv"
    done = shop.run("import", "customers", str(path), "--rejects", str(rejects))
    assert done.code == 1
    assert f"rejected rows, each with its reason: {rejects}" in done.err
    written = rejects.read_text(encoding="utf-8")
    assert written == (
        "email,first_name,last_name,birthday,locale,country,attributes.shoe_size,reason\n"
        'broken-address,"Bo\nLine",Ray,31/12/1980,xx_YY,Germany,41,'
        "\"email: 'broken-address' is not a valid e-mail address; first_name: a line break, "
        "where one line of text is expected; locale: 'xx_YY' is not a known locale like "
        "de_DE; birthday: '31/12/1980' is not a date like 1990-04-23; country: 7 characters, "
        'at most 2"\n'
        "dee@example.com,Dee,,1990-01-01,de_DE,DE,39,surplus,8 fields where the header has 7\n"
    )
    fixed = (
        written.replace("broken-address", "bo@example.com")
        .replace("Bo\nLine", "Bo")
        .replace("31/12/1980", "1980-12-31")
        .replace("xx_YY", "de_DE")
        .replace("Germany", "DE")
        .replace(",39,surplus,", ",39,")
    )
    rejects.write_text(fixed, encoding="utf-8")
    again = shop.run("import", "customers", str(rejects))  # the reason column is ignored
    assert (again.code, again.err) == (0, "")
    assert again.out == f"{rejects}: 2 inserted, 0 updated, 0 rejected\n"
    with shop.database() as database, database.session() as session:
        bo = get_customer(session, "bo@example.com")
        dee = get_customer(session, "dee@example.com")
    assert bo is not None and (bo.first_name, bo.locale, bo.country) == ("Bo", "de_DE", "DE")
    assert bo.attributes == {"shoe_size": "41"}
    assert dee is not None and dee.attributes == {"shoe_size": "39"}


def test_a_json_lines_rejects_file_keeps_each_line_as_written(shop: Shop) -> None:
    lines = [
        '{"external_id": "W1", "email": "ann@example.com", "amount": 59.90, '
        '"placed_at": "2026-11-20T10:00:00+01:00"}',
        '{"external_id": "W2", "email": "ann@example.com", "amount": 59.999,  '
        '"placed_at": "2026-11-20T10:00:00+01:00", "status": "lost"}',
        '{"external_id": "W3", "email": "ann@example.com"',
    ]
    path = shop.write("orders.jsonl", "\n".join(lines) + "\n")
    rejects = shop.folder / "rejects.jsonl"
    done = shop.run("import", "orders", str(path), "--rejects", str(rejects))
    assert done.code == 1
    written = rejects.read_text(encoding="utf-8").splitlines()
    assert written[0] == (
        # the line as written (59.999, two spaces), the reason added at its end
        '{"external_id": "W2", "email": "ann@example.com", "amount": 59.999,  '
        '"placed_at": "2026-11-20T10:00:00+01:00", "status": "lost", "reason": '
        "\"amount: '59.999' has more than 2 decimals for EUR; status: 'lost' is not one of "
        'placed, paid, shipped, delivered, cancelled, returned"}'
    )
    unreadable = json.loads(written[1])  # not an object: kept whole, to be rewritten
    assert unreadable["original"] == lines[2]
    assert unreadable["reason"].startswith("not valid JSON: Expecting ',' delimiter")
    assert len(written) == 2
    fixed = written[0].replace("59.999", "59.99").replace('"lost"', '"paid"')
    rejects.write_text(fixed + "\n", encoding="utf-8")
    again = shop.run("import", "orders", str(rejects))
    assert (again.code, again.out) == (0, f"{rejects}: 1 inserted, 0 updated, 0 rejected\n")


def test_a_repeated_address_is_reported_and_the_later_row_wins(shop: Shop) -> None:
    path = shop.write(
        "customers.csv",
        "email,first_name\n"
        "ann@example.com,Ann\n"
        "bo@example.com,Bo\n"
        "Ann@Example.COM,Annie\n"
        "not-an-address,X\n"
        "ann@example.com,Anna\n",
    )
    done = shop.run("import", "customers", str(path))
    assert done.code == 1  # for the bad address; the repeats are imported as documented
    assert done.err.splitlines() == [
        f"{path}:5: email: 'not-an-address' is not a valid e-mail address",
        f"{path}:4: email: 'ann@example.com' is also on line 2; the later row wins",
        f"{path}:6: email: 'ann@example.com' is also on line 2; the later row wins",
    ]
    assert done.out == f"{path}: 2 inserted, 2 updated, 1 rejected, 2 repeated\n"
    with shop.database() as database, database.session() as session:
        ann = get_customer(session, "ann@example.com")
    assert ann is not None and ann.first_name == "Anna"

    orders = shop.write(
        "orders.csv",
        "external_id,email,amount,status,placed_at\n"
        "W1,ann@example.com,10.00,placed,2026-11-20\n"
        "W1,ann@example.com,10.00,cancelled,2026-11-20\n",
    )
    done = shop.run("import", "orders", str(orders))
    assert done.code == 0
    assert done.err == f"{orders}:3: external_id: 'W1' is also on line 2; the later row wins\n"
    with shop.database() as database, database.session() as session:
        assert ann.id is not None
        assert [order.status for order in orders_of(session, ann.id)] == ["cancelled"]
