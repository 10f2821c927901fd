"""How long the template editor takes to re-render a draft, for every shipped template.

Run from the repository root:

    .venv/bin/python bench/studio_rerender.py [--runs 40] [--goal-ms 150]

One re-render is what the editor does after each pause in typing (`studio.editor.render_draft`,
in process, no HTTP): copy the draft and its includes into a scratch folder, compile the MJML
(MRML, css-inline, text part, Jinja), render the step's mail for a sample customer through the
real composer (links tracked), run the mail checks (size, alt, links, preheader, spam words,
dark view) and the template checks `validate` runs (syntax, MRML pitfalls, unknown names).
Every run changes the draft (a comment with the run's number), so nothing is reused.
A template no workflow sends is checked, not previewed, and is timed as such.
Prints p50, p95 and the slowest run per template (wall clock), and the p95 of the CPU time
the re-render itself used (what it costs when it has a core to itself: on a shared, loaded
machine the wall clock also counts waiting for one); exits 1 when a wall-clock p95 is over
the goal.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from mailengine.config import Settings
from mailengine.render.mjml_cache import TEMPLATE_SUFFIX
from mailengine.store.database import Database
from mailengine.studio.editor import Draft, EditorShop, render_draft, template_uses
from mailengine.studio.preview import Who
from mailengine.studio.template_files import template_names
from mailengine.workflows.loader import load_workflows

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def measure(shop: EditorShop, name: str, runs: int) -> tuple[str, list[float], list[float]]:
    workflows = load_workflows([shop.workflows_dir], REPO).workflows.values()
    uses = template_uses(workflows, shop.templates_dir, name)
    use = uses[0] if uses else None
    source = (shop.templates_dir / f"{name}{TEMPLATE_SUFFIX}").read_text(encoding="utf-8")
    timings, cpu = [], []
    for run in range(runs + 2):
        draft = Draft(name, f"{source}\n<!-- run {run} -->\n", use, None, Who(sample=None))
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = render_draft(shop, draft, NOW)
        elapsed = (time.perf_counter() - started) * 1000
        elapsed_cpu = (time.thread_time() - started_cpu) * 1000
        if use is not None and (result.view is None or result.view.failure is not None):
            raise SystemExit(f"{name} did not render: {[str(p) for p in result.problems]}")
        if run >= 2:  # the first runs warm Python's caches up, as an open editor has them
            timings.append(elapsed)
            cpu.append(elapsed_cpu)
    how = f"{use.workflow.name} step {use.number}" if use else "checked only (no workflow sends it)"
    return how, timings, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--goal-ms", type=float, default=150.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.model_validate(
            {"paths": {"workflows": REPO / "workflows", "templates": REPO / "templates"}}
        )
        database = Database(f"sqlite:///{scratch}/unused.db")  # sample customers only
        shop = EditorShop(settings, database, b"bench-key" * 4, REPO / "workflows")
        print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load "
              f"{os.getloadavg()[0]:.2f}, {args.runs} runs per template")  # fmt: skip
        columns = ("p50 ms", "p95 ms", "max ms")
        print(
            f"{'template':34} " + " ".join(f"{c:>7}" for c in columns) + "  p95 CPU  previewed as"
        )
        worst = 0.0
        names = [n for n in template_names(shop.templates_dir) if not n.startswith("partials/")]
        for name in names:
            how, timings, cpu = measure(shop, name, args.runs)
            p95 = statistics.quantiles(timings, n=20)[-1]
            p95_cpu = statistics.quantiles(cpu, n=20)[-1]
            worst = max(worst, p95)
            print(f"{name:34} {statistics.median(timings):7.1f} {p95:7.1f} {max(timings):7.1f}"
                  f" {p95_cpu:8.1f}  {how}")  # fmt: skip
        database.dispose()
    verdict = "within" if worst <= args.goal_ms else "OVER"
    print(f"worst p95 {worst:.1f} ms: {verdict} the {args.goal_ms:.0f} ms goal")
    return 0 if worst <= args.goal_ms else 1


if __name__ == "__main__":
    sys.exit(main())
