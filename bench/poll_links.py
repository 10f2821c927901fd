"""Cost of a mail's poll block: signing one link per answer of the shipped NPS poll (11).

Run: .venv/bin/python bench/poll_links.py
"""

from __future__ import annotations

import timeit
from datetime import UTC, datetime
from pathlib import Path

from mailengine.addresses import address_hash
from mailengine.polls.links import LinkSigner, PollBlocks
from mailengine.polls.loader import load_polls

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    polls = load_polls([REPO / "polls"]).polls
    digest = address_hash("ada@example.com")
    now = datetime.now(UTC)

    def block() -> None:
        signer = LinkSigner(b"k" * 32, "https://mail.shop.example", digest, now, 12345)
        PollBlocks(polls, signer)["delivery_nps"]

    runs = 20_000
    best = min(timeit.repeat(block, number=runs, repeat=5)) / runs
    print(f"NPS block with 11 signed links: {best * 1e6:.1f} µs per mail (best of 5 x {runs})")


if __name__ == "__main__":
    main()
