"""A refused API body names every field that is wrong, as the import names every column."""

from __future__ import annotations

import httpx

from mailengine.store.customers import customer_table
from mailengine.store.database import Database
from tests.web.conftest import AUTH
from tests.web.test_api import count


async def test_every_wrong_field_of_a_customer_is_named(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = {
        "email": "ada@example.com",
        "locale": "xx_YY",
        "timezone": "Mars/Olympus",
        "attributes": {"shoe size": 38},
        "consent": {"status": "granted", "source": "checkout"},
    }
    response = await client.post("/v1/customers", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert [(item["loc"], item["msg"]) for item in response.json()["detail"]] == [
        (["body", "locale"], "'xx_YY' is not a known locale like de_DE"),
        (["body", "timezone"], "'Mars/Olympus' is not a time zone like Europe/Berlin"),
        (["body", "attributes", "shoe size"], "names use letters, digits and _ only"),
    ]
    assert count(database, customer_table) == 0
