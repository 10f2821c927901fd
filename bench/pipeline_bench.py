"""End-to-end delivery throughput: audience stream → render → MIME → DKIM RSA-2048 → SMTP.

    .venv/bin/python bench/pipeline_bench.py --messages 20000

Demo customers are loaded, a weekly-offers workflow's audience streamed (stream_audience) and
its sends planned (plan_sends); Dispatchers with an SmtpTransport and a DkimSigner (a fresh
RSA-2048 key) send the ~47 KB messages into a loopback sink: one and `--processes` dispatcher
processes (as `engine.dispatch_processes` runs them) on SQLite, then on PostgreSQL. Beside
it, the raw ceiling of the same sink at the same size: Postfix's `smtp-source` into
`smtp-sink` when installed (else an aiosmtpd sink and our transport re-sending one message).
Planning and sending run in fresh processes, whose peak memory (ru_maxrss) is shown for
`--small` and `--messages` sends. Nothing is installed here.

`--compose-processes N` has each dispatcher compose in N worker processes instead of on its
two threads (DispatchOptions.compose_processes); their peak memory is added to its own.

`--broadcast` plans the same mail as a broadcast (bench/broadcast_sends.py: scheduled, then
planned by `BroadcastPlanner.run_due`, rows past `--messages` dropped), sent as above; its
links are tracked as a broadcast's are by default, or not with `--broadcast untracked` (the
workflow path here tracks none).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.dev import demo
from mailengine.engine.dispatch_processes import dispatch_options
from mailengine.message_ids import make_message_id
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher, DispatchReport
from mailengine.outbound.dkim import DkimSigner
from mailengine.outbound.transport.base import Envelope
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from mailengine.render.library import TemplateLibrary
from mailengine.store.audience_queries import stream_audience
from mailengine.store.coupons import coupon_table
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import PlannedSend
from mailengine.store.write_turn import hand_over_often
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.loader import load_workflow_file
from mailengine.workflows.model import SendStep

if TYPE_CHECKING or __package__ == "bench":  # imported (by tests) as bench.pipeline_bench
    from bench import broadcast_sends
else:  # beside this script, which runs as a script
    import broadcast_sends

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRET = b"pipeline-bench-secret-of-enough-length"
CONSENT_SHARE = 0.75  # of demo customers, a little under what demo data grants
WORKFLOW = """\
name: weekly-offers
trigger:
  schedule: "0 9 * * 1"
audience:
  orders_count: {gte: 0}
steps:
  - send: weekly/offers
    subject: "{{ customer.first_name | default('Hallo') }}, unsere Angebote der Woche"
    preheader: "Neu eingetroffen, in deiner Größe."
"""
# Seven rows of two products (~47 KB once built and signed), personalised by name, sizes, city
# and address ($-fields are filled in once, when the template is written; Jinja runs per
# recipient).
PRODUCT = """\
    <mj-section padding="8px 16px">
      <mj-column width="50%">
        <mj-image src="{{ links.assets_url }}/p/$n-a.jpg" alt="$a in $colour"
        href="{{ links.shop_url }}/p/$n-a?size={{ customer.attributes.shirt_size|default('M') }}" />
        <mj-text mj-class="subheading">$a</mj-text>
        <mj-text mj-class="muted">$blurb {% if customer.attributes.shirt_size %}Your size
          {{ customer.attributes.shirt_size }} is in stock.{% endif %} Now
          <span class="price">$price €</span> instead of <s>$old €</s>.</mj-text>
      </mj-column>
      <mj-column width="50%">
        <mj-image src="{{ links.assets_url }}/p/$n-b.jpg" alt="$b in $colour"
          href="{{ links.shop_url }}/p/$n-b?waist={{ customer.attributes.waist|default('32') }}" />
        <mj-text mj-class="subheading">$b</mj-text>
        <mj-text mj-class="muted">$blurb {% if customer.city %}Or try it on in our store near
          {{ customer.city }}.{% endif %} Now <span class="price">$price €</span>.</mj-text>
      </mj-column>
    </mj-section>
"""
OFFERS = """\
<mjml lang="{{ customer.lang }}">
  <mj-head>
    <mj-include path="partials/head.mjml" />
  </mj-head>
  <mj-body>
    <mj-include path="partials/header.mjml" />
    <mj-section padding="16px 16px 0">
      <mj-column>
        <mj-text mj-class="heading">This week for you,
          {{ customer.first_name | default('friend') }}</mj-text>
        <mj-text>{% if last_order %}Thank you for your order of {{ last_order.placed_at | date }}
          {%- if last_order.items %}: we hope the {{ last_order.items[0].name }} fits well
          {%- endif %}. {% endif %}Here is what arrived this week, picked for you.</mj-text>
      </mj-column>
    </mj-section>
$products    <mj-include path="partials/footer.mjml" />
  </mj-body>
</mjml>
"""


def write_shop(folder: Path) -> tuple[Path, Path]:
    """A templates folder (the shipped partials, images and weekly/offers) and the workflow file."""
    templates = folder / "templates"
    shipped = Path(__file__).parents[1] / "templates"
    shutil.copytree(shipped / "partials", templates / "partials")
    shutil.copytree(shipped / "assets", templates / "assets")
    names = ("Oxford shirt", "Selvedge jeans", "Merino jumper", "Chelsea boots", "Breton shirt")
    blurb = "Woven slowly, cut straight, hemmed for free: made to be worn for years."
    colours = ("indigo", "forest green", "sand", "navy")
    products = "".join(
        Template(PRODUCT).substitute(
            n=n, a=names[n % 5], b=names[(n + 2) % 5], colour=colours[n % 4], blurb=blurb,
            price=19 + n * 7 % 60, old=39 + n * 7 % 60,
        )
        for n in range(7)
    )  # fmt: skip
    (templates / "weekly").mkdir()
    offers = Template(OFFERS).substitute(products=products)
    (templates / "weekly" / "offers.mjml").write_text(offers, encoding="utf-8")
    workflow = folder / "weekly-offers.yaml"
    workflow.write_text(WORKFLOW, encoding="utf-8")
    return templates, workflow


def make_composer(templates: Path, pem: bytes) -> Composer:
    library = TemplateLibrary(templates)
    library.preload(["weekly/offers"])
    return Composer(Settings(), library, SECRET, DkimSigner("shop.example", "bench", pem))


# Work done in fresh processes (so that ru_maxrss is theirs alone)


def peak_rss_mb(process: str = "self") -> float:
    """A process's peak memory (VmHWM: Linux keeps ru_maxrss across exec, from the parent)."""
    for line in Path(f"/proc/{process}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plan_part(url: str, workflow_file: Path, messages: int) -> tuple[int, float, float]:
    """Stream the audience, plan the first `messages` sends: (planned, seconds, peak MB).
    A file in a `broadcasts` folder is planned as a broadcast instead (`--broadcast`)."""
    if workflow_file.parent.name == "broadcasts":
        planned, seconds = broadcast_sends.plan_broadcast(url, workflow_file, messages, NOW, SECRET)
        return planned, seconds, peak_rss_mb()
    database = Database(url)
    workflow = load_workflow_file(workflow_file)
    step = workflow.steps[0]
    assert isinstance(step, SendStep)
    started = time.perf_counter()
    planned = 0
    with database.transaction() as session:
        for batch in stream_audience(session, workflow, AudienceContext(NOW), 1000):
            batch = batch[: messages - planned]
            sends = [
                PlannedSend(
                    f"{workflow.name}:{step.id}:{row.customer_id}:bench", workflow.name,
                    step.id, row.customer_id, row.email, step.template, step.subject,
                    make_message_id("shop.example", f"bench.{row.customer_id}"),
                    preheader=step.preheader,
                )
                for row in batch
            ]  # fmt: skip
            planned += plan_sends(session, sends, NOW)
            if planned >= messages:
                break
    elapsed = time.perf_counter() - started
    database.dispose()
    return planned, elapsed, peak_rss_mb()


@dataclass(frozen=True)
class SendJob:
    url: str
    templates: Path
    pem: bytes
    port: int
    connections: int
    compose_processes: int = 0  # 0: the dispatcher composes on its threads
    beside_others: bool = False  # one of several dispatcher processes (dispatch_processes)


def send_part(job: SendJob, barrier: Any) -> tuple[int, int, float, float, float]:
    """Drain the outbox: (sent, not sent, started, ended, peak MB); times from perf_counter.

    Compose worker processes are started before the clock starts, as the templates are
    compiled before it for threads: a serving engine pays either once, at start-up. Their
    peak memory is added to the dispatcher's.
    """
    database = Database(job.url)
    options = SmtpOptions(port=job.port, connections=job.connections, local_hostname="bench")
    transport = SmtpTransport(replace(options, timeouts=SmtpTimeouts().capped(60)))
    composer = make_composer(job.templates, job.pem)
    dispatch = replace(
        dispatch_options(Settings(), in_engine_process=not job.beside_others),
        compose_processes=job.compose_processes,
    )
    dispatcher = Dispatcher(database, transport, composer, FrozenClock(NOW), options=dispatch)
    hand_over_often()  # as `mailengine run` sets it in the engine and dispatcher processes
    dispatcher.start()

    async def drain() -> DispatchReport:
        async with transport:
            return await dispatcher.drain()

    barrier.wait()
    started = time.perf_counter()
    report = asyncio.run(drain())
    ended = time.perf_counter()
    workers = sum(peak_rss_mb(str(child.pid)) for child in multiprocessing.active_children())
    dispatcher.close()
    database.dispose()
    return report.sent, report.handled - report.sent, started, ended, peak_rss_mb() + workers


def in_processes(function: Any, arguments: list[tuple[Any, ...]]) -> list[Any]:
    """Run `function` once per argument tuple, each in a fresh (spawned) process, together.

    Not a multiprocessing.Pool: its processes are daemons, which may not start the compose
    workers of their dispatcher.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(arguments), mp_context=context) as pool:
        return [future.result() for future in [pool.submit(function, *a) for a in arguments]]


def send_with(job: SendJob, processes: int) -> tuple[float, int, int, float]:
    """(msg/s, sent, not sent, largest peak MB) of `processes` dispatchers started together."""
    job = replace(job, beside_others=processes > 1)
    with multiprocessing.get_context("spawn").Manager() as manager:
        parts = in_processes(send_part, [(job, manager.Barrier(processes))] * processes)
    sent = sum(part[0] for part in parts)
    elapsed = max(part[3] for part in parts) - min(part[2] for part in parts)
    return sent / elapsed, sent, sum(part[1] for part in parts), max(part[4] for part in parts)


# The sink and the raw ceiling


def postfix_tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/lib/postfix")


@contextmanager
def sink(kind: str, port: int) -> Iterator[tuple[str, int]]:
    """A loopback SMTP sink in its own process for the block; yields its name and pid."""
    smtp_sink = postfix_tool("smtp-sink")
    if kind == "smtp-sink" or (kind == "auto" and smtp_sink):
        if smtp_sink is None:
            raise SystemExit("smtp-sink is not installed (Debian: apt-get install postfix)")
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        command, name = [smtp_sink, *user, f"127.0.0.1:{port}", "1024"], "Postfix smtp-sink"
    else:
        handler = ["-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"]
        command, name = [sys.executable, "-m", "aiosmtpd", "-n", *handler], "aiosmtpd sink"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if time.monotonic() > deadline:
                raise SystemExit(f"the sink did not listen on 127.0.0.1:{port}")
            time.sleep(0.05)
        yield name, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all CPUs spent busy so far (user, nice, system, irq, softirq)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return sum(int(fields[i]) for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")


def rsa_sign_ms(pem: bytes, signatures: int = 300) -> float:
    """What one RSA-2048 PKCS#1 v1.5 signature costs on this machine (the DKIM floor)."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    data = b"x" * 900
    started = time.process_time()
    for _ in range(signatures):
        key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return (time.process_time() - started) * 1000 / signatures


def raw_ceiling(port: int, messages: int, size: int, sessions: int) -> tuple[float, str]:
    """Messages per second of the C client, or of our transport re-sending one message."""
    source = postfix_tool("smtp-source")
    started = time.perf_counter()
    if source is not None:
        command = [source, "-d", "-s", str(sessions), "-l", str(size), "-m", str(messages)]
        command += ["-f", "bounces@shop.example", "-t", "kunde@example.com", f"127.0.0.1:{port}"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return messages / (time.perf_counter() - started), f"smtp-source (C), {sessions} sessions"
    data = b"Subject: x\r\n\r\n" + (b"x" * 76 + b"\r\n") * (size // 78)
    envelope = Envelope("bounces@shop.example", "kunde@example.com", data, "<c@shop.example>")

    async def resend() -> None:
        options = SmtpOptions(port=port, connections=sessions, local_hostname="bench.local")
        async with SmtpTransport(options) as transport:
            await transport.send_many(envelope for _ in range(messages))

    asyncio.run(resend())
    return messages / (time.perf_counter() - started), f"our transport, {sessions} connections"


# Databases


# The PostgreSQL server the benches use unless told otherwise (as the tests do).
POSTGRES_ADMIN_URL = os.environ.get(
    "MAILENGINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"
)


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str | None]:
    """A database of its own on the PostgreSQL server, dropped afterwards; None if unreachable."""
    name = f"mailengine_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        print(f"PostgreSQL at {admin_url} is not reachable ({error.orig}): skipped")
        yield None
        return
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def load_customers(url: str, customers: int, seed: int) -> float:
    """Migrate and load demo data; returns seconds taken."""
    database = Database(url)
    database.upgrade()
    started = time.perf_counter()
    demo.load(database, customers, seed, NOW)
    seconds = time.perf_counter() - started
    database.dispose()
    settle(url)
    return seconds


def settle(url: str) -> None:
    """VACUUM ANALYZE on PostgreSQL, so that autovacuum does not start on the freshly written
    tables in the middle of a measured send and take CPU from it."""
    if make_url(url).get_backend_name() != "postgresql":
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def clear_outbox(url: str) -> None:
    database = Database(url)
    with database.transaction() as session:
        session.execute(delete(coupon_table))
        session.execute(delete(outbox_table))
    database.dispose()


def message_size(url: str, workflow: Path, templates: Path, pem: bytes) -> int:
    """Average size of the first 50 messages, composed as the dispatcher composes them."""
    clear_outbox(url)
    plan_part(url, workflow, 50)
    database = Database(url)
    transport = MemoryTransport()
    composer = make_composer(templates, pem)
    asyncio.run(Dispatcher(database, transport, composer, FrozenClock(NOW)).drain())
    database.dispose()
    return sum(len(envelope.data) for envelope in transport.outbox) // len(transport.outbox)


@dataclass(frozen=True)
class Result:
    label: str
    messages: int
    plan_seconds: float
    plan_mb: float
    send_rate: float
    send_mb: float
    not_sent: int
    cpu_ms: float  # busy CPU of the whole machine while sending, per message

    def line(self) -> str:
        end_to_end = self.messages / (self.plan_seconds + self.messages / self.send_rate)
        return (
            f"{self.label:<46} {self.messages:>7,} {self.messages / self.plan_seconds:>8,.0f} "
            f"{self.send_rate:>7,.0f} {end_to_end:>7,.0f} {self.cpu_ms:>7.2f} "
            f"{self.plan_mb:>7.0f} {self.send_mb:>7.0f}"
            + (f"  ({self.not_sent} not sent!)" if self.not_sent else "")
        )


def run_variant(
    label: str, url: str, workflow: Path, messages: int, job: SendJob, processes: int
) -> Result:
    clear_outbox(url)
    [(planned, plan_seconds, plan_mb)] = in_processes(plan_part, [(url, workflow, messages)])
    if planned < messages:
        raise SystemExit(f"the audience has only {planned} customers; load more")
    settle(url)
    busy = machine_busy_seconds()
    rate, sent, not_sent, send_mb = send_with(job, processes)
    cpu_ms = (machine_busy_seconds() - busy) * 1000 / max(1, sent)
    return Result(label, messages, plan_seconds, plan_mb, rate, send_mb, not_sent, cpu_ms)


def composing(job: SendJob) -> str:
    return f", {job.compose_processes} comp. proc." if job.compose_processes else ""


def run_sqlite(args: argparse.Namespace, job: SendJob, workflow: Path) -> list[Result]:
    """One dispatcher process on SQLite, for the small and the full audience; then
    `--processes` dispatchers (as `engine.dispatch_processes` runs them) for the full one."""
    results = []
    variants = [(messages, 1) for messages in sorted({args.small, args.messages})]
    if args.processes > 1:
        variants.append((args.messages, args.processes))
    for messages, processes in variants:
        label = f"SQLite, {processes} proc. x {job.connections} conn.{composing(job)}"
        results.append(run_variant(label, job.url, workflow, messages, job, processes))
        print(results[-1].line(), flush=True)
    return results


def run_postgres(args: argparse.Namespace, job: SendJob, workflow: Path) -> list[Result]:
    """One, then `--processes` dispatcher processes claiming from one PostgreSQL outbox."""
    with scratch_postgres(args.postgres) as url:
        if url is None:
            return []
        customers = math.ceil(args.messages / CONSENT_SHARE)
        seconds = load_customers(url, customers, args.seed)
        print(f"loaded {customers:,} demo customers into PostgreSQL in {seconds:.1f} s")
        results = []
        for processes in sorted({1, args.processes}):
            label = f"PostgreSQL, {processes} proc. x {job.connections} conn.{composing(job)}"
            variant = replace(job, url=url)
            results.append(run_variant(label, url, workflow, args.messages, variant, processes))
            print(results[-1].line(), flush=True)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=5_000, help="the smaller run, for memory")
    parser.add_argument("--connections", type=int, default=8, help="SMTP connections per process")
    parser.add_argument(
        "--processes", type=int, default=2, help="dispatcher processes side by side"
    )
    parser.add_argument(
        "--compose-processes",
        type=int,
        default=0,
        help="worker processes composing for each dispatcher (0: its threads compose)",
    )
    parser.add_argument("--sink", choices=["auto", "smtp-sink", "aiosmtpd"], default="auto")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MAILENGINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"
        ),
        help="a PostgreSQL server to create a scratch database on ('' to skip)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--broadcast",
        nargs="?",
        const="tracked",
        choices=["tracked", "untracked"],
        help="plan the sends as a broadcast (BroadcastPlanner) instead of the workflow path; "
        "its links tracked (a broadcast's default) or not (as the workflow sends here)",
    )
    args = parser.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with tempfile.TemporaryDirectory() as folder:
        templates, workflow = write_shop(Path(folder))
        if args.broadcast:
            tracking = args.broadcast == "tracked"
            workflow = broadcast_sends.write_broadcast(Path(folder), NOW, tracking)
        sqlite_url = f"sqlite:///{folder}/bench.db"
        customers = math.ceil(args.messages / CONSENT_SHARE)
        seconds = load_customers(sqlite_url, customers, args.seed)
        print(f"loaded {customers:,} demo customers into SQLite in {seconds:.1f} s")
        size = message_size(sqlite_url, workflow, templates, pem)
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = int(probe.getsockname()[1])
        signature_ms = rsa_sign_ms(pem)
        print(f"one RSA-2048 signature: {signature_ms:.2f} ms of CPU", flush=True)
        with sink(args.sink, port) as (sink_name, sink_pid):
            sink_cpu = process_cpu_seconds(sink_pid)
            ceiling, how = raw_ceiling(port, args.messages, size, 4)
            sink_ms = (process_cpu_seconds(sink_pid) - sink_cpu) * 1000 / args.messages
            print(f"raw ceiling ({how}): {ceiling:,.0f} msg/s", flush=True)
            print(f"the sink's CPU per message: {sink_ms:.2f} ms", flush=True)
            job = SendJob(
                sqlite_url, templates, pem, port, args.connections, args.compose_processes
            )
            results = run_sqlite(args, job, workflow)
            results += run_postgres(args, job, workflow) if args.postgres else []
    planned_by = f"as a broadcast (links {args.broadcast})" if args.broadcast else "by a workflow"
    print(
        f"\n{args.messages:,} personalised messages of ~{size / 1000:.1f} KB, DKIM RSA-2048, "
        f"planned {planned_by}, "
        f"{os.cpu_count()} CPUs, into {sink_name} on 127.0.0.1\n"
        f"raw ceiling of that sink at that size ({how}): {ceiling:,.0f} msg/s\n"
        f"CPU per message that no sender can avoid here: RSA-2048 signature "
        f"{signature_ms:.2f} ms + the sink receiving it {sink_ms:.2f} ms; with nothing else, "
        f"{os.cpu_count()} CPUs top out at "
        f"{(os.cpu_count() or 1) * 1000 / (signature_ms + sink_ms):,.0f} msg/s\n"
        f"{'variant':<46} {'sends':>7} {'plan/s':>8} {'send/s':>7} {'e2e/s':>7} {'CPU ms':>7} "
        f"{'plan MB':>7} {'send MB':>7}\n"
        f"(CPU ms: busy CPU of the whole machine while sending, per message sent)"
    )
    for result in results:
        print(result.line())
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
