"""Personalised renders per second on one core: compiled once versus MJML compiled per recipient.

Run from the repository root:

    .venv/bin/python bench/render_bench.py [--template welcome/hello] [--renders 20000]

The compiled-once figure is a full `TemplateLibrary.render`: subject, preheader, HTML and text
part. The per-recipient figures run Jinja on the MJML, then MRML and css-inline for every
recipient (HTML only), and the same plus html2text for the text part, as a naive sender would.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import html2text

from mailengine.render import RenderContext, TemplateLibrary
from mailengine.render.sample_data import sample_contexts

REPO = Path(__file__).resolve().parents[1]
SUBJECT = "Welcome to {{ sender.name }}, {{ customer.first_name | default('friend') }}"
PREHEADER = (
    "{% if customer.city %}Shop online or near {{ customer.city }}{% else %}Hello{% endif %}"
)


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity on this platform)"


def rate(work: Callable[[RenderContext], object], customers: list[RenderContext], n: int) -> float:
    """Renders per second for `n` renders cycling through `customers`."""
    started = time.perf_counter()
    for index in range(n):
        work(customers[index % len(customers)])
    return n / (time.perf_counter() - started)


def median_rate(
    work: Callable[[RenderContext], object], customers: list[RenderContext], n: int, rounds: int
) -> float:
    work(customers[0])  # compile and warm caches outside the timing
    return statistics.median(rate(work, customers, n) for _ in range(rounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="welcome/hello")
    parser.add_argument("--renders", type=int, default=20_000, help="compiled-once renders")
    parser.add_argument("--naive-renders", type=int, default=400, help="per-recipient renders")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--customers", type=int, default=1_000)
    args = parser.parse_args(argv)

    pinned = pin_to_one_core()
    library = TemplateLibrary(REPO / "templates")
    customers = list(sample_contexts(args.customers, seed=42))
    name = args.template

    def compiled_once(context: RenderContext) -> object:
        return library.render(name, context, subject=SUBJECT, preheader=PREHEADER)

    def per_recipient(context: RenderContext) -> object:
        return library.render_per_recipient_html(
            name, {**context, "subject": "Welcome", "preheader": "Hello"}
        )

    def per_recipient_with_text(context: RenderContext) -> object:
        html = per_recipient(context)
        assert isinstance(html, str)
        return html2text.html2text(html)

    sample = library.render(name, customers[0], subject=SUBJECT, preheader=PREHEADER)
    once = median_rate(compiled_once, customers, args.renders, args.rounds)
    naive = median_rate(per_recipient, customers, args.naive_renders, args.rounds)
    naive_text = median_rate(per_recipient_with_text, customers, args.naive_renders // 4, 3)

    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"python {platform.python_version()} on {platform.machine()}, {pinned}")
    print(f"template: {name} ({len(sample.html):,} bytes HTML, {len(sample.text):,} bytes text)")
    print(f"compiled once, Jinja per recipient (subject+preheader+HTML+text): {once:,.0f}/s "
          f"({1e6 / once:,.0f} µs each)")  # fmt: skip
    print(f"MJML per recipient (Jinja+MRML+css-inline, HTML only):          {naive:,.0f}/s "
          f"({1e6 / naive:,.0f} µs each)")  # fmt: skip
    print(f"MJML per recipient plus html2text for the text part:            {naive_text:,.0f}/s "
          f"({1e6 / naive_text:,.0f} µs each)")  # fmt: skip
    print(f"ratio compiled-once / per-recipient: {once / naive:.1f}x (HTML only), "
          f"{once / naive_text:.1f}x (with text part)")  # fmt: skip
    print(f"goal >= 10,000/s: {'met' if once >= 10_000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
