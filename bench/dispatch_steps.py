"""Where one dispatcher's CPU goes, per message sent: each step timed with its thread's clock.

    .venv/bin/python bench/dispatch_steps.py --messages 4000

One dispatcher process on SQLite sends the pipeline bench's weekly offers (~47 KB, DKIM
RSA-2048) into Postfix's smtp-sink (or an aiosmtpd sink). Each step is wrapped in
`time.thread_time()`, which counts only the CPU of the thread running it, so steps that
overlap on other threads are not counted twice. The event loop line is the main thread's CPU
while the dispatcher runs (SMTP, scheduling, group commit). Also shown: the process's CPU,
the sink's, and the whole machine's, per message.

With `--compose-processes N` composing runs in N worker processes, where the steps are not
timed one by one: their CPU shows as one line, "compose workers". With `--postgres` the
dispatcher works on a scratch database of that PostgreSQL server instead of SQLite (the
server's own CPU shows in "the whole machine" only).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import math
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailengine.outbound import composer, dispatcher, dkim
from mailengine.render import library

if TYPE_CHECKING:
    from bench import broadcast_sends
    from bench import pipeline_bench as pipeline
else:
    import broadcast_sends  # beside this script, which runs as a script
    import pipeline_bench as pipeline

SPENT: dict[str, float] = {}


def timed(owner: Any, names: str | tuple[str, ...], label: str) -> None:
    """Replace owner.name with a wrapper adding its thread CPU time to SPENT[label]; of
    several names, the first that owner has (the code measured may be older)."""
    choices = (names,) if isinstance(names, str) else names
    name = next(name for name in choices if hasattr(owner, name))
    function: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[label] = SPENT.get(label, 0.0) + time.thread_time() - started

    setattr(owner, name, wrapper)


def timed_loop() -> None:
    """The main thread's CPU while a dispatcher runs: the event loop's share."""
    run: Callable[..., Coroutine[Any, Any, None]] = dispatcher.Dispatcher._run

    async def wrapper(self: dispatcher.Dispatcher, *args: Any, **kwargs: Any) -> None:
        started = time.thread_time()
        try:
            await run(self, *args, **kwargs)
        finally:
            SPENT["event loop (SMTP, outcomes)"] = time.thread_time() - started

    dispatcher.Dispatcher._run = wrapper  # type: ignore[method-assign]


STEPS: list[tuple[Any, str | tuple[str, ...], str]] = [
    (dispatcher.Dispatcher, "_claim", "claim"),
    (dispatcher.Dispatcher, "_load", "load recipients"),
    (composer.Composer, "compose", "compose (all of it)"),
    (composer.Composer, "links", "  signed links"),
    (composer, "rewrite_links", "  tracked links"),
    (composer.Composer, "context", "  context"),
    (library.TemplateLibrary, "render", "  render"),
    # (mime_parts and sign_parts from 2026-12-08 on: signing joins the message)
    (composer, ("mime_parts", "build_mime"), "  MIME"),
    (dkim.DkimSigner, ("sign_parts", "sign"), "  DKIM (all of it)"),
    (dkim.DkimSigner, "_signature", "    RSA signature"),
    (dispatcher.Dispatcher, "_settle", "settle batch (tracked rows)"),
    (dispatcher.Dispatcher, "write_outcomes", "record outcomes"),
]


class CollectorTime:
    """The CPU the cyclic garbage collector takes, on whichever thread it runs."""

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.seconds = 0.0
        self.runs = [0, 0, 0]

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        thread = threading.get_ident()
        if phase == "start":
            self.started[thread] = time.thread_time()
        elif thread in self.started:
            self.seconds += time.thread_time() - self.started.pop(thread)
            self.runs[info["generation"]] += 1


COLLECTOR = CollectorTime()


class StartLine:
    """The barrier send_part waits at when all is set up: the CPU counters start there, so that
    neither building the composer nor starting compose workers counts."""

    def __init__(self, sink_pid: int) -> None:
        self.sink_pid = sink_pid

    def wait(self) -> None:
        gc.callbacks.append(COLLECTOR)
        self.times = os.times()
        self.sink = pipeline.process_cpu_seconds(self.sink_pid)
        self.machine = pipeline.machine_busy_seconds()
        self.workers = sum(
            pipeline.process_cpu_seconds(int(worker.pid or 0))
            for worker in multiprocessing.active_children()
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--compose-processes", type=int, default=0)
    parser.add_argument("--sink", choices=["auto", "smtp-sink", "aiosmtpd"], default="auto")
    parser.add_argument(
        "--broadcast",
        choices=["tracked", "untracked"],
        help="plan the mail as a broadcast (as pipeline_bench.py does), links tracked or not",
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=pipeline.POSTGRES_ADMIN_URL,
        help="on a scratch database of this PostgreSQL server (default: the tests' server)",
    )
    args = parser.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        url = f"sqlite:///{folder}/steps.db"
        if args.postgres:
            scratch = stack.enter_context(pipeline.scratch_postgres(args.postgres))
            if scratch is None:
                return
            url = scratch
        templates, workflow = pipeline.write_shop(Path(folder))
        if args.broadcast:
            tracking = args.broadcast == "tracked"
            workflow = broadcast_sends.write_broadcast(Path(folder), pipeline.NOW, tracking)
        pipeline.load_customers(url, math.ceil(args.messages / pipeline.CONSENT_SHARE), 7)
        planned, _, _ = pipeline.plan_part(url, workflow, args.messages)
        for owner, name, label in STEPS:
            timed(owner, name, label)
        timed_loop()
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = int(probe.getsockname()[1])
        with pipeline.sink(args.sink, port) as (sink_name, sink_pid):
            job = pipeline.SendJob(
                url, templates, pem, port, args.connections, args.compose_processes
            )
            start = StartLine(sink_pid)
            sent, _, started, ended, _ = pipeline.send_part(job, start)
            after = (os.times(), pipeline.process_cpu_seconds(sink_pid))
            machine = pipeline.machine_busy_seconds() - start.machine
    times = start.times
    process = (after[0].user + after[0].system) - (times.user + times.system)
    # The compose workers, stopped and waited for (so counted as children) by send_part's end.
    workers = (after[0].children_user + after[0].children_system) - (
        times.children_user + times.children_system + start.workers
    )
    print(
        f"{sent:,} of {planned:,} messages sent in {ended - started:.1f} s "
        f"({sent / (ended - started):,.0f} msg/s), one dispatcher on "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}, into {sink_name}"
    )
    print("CPU per message sent, ms:")
    for label, seconds in SPENT.items():
        print(f"  {label:<30} {seconds * 1000 / sent:6.3f}")
    gc.callbacks.remove(COLLECTOR)
    runs = "/".join(map(str, COLLECTOR.runs))
    print(f"  {f'garbage collection ({runs})':<30} {COLLECTOR.seconds * 1000 / sent:6.3f}")
    print(f"  {'this process (all threads)':<30} {process * 1000 / sent:6.3f}")
    if args.compose_processes:
        print(f"  {'compose workers':<30} {workers * 1000 / sent:6.3f}")
    print(f"  {'the sink':<30} {(after[1] - start.sink) * 1000 / sent:6.3f}")
    print(f"  {'the whole machine':<30} {machine * 1000 / sent:6.3f}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
