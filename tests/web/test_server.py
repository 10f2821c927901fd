"""The app served by real uvicorn on 127.0.0.1 over TCP, and its pages seen by a real browser."""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from mailengine.config import Settings
from mailengine.store.customers import consent_history, get_customer
from mailengine.store.database import Database
from mailengine.web.server import WebComponent, WebServerError, bind, serve
from tests.web.conftest import add_customers, token

ADA = "ada@example.com"


async def test_one_click_over_tcp_and_a_clean_stop(
    base_url: str, sqlite_database: Database
) -> None:
    add_customers(sqlite_database, [(ADA, "granted")])
    async with httpx.AsyncClient(base_url=base_url, follow_redirects=False) as client:
        health = await client.get("/healthz")
        response = await client.post(
            f"/u/{token('unsubscribe', ADA)}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert health.status_code == 200
    assert response.status_code == 200
    assert "set-cookie" not in response.headers and "server" not in response.headers
    with sqlite_database.session() as session:
        ada = get_customer(session, ADA)
    assert ada is not None and ada.consent_status == "withdrawn"


async def test_connections_accepted_from_the_bound_socket_send_without_delay() -> None:
    """Nagle's algorithm off on served connections: with it on, an answer's body waited
    behind its headers for the client's delayed acknowledgement (~40 ms a request)."""
    listener = bind("127.0.0.1", 0)
    listener.listen()
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Record(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            served = transport.get_extra_info("socket")
            accepted.set_result(served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Record, sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        try:
            assert await asyncio.wait_for(accepted, 5) != 0
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_taken_port_is_a_clear_error(served_app: FastAPI) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WebServerError, match=f"127.0.0.1:{port}"):
            await asyncio.wait_for(serve(served_app, "127.0.0.1", port, asyncio.Event()), 10)


# --- screenshots ----------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 640, 760


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct RGB colours of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour_type = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour_type in (2, 6)
    chunks, offset = b"", 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"IDAT":
            chunks += data[offset + 8 : offset + 8 + length]
        offset += length + 12
    raw = zlib.decompress(chunks)
    step = 3 if colour_type == 2 else 4
    stride = width * step + 1
    colours: set[bytes] = set()
    for row in range(0, height, 7):  # filtered bytes: a rough but honest variety measure
        line = raw[row * stride + 1 : (row + 1) * stride]
        colours.update(line[i : i + 3] for i in range(0, len(line), step * 5))
    return width, height, len(colours)


async def screenshot(url: str, target: Path, profile: Path) -> None:
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--screenshot={target}",
        url,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.wait_for(process.wait(), timeout=90)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium to run this")
async def test_unsubscribe_and_preferences_pages_render_in_a_browser(
    base_url: str, sqlite_database: Database, tmp_path: Path
) -> None:
    add_customers(sqlite_database, [(ADA, "granted"), ("bo@example.com", "granted")])
    async with httpx.AsyncClient(base_url=base_url) as client:
        await client.post(f"/u/{token('unsubscribe', 'bo@example.com')}")
    shots = {
        "unsubscribe": f"{base_url}/u/{token('unsubscribe', ADA)}",
        "unsubscribed": f"{base_url}/u/{token('unsubscribe', 'bo@example.com')}",
        "preferences": f"{base_url}/preferences/{token('preferences', ADA)}",
    }
    for name, url in shots.items():
        target = tmp_path / f"{name}.png"
        await screenshot(url, target, tmp_path / f"profile-{name}")
        assert target.exists(), f"chromium made no screenshot of {url}"
        width, height, colours = png_size_and_colours(target)
        assert (width, height) == (WIDTH, HEIGHT)
        assert colours > 20, f"the {name} page looks blank"


@pytest.mark.parametrize(
    ("trusted", "recorded"),
    [((), "127.0.0.1"), (("127.0.0.1",), "198.51.100.23"), (("10.0.0.0/8",), "127.0.0.1")],
)
async def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
    served_app: FastAPI,
    sqlite_database: Database,
    trusted: tuple[str, ...],
    recorded: str,
) -> None:
    ids = add_customers(sqlite_database, [(ADA, "granted")])
    server = WebComponent(served_app, "127.0.0.1", 0, trusted)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            response = await client.post(
                f"/u/{token('unsubscribe', ADA)}",
                content=b"List-Unsubscribe=One-Click",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Forwarded-For": "198.51.100.23",
                },
            )
    finally:
        await server.stop()
    assert response.status_code == 200
    with sqlite_database.session() as session:
        assert consent_history(session, ids[ADA])[-1].ip == recorded


def test_a_trusted_proxy_must_be_an_address_or_network() -> None:
    with pytest.raises(ValidationError, match="not an IP address"):
        Settings(http={"trusted_proxies": ["localhost"]})
