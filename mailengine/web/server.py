"""Serving the app inside the engine's own event loop (uvicorn, no signal handling of its own).

`mailengine run` owns SIGTERM/SIGINT: it sets `stop_event`, and `serve` then stops accepting
connections, lets requests in flight finish (bounded by `grace_seconds`) and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence

import uvicorn
from fastapi import FastAPI

from mailengine.errors import MailengineError


class WebServerError(MailengineError, RuntimeError):
    """The HTTP server could not start (for example, the port is taken)."""


class EmbeddedServer(uvicorn.Server):
    """uvicorn that leaves signals to the host process and says when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(
    app: FastAPI,
    host: str,
    port: int,
    *,
    grace_seconds: int = 10,
    trusted_proxies: Sequence[str] = (),
) -> EmbeddedServer:
    """`trusted_proxies`: the addresses (or networks) whose X-Forwarded-For and
    X-Forwarded-Proto are believed; from anyone else they are ignored."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,  # keep the engine's logging set-up
        access_log=False,
        server_header=False,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies) or None,
        timeout_graceful_shutdown=grace_seconds,
    )
    return EmbeddedServer(config)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; binding here (not in uvicorn, which exits the process) makes a
    taken port an error the engine can report."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Named as TCP (not protocol 0), so that asyncio turns Nagle's algorithm off on every
    # connection accepted from it (it does so only for sockets whose protocol says TCP):
    # with it on, an answer's body waited behind its headers for the client's delayed
    # acknowledgement, ~40 ms a request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise WebServerError(
            f"the HTTP server cannot listen on {host}:{port} ({error.strerror}): "
            "set http.host / http.port to a free address"
        ) from error
    sock.set_inheritable(True)
    return sock


async def serve(
    app: FastAPI,
    host: str,
    port: int,
    stop_event: asyncio.Event,
    *,
    on_started: Callable[[int], None] | None = None,
    grace_seconds: int = 10,
    trusted_proxies: Sequence[str] = (),
) -> None:
    """Serve until `stop_event` is set; `on_started(port)` is called once listening."""
    sock = bind(host, port)
    server = make_server(
        app, host, port, grace_seconds=grace_seconds, trusted_proxies=trusted_proxies
    )
    await serve_on(server, sock, stop_event, on_started=on_started)


async def serve_on(
    server: EmbeddedServer,
    sock: socket.socket,
    stop_event: asyncio.Event,
    *,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """Serve on the bound socket `sock` (closed at the end) until `stop_event` is set."""
    try:
        running = asyncio.create_task(server.serve(sockets=[sock]))
        listening = asyncio.create_task(server.listening.wait())
        await asyncio.wait({running, listening}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if server.started and on_started is not None:
            on_started(int(sock.getsockname()[1]))
        stopping = asyncio.create_task(stop_event.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        stopping.cancel()
        await running
    finally:
        sock.close()
    if not server.started:
        config = server.config
        raise WebServerError(
            f"the HTTP server on {config.host}:{config.port} stopped before it started"
        )


class WebComponent:
    """The HTTP app as a part of the running engine: started and stopped with it."""

    def __init__(
        self, app: FastAPI, host: str, port: int, trusted_proxies: Sequence[str] = ()
    ) -> None:
        self._app = app
        self._trusted_proxies = tuple(trusted_proxies)
        self._host = host
        self._requested_port = port
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def start(self) -> None:
        started = asyncio.Event()

        def on_started(port: int) -> None:
            self.port = port
            started.set()

        self._stop.clear()
        self._task = asyncio.create_task(
            serve(
                self._app,
                self._host,
                self._requested_port,
                self._stop,
                on_started=on_started,
                trusted_proxies=self._trusted_proxies,
            ),
            name="http",
        )
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({self._task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if not started.is_set():
            await self._task  # raises WebServerError with the reason

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
