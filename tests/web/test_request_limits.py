"""What a stranger can send the HTTP app: bodies over the cap, deep JSON, line breaks in names."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from mailengine.store.customers import customer_table
from mailengine.store.database import Database
from mailengine.store.events import event_table
from mailengine.store.orders import order_table
from tests.web.conftest import AUTH
from tests.web.test_api import CUSTOMER, ORDER, count

MEGABYTE = 1024 * 1024


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


async def _post_raw(
    base_url: str, head: list[str], body_chunks: int, chunk: bytes
) -> tuple[bytes, int]:
    """POST over a raw socket, writing up to `body_chunks` chunks of the body until the
    server answers; returns (its status line, body bytes written before the answer)."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    written = 0
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("ascii"))
        answer = asyncio.ensure_future(reader.readline())
        for _ in range(body_chunks):
            if answer.done():
                break
            writer.write(chunk)
            try:
                await asyncio.wait_for(writer.drain(), timeout=5)
            except (ConnectionError, TimeoutError):
                break
            written += len(chunk)
        status = await asyncio.wait_for(answer, timeout=10)
    finally:
        writer.close()
    return status, written


async def test_a_declared_100_mb_body_without_a_key_is_refused_before_it_is_read(
    base_url: str,
) -> None:
    head = [
        "POST /v1/events HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {100 * MEGABYTE}",
    ]
    status, written = await _post_raw(base_url, head, 0, b"")
    assert status.startswith(b"HTTP/1.1 413"), status
    assert written == 0


async def test_a_streamed_100_mb_body_is_cut_off_once_it_passes_the_cap(base_url: str) -> None:
    head = [
        "POST /v1/customers HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
    ]
    piece = b"[" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    before = _rss_bytes()
    status, written = await _post_raw(base_url, head, 100 * MEGABYTE // len(piece), chunk)
    assert status.startswith(b"HTTP/1.1 413"), status
    # The answer came after about the cap (1 MB), not after 100 MB; socket buffers add some.
    assert written < 16 * MEGABYTE
    assert _rss_bytes() - before < 40 * MEGABYTE


async def test_five_oversized_bodies_at_once_keep_memory_flat(base_url: str) -> None:
    head = [
        "POST /v1/orders HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
    ]
    piece = b" " * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    before = _rss_bytes()
    answers = await asyncio.gather(
        *(_post_raw(base_url, head, 100 * MEGABYTE // len(piece), chunk) for _ in range(5))
    )
    assert all(status.startswith(b"HTTP/1.1 413") for status, _ in answers), answers
    assert _rss_bytes() - before < 60 * MEGABYTE


async def test_a_body_within_the_cap_still_goes_through(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        refused = await client.post("/v1/customers", json=CUSTOMER)  # no key: still a 401
    assert refused.status_code == 401


async def test_form_posts_are_capped_as_well(base_url: str) -> None:
    body = b"List-Unsubscribe=One-Click&x=" + b"y" * (2 * MEGABYTE)
    head = [
        "POST /u/not-a-token HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/x-www-form-urlencoded",
        "Transfer-Encoding: chunked",
    ]
    chunk = f"{len(body):x}\r\n".encode() + body + b"\r\n"
    status, _ = await _post_raw(base_url, head, 1, chunk)
    assert status.startswith(b"HTTP/1.1 413"), status


def _nested(depth: int) -> str:
    """JSON text of lists and objects nested `depth` deep (built as text: json.dumps itself
    gives up near 1,000 levels)."""
    opening = "".join('{"k": ' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opening + '"leaf"' + closing


@pytest.mark.parametrize("depth", [16, 300, 1000])
@pytest.mark.parametrize(
    ("path", "field"),
    [("/v1/events", "data"), ("/v1/customers", "attributes")],
)
async def test_deeply_nested_json_is_a_422_naming_the_field(
    client: httpx.AsyncClient, database: Database, path: str, field: str, depth: int
) -> None:
    """`{"answers": <depth levels>}` nests depth + 1 deep: one level past the limit at 16."""
    head = '{"type": "quiz.answered", ' if path == "/v1/events" else "{"
    content = f'{head}"email": "ada@example.com", "{field}": {{"answers": {_nested(depth)}}}}}'
    response = await client.post(
        path,
        content=content.encode(),
        headers={
            **AUTH,
            "Idempotency-Key": f"deep-{field}-{depth}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert ["body", field] in [item["loc"] for item in detail]
    assert "levels deep" in detail[0]["msg"]
    assert count(database, event_table) == 0
    assert count(database, customer_table) == 0


async def test_json_nested_beyond_the_parser_is_refused_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    depth = 200_000
    content = b'{"type": "x.y", "email": "ada@example.com", "data": {"a": '
    content += b"[" * depth + b"]" * depth + b"}}"
    response = await client.post(
        "/v1/events",
        content=content,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text


async def test_nesting_up_to_the_limit_is_kept(
    client: httpx.AsyncClient, database: Database
) -> None:
    data = f'{{"answers": {_nested(15)}}}'
    content = f'{{"type": "quiz.answered", "email": "ada@example.com", "data": {data}}}'
    response = await client.post(
        "/v1/events", content=content, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code in (201, 202), response.text
    assert count(database, event_table) == 1


SINGLE_LINE_FIELDS: list[tuple[str, dict[str, Any], tuple[str | int, ...]]] = [
    ("/v1/customers", {**CUSTOMER, "first_name": "Ada\r\nBcc: x@evil.example"}, ("first_name",)),
    ("/v1/customers", {**CUSTOMER, "last_name": "Love\nlace"}, ("last_name",)),
    ("/v1/customers", {**CUSTOMER, "city": "Ber\tlin"}, ("city",)),
    ("/v1/customers", {**CUSTOMER, "zip": "10115\r"}, ("zip",)),
    ("/v1/customers", {**CUSTOMER, "locale": "de\u2028DE"}, ("locale",)),
    (
        "/v1/customers",
        {**CUSTOMER, "consent": {"status": "granted", "source": "a\nb"}},
        ("consent", "source"),
    ),
    ("/v1/orders", {**ORDER, "external_id": "SO-1\r\n"}, ("external_id",)),
    ("/v1/orders", {**ORDER, "store_location": "Main\nStreet"}, ("store_location",)),
    ("/v1/orders", {**ORDER, "items": [{"name": "Linen\r\nshirt"}]}, ("items", 0, "name")),
    ("/v1/orders", {**ORDER, "items": [{"name": "Shirt", "size": "M\n"}]}, ("items", 0, "size")),
]


@pytest.mark.parametrize(("path", "body", "field"), SINGLE_LINE_FIELDS)
async def test_a_line_break_in_a_single_line_field_is_a_422(
    client: httpx.AsyncClient,
    database: Database,
    path: str,
    body: dict[str, Any],
    field: tuple[str | int, ...],
) -> None:
    response = await client.post(
        path, content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert ["body", *field] in [item["loc"] for item in detail], detail
    assert "Bcc" not in response.text  # the refused value is not echoed
    assert count(database, customer_table) == 0
    assert count(database, order_table) == 0


async def test_line_breaks_stay_allowed_where_text_runs_over_lines(
    client: httpx.AsyncClient, database: Database
) -> None:
    wording = "Yes, send me news.\nI can unsubscribe at any time."
    customer = {**CUSTOMER, "consent": {"status": "granted", "wording": wording}}
    assert (await client.post("/v1/customers", json=customer, headers=AUTH)).status_code == 201
    event = {"type": "review.written", "email": CUSTOMER["email"], "data": {"text": "a\nb"}}
    assert (await client.post("/v1/events", json=event, headers=AUTH)).status_code in (201, 202)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CUSTOMER, "email": "x" * 300 + "SECRETTAIL"}, "email"),
        ({**CUSTOMER, "locale": "qq_" + "Z" * 25 + "SECRETTAIL"}, "locale"),
        ({**CUSTOMER, "timezone": "Mars/" + "Q" * 40 + "SECRETTAIL"}, "timezone"),
        ({**CUSTOMER, "birthday": "1990-13-45SECRETTAIL"}, "birthday"),
    ],
)
async def test_a_422_never_echoes_more_than_a_few_characters_of_a_refused_value(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/customers", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert ["body", field] in [item["loc"] for item in response.json()["detail"]]
    assert "SECRETTAIL" not in response.text
    assert "x" * 30 not in response.text and "Z" * 26 not in response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/orders", {**ORDER, "placed_at": 1764000000}, "placed_at"),  # a Unix time
        ("/v1/orders", {**ORDER, "placed_at": "1764000000"}, "placed_at"),
        ("/v1/orders", {**ORDER, "amount": "59,90"}, "amount"),
        ("/v1/customers", {**CUSTOMER, "email": "a" * 250 + "@x.example"}, "email"),
    ],
)
async def test_what_the_document_does_not_allow_is_refused(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path, json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert ["body", field] in [item["loc"] for item in response.json()["detail"]]


async def test_the_document_describes_money_moments_and_addresses_as_accepted(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    amount = schemas["OrderIn"]["properties"]["amount"]
    assert {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,3})?$", "examples": ["59.90"]} in (
        amount["anyOf"]
    )
    placed_at = schemas["OrderIn"]["properties"]["placed_at"]
    assert (placed_at["type"], placed_at["format"]) == ("string", "date-time")
    email = schemas["CustomerIn"]["properties"]["email"]
    assert (email["format"], email["maxLength"]) == ("email", 254)
