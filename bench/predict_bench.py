"""Time the customer-lifetime models: orders → summaries → both fits → every customer's scores.

.venv/bin/python bench/predict_bench.py --customers 100000
.venv/bin/python bench/predict_bench.py --customers 1000000

The orders (about 5 per customer over three years) are drawn from the models themselves, so
the fitted parameters can be checked against the true ones. Reading the orders from the
database and writing the scores back are not part of this.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date

from mailengine.predict import BgNbdParams, GammaGammaParams, fit_models, score, summarise
from mailengine.predict.simulate import simulate_orders

TRUE_BGNBD = BgNbdParams(r=0.55, alpha=40.0, a=0.8, b=6.0)
TRUE_SPEND = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
NOW = date(2026, 11, 23).toordinal()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    orders = simulate_orders(
        args.customers, TRUE_BGNBD, TRUE_SPEND, now=NOW, span_days=1095, seed=args.seed
    )
    before = peak_mb()
    print(f"{args.customers:,} customers, {len(orders):,} orders; peak RSS {before:.0f} MB")

    steps: list[tuple[str, float]] = []
    started = time.perf_counter()
    summaries = summarise(orders.customer, orders.day, orders.amount, NOW)
    steps.append(("summaries", time.perf_counter() - started))
    started = time.perf_counter()
    models = fit_models(summaries)
    steps.append(("fits", time.perf_counter() - started))
    started = time.perf_counter()
    scores = score(models, summaries, NOW)
    steps.append(("scores", time.perf_counter() - started))

    for name, seconds in steps:
        print(f"  {name:<10} {seconds:6.2f} s")
    total = sum(seconds for _, seconds in steps)
    print(
        f"  {'total':<10} {total:6.2f} s; peak RSS {peak_mb():.0f} MB (+{peak_mb() - before:.0f})"
    )
    bg, gg = models.bgnbd, models.gamma_gamma
    print(
        f"BG/NBD r={bg.params.r:.3f} α={bg.params.alpha:.2f} a={bg.params.a:.3f} "
        f"b={bg.params.b:.3f} ({bg.iterations} iterations, converged={bg.converged}); true "
        f"r={TRUE_BGNBD.r} α={TRUE_BGNBD.alpha} a={TRUE_BGNBD.a} b={TRUE_BGNBD.b}"
    )
    print(
        f"Gamma-Gamma p={gg.params.p:.3f} q={gg.params.q:.3f} γ={gg.params.gamma:.3f} "
        f"({gg.iterations} iterations, converged={gg.converged}); true "
        f"p={TRUE_SPEND.p} q={TRUE_SPEND.q} γ={TRUE_SPEND.gamma}"
    )
    print(
        f"mean churn risk {scores.churn_risk.mean():.3f}, expected orders in 90 days "
        f"{scores.expected_orders_90d.sum():,.0f}, predicted value over 365 days "
        f"{scores.predicted_value_365d.sum():,.0f}"
    )


if __name__ == "__main__":
    main()
