"""Orders drawn from the BG/NBD and Gamma-Gamma models, for tests and benchmarks.

Each customer gets λ ~ Gamma(r, α), a drop-out probability p ~ Beta(a, b) and a spend scale
ν ~ Gamma(q, γ); they first order on a day spread evenly over `span_days` before `now`, then
order as a Poisson process at rate λ and after each order drop out with probability p; every
order's amount is Gamma(p_spend, ν). All customers are drawn together, one order per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mailengine.predict.arrays import Floats, Ints
from mailengine.predict.bgnbd import BgNbdParams
from mailengine.predict.gamma_gamma import GammaGammaParams


@dataclass(frozen=True)
class Orders:
    """Parallel arrays, one entry per order, in no particular order."""

    customer: Ints
    day: Ints
    amount: Floats

    def __len__(self) -> int:
        return int(self.customer.size)


def simulate_orders(
    customers: int,
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
    *,
    now: int,
    span_days: int,
    seed: int,
) -> Orders:
    """Orders of `customers` customers up to day `now` (α in days, γ in the currency)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(bgnbd.r, 1.0 / bgnbd.alpha, customers)
    dropout = rng.beta(bgnbd.a, bgnbd.b, customers)
    scale = 1.0 / rng.gamma(gamma_gamma.q, 1.0 / gamma_gamma.gamma, customers)
    first = now - rng.integers(0, span_days, customers, endpoint=True)

    ids: list[Ints] = [np.arange(customers, dtype=np.int64)]
    days: list[Ints] = [first.astype(np.int64)]
    clock = first.astype(np.float64)
    who = np.arange(customers)  # drop-out comes only after a repeat order
    while who.size:
        clock[who] += rng.exponential(1.0, who.size) / rate[who]
        who = who[clock[who] <= now]
        ids.append(who.astype(np.int64))
        days.append(np.floor(clock[who]).astype(np.int64))
        who = who[rng.random(who.size) >= dropout[who]]
    customer = np.concatenate(ids)
    amount = rng.gamma(gamma_gamma.p, scale[customer])
    return Orders(customer=customer, day=np.concatenate(days), amount=amount)
