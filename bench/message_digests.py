"""The SHA-256 of every message one dispatcher sends, to show that a change to composing
leaves what customers receive the same, byte for byte.

    PYTHONPATH=TREE .venv/bin/python bench/message_digests.py KEY.pem OUT.json [--broadcast]

Run once with a copy of main (`git archive main | tar -x -C /tmp/main`, PYTHONPATH and the
working directory that copy) and once with the change, with the same RSA key, and compare
the two files: `cmp`. The pipeline bench's shop, customers and frozen clock make the same
mail; the MIME boundary, the only part drawn at random, is drawn from each Message-ID here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailengine.outbound import composer, mime
from mailengine.outbound.transport.base import Envelope
from mailengine.store.records import ClaimedSend

if TYPE_CHECKING:
    from bench import broadcast_sends
    from bench import pipeline_bench as pipeline
else:
    import broadcast_sends  # beside this script, which runs as a script
    import pipeline_bench as pipeline

_COMPOSING = threading.local()  # the Message-ID of the message a thread is composing


class BoundaryOfMessage:
    """Stands in for `random` in the MIME module: bits drawn from the Message-ID."""

    def getrandbits(self, bits: int) -> int:
        digest = hashlib.sha256(str(_COMPOSING.message_id).encode()).digest()
        return int.from_bytes(digest, "big") >> (256 - bits)


class StartNow:
    def wait(self) -> None:
        """send_part's barrier: nothing to wait for."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("key", type=Path, help="PEM of the RSA key that signs")
    parser.add_argument("out", type=Path, help="JSON: Message-ID -> SHA-256 of the message")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--broadcast", action="store_true", help="a broadcast, links tracked")
    args = parser.parse_args()
    digests: dict[str, str] = {}
    envelope = composer.Composer.envelope

    def recorded(self: composer.Composer, send: ClaimedSend, *rest: Any, **named: Any) -> Envelope:
        _COMPOSING.message_id = send.message_id
        made = envelope(self, send, *rest, **named)
        digests[str(send.message_id)] = hashlib.sha256(bytes(made.data)).hexdigest()
        return made

    mime.random = BoundaryOfMessage()  # type: ignore[attr-defined, assignment]
    composer.Composer.envelope = recorded  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as folder:
        templates, workflow = pipeline.write_shop(Path(folder))
        if args.broadcast:
            workflow = broadcast_sends.write_broadcast(Path(folder), pipeline.NOW, True)
        url = f"sqlite:///{folder}/digests.db"
        pipeline.load_customers(url, math.ceil(args.messages / pipeline.CONSENT_SHARE), 7)
        pipeline.plan_part(url, workflow, args.messages)
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = int(probe.getsockname()[1])
        with pipeline.sink("auto", port):
            job = pipeline.SendJob(url, templates, args.key.read_bytes(), port, 8)
            sent, _, _, _, _ = pipeline.send_part(job, StartNow())
    args.out.write_text(json.dumps(digests, sort_keys=True), encoding="utf-8")
    print(f"{sent:,} sent, {len(digests):,} digests in {args.out}")


if __name__ == "__main__":
    main()
