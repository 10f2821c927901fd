"""Composing CPU per message, measured on the same sends again and again: no database, no SMTP.

    .venv/bin/python bench/compose_replay.py capture SENDS.pickle [--broadcast] [--messages N]
    PYTHONPATH=TREE .venv/bin/python bench/compose_replay.py replay SENDS.pickle [--rounds 5]

`capture` plans the pipeline bench's mail (a tracked broadcast with `--broadcast`) and has one
dispatcher claim and load it as it would send it; what each message's composing is handed
(the send, its recipient as loaded, its coupon and stored template sources) is pickled
instead of composed. `replay` composes those sends with the pipeline bench's composer and
DKIM key, in this one thread, `--rounds` times, and prints the thread's CPU per message of
each round: run it alternately with a copy of main on PYTHONPATH (`git archive main | tar -x
-C /tmp/main`) and with the change, to compare what composing costs without the noise of the
rest of the machine. `--profile` prints cProfile's top functions of one more round.

Under `valgrind --tool=cachegrind --cache-sim=no` the instructions of a replay with one
round and with two, subtracted, are those of one round: a count that other processes on the
machine do not change (`--limit` keeps it short). `--no-rsa` puts 256 constant bytes in place
of the RSA signature, whose blinding is random and makes some 60 % of those instructions:
what is left is the rest of composing, within some thousand instructions from run to run
with PYTHONHASHSEED=0. Valgrind counts each byte of glibc's large copies and fills (`rep
movsb`, `rep stosb`; a bytes subclass such as MimeBytes is zeroed, then copied into) as an
instruction: a 45 KB body copied once more is some 45k instructions there, 2-3 us on the
machine. `cg_annotate` of the difference shows them as __memcpy_* and __memset_*.

Rounds after the first compose the same customers again, and find their values in caches
kept across messages (escaped values, encoded text lines, header lines) that a dispatcher
composing each customer once does not: the first round is the nearer to a dispatcher's.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import math
import pickle
import pstats
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailengine.outbound import compose_pool, dispatcher
from mailengine.store.records import SendOutcome

if TYPE_CHECKING:
    from bench import broadcast_sends
    from bench import pipeline_bench as pipeline
else:
    import broadcast_sends  # beside this script, which runs as a script
    import pipeline_bench as pipeline


class Recorded(compose_pool.ComposeThreads):
    """Composing threads that keep what they are handed and settle each as failed instead of
    composing it: the dispatcher sends nothing and ends."""

    tasks: ClassVar[list[compose_pool.ComposeTask]] = []
    now: ClassVar[datetime | None] = None

    def compose(
        self, tasks: Sequence[compose_pool.ComposeTask], now: datetime
    ) -> list[compose_pool.Composed]:
        Recorded.tasks.extend(tasks)
        Recorded.now = now
        return [SendOutcome(task.send.id, "failed", reply="recorded") for task in tasks]


class StartNow:
    def wait(self) -> None:
        """send_part's barrier: nothing to wait for."""


def capture(out: Path, messages: int, broadcast: bool) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    dispatcher.ComposeThreads = Recorded  # type: ignore[attr-defined]
    logging.disable(logging.ERROR)  # (each send settled as failed is logged)
    with tempfile.TemporaryDirectory() as folder:
        templates, workflow = pipeline.write_shop(Path(folder))
        if broadcast:
            workflow = broadcast_sends.write_broadcast(Path(folder), pipeline.NOW, True)
        url = f"sqlite:///{folder}/replay.db"
        pipeline.load_customers(url, math.ceil(messages / pipeline.CONSENT_SHARE), 7)
        pipeline.plan_part(url, workflow, messages)
        job = pipeline.SendJob(url, templates, pem, 1, 1)
        pipeline.send_part(job, StartNow())
    by_id = {task.send.id: task for task in Recorded.tasks}
    out.write_bytes(pickle.dumps((pem, Recorded.now, list(by_id.values()))))
    print(f"{len(by_id):,} sends in {out}")


def replay(
    source: Path, rounds: int, profile: bool, limit: int | None = None, no_rsa: bool = False
) -> None:
    pem, now, tasks = pickle.loads(source.read_bytes())  # (our own file)
    tasks = tasks[:limit]
    with tempfile.TemporaryDirectory() as folder:
        templates, _ = pipeline.write_shop(Path(folder))
        composer = pipeline.make_composer(templates, pem)
        if no_rsa:  # (the signature's length kept: the message stays the same size)
            setattr(composer._signer, "_signature", lambda data: b"\x01" * 256)  # noqa: B010
        for task in tasks[:50]:  # compile and warm caches outside the timing
            compose_pool.compose_or_settle(composer, task, now)
        spent = []
        for _ in range(rounds):
            started = time.thread_time()
            for task in tasks:
                compose_pool.compose_or_settle(composer, task, now)
            spent.append((time.thread_time() - started) * 1000 / len(tasks))
        print(
            f"compose, ms a message ({len(tasks):,} sends, {rounds} rounds): "
            + " ".join(f"{ms:.3f}" for ms in spent)
            + f"; median {statistics.median(spent):.3f}"
        )
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for task in tasks:
                compose_pool.compose_or_settle(composer, task, now)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(35)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["capture", "replay"])
    parser.add_argument("file", type=Path, help="the pickled sends")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--broadcast", action="store_true", help="a broadcast, links tracked")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=int, help="replay only the first LIMIT sends")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-rsa", action="store_true", help="a constant for the RSA signature")
    args: Any = parser.parse_args()
    if args.mode == "capture":
        capture(args.file, args.messages, args.broadcast)
    else:
        replay(args.file, args.rounds, args.profile, args.limit, args.no_rsa)


if __name__ == "__main__":
    main()
