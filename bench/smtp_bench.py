"""Messages per second: build_mime + DKIM (RSA-2048) + SMTP into a loopback sink, beside the
raw ceiling of the same sink at the same size, measured in the same run.

    .venv/bin/python bench/smtp_bench.py --messages 20000 --connections 8 --processes 2

The sink is Postfix's `smtp-sink` and the ceiling Postfix's `smtp-source` (C to C) when they
are installed (Debian: `apt-get install postfix`); otherwise an aiosmtpd sink in its own process,
with our transport sending one pre-built message as the ceiling. Nothing is installed here.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import aiosmtplib
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailengine.message_ids import make_message_id
from mailengine.outbound.dkim import DkimSigner
from mailengine.outbound.mime import OutgoingMessage, build_mime
from mailengine.outbound.transport.base import Envelope
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ROW = (
    '<tr><td style="padding:12px 24px;font-family:Helvetica,Arial,sans-serif;font-size:15px;'
    'color:#333333">Für Sie ausgewählt, {name}: Artikel {n} – jetzt {price} € statt '
    '<s>{old} €</s>. <a href="https://shop.example/p/{n}?utm_source=mail&amp;c={i}" '
    'style="color:#0a66c2">Ansehen</a></td></tr>\n'
)
AIOSMTPD_SINK = textwrap.dedent(
    """
    import asyncio, sys
    from aiosmtpd.smtp import SMTP

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 OK"

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Sink(), hostname="sink", loop=loop), "127.0.0.1", int(sys.argv[1])
        )
        await server.serve_forever()

    asyncio.run(main())
    """
)


def _templates() -> tuple[str, str]:
    """HTML and text with NAME and ID left in, as a compiled template would be."""
    rows = "".join(
        ROW.format(name="NAME", n=n, price=19 + n % 50, old=29 + n % 50, i="ID") for n in range(84)
    )
    html = f"<html><body><table>{rows}</table><p>Beispiel GmbH, Musterstraße 1</p></body></html>"
    lines = "".join(
        f"Artikel {n}: {19 + n % 50} € https://shop.example/p/{n}\n" for n in range(160)
    )
    text = f"Hallo NAME,\n\n{lines}\nBeispiel GmbH, Musterstraße 1, 10115 Berlin\n"
    return html, text


HTML, TEXT = _templates()


def personalised(index: int) -> OutgoingMessage:
    """A ~45 KB (encoded) German-language newsletter for customer `index`.

    Personalising is two str.replace calls here (~20 µs), standing in for rendering.
    """
    name = f"Kundin {index}"
    return OutgoingMessage(
        from_address="hello@shop.example",
        from_name="Beispiel Shop",
        to_address=f"kunde{index}@example.com",
        to_name=name,
        subject=f"{name}, Ihre Angebote der Woche",
        text=TEXT.replace("NAME", name),
        html=HTML.replace("NAME", name).replace("ID", str(index)),
        message_id=make_message_id("shop.example", f"bench-{index}"),
        date=NOW,
        bounce_address=f"bounces+{index}-0123456789ab@shop.example",
        reply_to="support@shop.example",
        list_unsubscribe_url=f"https://shop.example/u/{index}",
        list_unsubscribe_mailto=f"mailto:unsubscribe+{index}@shop.example",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the sink did not start listening on 127.0.0.1:{port}")


def postfix_tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (
            path
            for path in (f"/usr/sbin/{name}", f"/usr/lib/postfix/{name}")
            if os.path.exists(path)
        ),
        None,
    )


@contextmanager
def sink(kind: str, port: int) -> Iterator[str]:
    """Run the sink in its own process for the duration of the block; yields its name."""
    smtp_sink = postfix_tool("smtp-sink")
    if kind == "smtp-sink" or (kind == "auto" and smtp_sink):
        if smtp_sink is None:
            raise SystemExit("smtp-sink is not installed (Debian: apt-get install postfix)")
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        command = [smtp_sink, *user, f"127.0.0.1:{port}", "1024"]
        name = "Postfix smtp-sink"
    else:
        command = [sys.executable, "-c", AIOSMTPD_SINK, str(port)]
        name = "aiosmtpd sink"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield name
    finally:
        process.terminate()
        process.wait(timeout=10)


def smtp_source_ceiling(port: int, messages: int, size: int, sessions: int) -> float | None:
    source = postfix_tool("smtp-source")
    if source is None:
        return None
    command = [source, "-d", "-s", str(sessions), "-l", str(size), "-m", str(messages)]
    command += ["-f", "bounces@shop.example", "-t", "kunde@example.com", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return messages / (time.perf_counter() - started)


def _transport(port: int, connections: int) -> SmtpTransport:
    options = SmtpOptions(
        port=port,
        connections=connections,
        timeouts=SmtpTimeouts().capped(30),
        local_hostname="bench.local",
    )
    return SmtpTransport(options)


async def _send_all(port: int, connections: int, make: Callable[[int], Envelope], n: range) -> int:
    transport = _transport(port, connections)
    indexes = iter(n)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for index in indexes:
            if not (await transport.send(make(index))).sent:
                failures += 1

    await asyncio.gather(*(worker() for _ in range(connections)))
    await transport.aclose()
    return failures


async def _aiosmtplib_sendmail(port: int, connections: int, data: bytes, count: int) -> None:
    """aiosmtplib's own sendmail over `connections` persistent connections (for comparison)."""
    remaining = iter(range(count))

    async def worker() -> None:
        async with aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, local_hostname="bench.local", start_tls=False
        ) as smtp:
            for index in remaining:
                await smtp.sendmail(
                    f"bounces+{index}@shop.example", [f"k{index}@example.com"], data
                )

    await asyncio.gather(*(worker() for _ in range(connections)))


def _pipeline_part(args: tuple[int, int, int, int, bytes | None, Any]) -> tuple[int, float, float]:
    """One process's share of the full pipeline: (failures, start, end) in perf_counter time."""
    port, first, count, connections, pem, barrier = args
    signer = DkimSigner("shop.example", "bench", pem) if pem else None

    def make(index: int) -> Envelope:
        message = personalised(index)
        data = build_mime(message)
        return Envelope.for_message(message, signer.sign(data) if signer else data)

    barrier.wait()
    started = time.perf_counter()
    failures = asyncio.run(_send_all(port, connections, make, range(first, first + count)))
    return failures, started, time.perf_counter()


def full_pipeline(
    port: int, messages: int, connections: int, processes: int, pem: bytes | None
) -> tuple[float, int]:
    context = multiprocessing.get_context("fork")
    barrier = context.Manager().Barrier(processes)
    share = messages // processes
    jobs = [(port, p * share, share, connections, pem, barrier) for p in range(processes)]
    with context.Pool(processes) as pool:
        parts = pool.map(_pipeline_part, jobs)
    elapsed = max(end for _, _, end in parts) - min(start for _, start, _ in parts)
    return share * processes / elapsed, sum(failures for failures, _, _ in parts)


def timed(label: str, count: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    rate = count / (time.perf_counter() - started)
    print(f"  {label:<58} {rate:>8,.0f} msg/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=8, help="per process")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--sink", choices=["auto", "smtp-sink", "aiosmtpd"], default="auto")
    args = parser.parse_args()
    count = args.messages

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = DkimSigner("shop.example", "bench", pem)
    sample = signer.sign(build_mime(personalised(0)))
    size = len(sample)
    print(f"{count:,} personalised messages of ~{size / 1000:.1f} KB, CPUs: {os.cpu_count()}")

    print("CPU only, one process:")
    build_n = min(count, 5000)
    timed("build_mime", build_n, lambda: [build_mime(personalised(i)) for i in range(build_n)])
    timed(
        "build_mime + DKIM RSA-2048",
        build_n,
        lambda: [signer.sign(build_mime(personalised(i))) for i in range(build_n)],
    )
    timed(
        "(personalising alone: two str.replace calls)",
        build_n,
        lambda: [personalised(i) for i in range(build_n)],
    )

    port = free_port()
    with sink(args.sink, port) as sink_name:
        print(f"SMTP into {sink_name} on 127.0.0.1:{port}:")
        ceiling = smtp_source_ceiling(port, count, size, 4)
        if ceiling is not None:
            print(f"  {'raw ceiling: smtp-source (C), 4 sessions':<58} {ceiling:>8,.0f} msg/s")
        conns = args.connections
        prebuilt = Envelope("bounces@shop.example", "kunde@example.com", sample, "<b@shop.example>")
        plain = Envelope(prebuilt.mail_from, prebuilt.rcpt_to, bytes(sample), prebuilt.message_id)
        timed(
            f"transport only, pre-built MimeBytes, {conns} connections",
            count,
            lambda: asyncio.run(_send_all(port, conns, lambda i: prebuilt, range(count))),
        )
        timed(
            f"transport only, same bytes as plain bytes (regex pass), {conns} conn.",
            count,
            lambda: asyncio.run(_send_all(port, conns, lambda i: plain, range(count))),
        )
        timed(
            f"aiosmtplib SMTP.sendmail, {conns} connections",
            count,
            lambda: asyncio.run(_aiosmtplib_sendmail(port, conns, bytes(sample), count)),
        )
        for processes in sorted({1, args.processes}):
            rate, failures = full_pipeline(port, count, conns, processes, pem)
            label = f"FULL: build + DKIM RSA + send, {processes} process(es) x {conns} conn."
            print(f"  {label:<58} {rate:>8,.0f} msg/s  ({failures} not sent)")


if __name__ == "__main__":
    main()
