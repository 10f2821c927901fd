"""The BG/NBD model of repeat orders: fitting, P(active) and expected orders in a horizon.

Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
Pareto/NBD model", Marketing Science 24(2). While active, a customer orders as a Poisson
process with rate λ ~ Gamma(r, α); after each order they drop out with probability
p ~ Beta(a, b). A customer is summarised by x (repeat orders: order days after the first),
t_x (first to last order) and T (first order to now), in one time unit throughout (mailengine
uses days; the paper's weeks give the paper's α).

The log-likelihood is the paper's equation (6) in log space (`gammaln`, `betaln`,
`logaddexp`), its gradient is analytic, and it is maximised by L-BFGS-B over log-parameters.
Terms that depend on x alone are computed once per distinct x, so one evaluation costs a
few array operations over the customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from mailengine.errors import PredictionError
from mailengine.predict.arrays import Floats, as_floats
from mailengine.predict.beta_quadrature import expected_orders_if_active_many

# Within this distance of a = 1 the closed form of E[Y(t)] divides 0 by 0; it is smooth in a,
# so the value there is the mean of the two values this far either side (error ~δ², 1e-6).
_A_NEAR_ONE = 1e-3
# Log-parameters stay within this many e-folds of their starting values: wide enough for any
# real shop, and it keeps degenerate inputs (one customer, identical customers) finite.
_LOG_BOUND = 16.0


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters: λ ~ Gamma(r, α) (α in the time unit), p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class BgNbdFit:
    """A fit: its parameters, the total log-likelihood, and whether the optimiser converged."""

    params: BgNbdParams
    log_likelihood: float
    customers: int
    converged: bool
    iterations: int


def _check(x: Floats, t_x: Floats, T: Floats) -> None:
    if not (x.shape == t_x.shape == T.shape):
        raise PredictionError(
            f"frequency, recency and age differ in length ({x.size}, {t_x.size}, {T.size})"
        )
    if x.size and not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        raise PredictionError("frequency, recency and age must be finite numbers")
    if x.size and ((x < 0).any() or (t_x < 0).any() or (t_x > T).any()):
        raise PredictionError("need 0 ≤ frequency and 0 ≤ recency ≤ age for every customer")


class _Data:
    """The summaries arranged for repeated log-likelihood evaluations."""

    def __init__(self, x: Floats, t_x: Floats, T: Floats) -> None:
        repeat = x > 0
        self.n = x.size
        # Customers with no repeat order differ only in T: one term per distinct T.
        self.t_once, once_counts = np.unique(T[~repeat], return_counts=True)
        self.once_counts = once_counts.astype(np.float64)
        self.n_once = float(self.once_counts.sum())
        self.x = x[repeat]
        self.t_x = t_x[repeat]
        self.T = T[repeat]
        self.ux, self.inverse, counts = np.unique(self.x, return_inverse=True, return_counts=True)
        self.counts = counts.astype(np.float64)


def _negative_log_likelihood(theta: Floats, data: _Data) -> tuple[float, Floats]:
    """Minus the mean log-likelihood and its gradient in log-parameters."""
    r, alpha, a, b = np.exp(theta)
    x, ux, w_x = data.x, data.ux, data.counts
    log_alpha = np.log(alpha)

    # Customers with no repeat order: ℓ = r (ln α − ln(α + T)).
    log_once = float(data.once_counts @ np.log(alpha + data.t_once))
    d_r = data.n_once * log_alpha - log_once
    total = r * d_r
    d_alpha = r * (data.n_once / alpha - float(data.once_counts @ (1.0 / (alpha + data.t_once))))

    # Repeat customers: A1·A2·(A3 + A4) of equation (6).
    per_x = gammaln(r + ux) - gammaln(r) + betaln(a, b + ux) - betaln(a, b)
    total += float(w_x @ per_x) + x.size * r * log_alpha
    log_T = np.log(alpha + data.T)
    log_tx = np.log(alpha + data.t_x)
    rx = r + x
    log_a3 = -rx * log_T
    log_a4 = (np.log(a) - np.log(b + ux - 1.0))[data.inverse] - rx * log_tx
    log_sum = np.logaddexp(log_a3, log_a4)
    total += log_sum.sum()
    w = np.exp(log_a4 - log_sum)  # the share of A4 in A3 + A4

    d_r += float(w_x @ (digamma(r + ux) - digamma(r))) + x.size * log_alpha
    d_r -= ((1.0 - w) * log_T + w * log_tx).sum()
    d_alpha += (
        x.size * r / alpha - (rx * ((1.0 - w) / (alpha + data.T) + w / (alpha + data.t_x))).sum()
    )
    d_a = float(w_x @ (digamma(a + b) - digamma(a + b + ux))) + w.sum() / a
    d_b = float(w_x @ (digamma(b + ux) - digamma(a + b + ux) - digamma(b) + digamma(a + b)))
    d_b -= (w / (b + x - 1.0)).sum()

    gradient = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b]) / data.n
    return -total / data.n, -gradient


def log_likelihood(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> float:
    """The total log-likelihood of the summaries under `params` (equation 6 of the paper)."""
    x, t_x, T = as_floats(frequency), as_floats(recency), as_floats(age)
    _check(x, t_x, T)
    theta = np.log([params.r, params.alpha, params.a, params.b])
    value, _ = _negative_log_likelihood(theta, _Data(x, t_x, T))
    return -value * x.size


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> BgNbdFit:
    """Maximum-likelihood BG/NBD parameters for customers summarised as (x, t_x, T).

    Starts at r = a = b = 1 and α = 1 / (orders per unit time of the whole base), so the start
    scales with the time unit, and keeps every log-parameter within ±16 of it.
    """
    x, t_x, T = as_floats(frequency), as_floats(recency), as_floats(age)
    _check(x, t_x, T)
    if not x.size:
        raise PredictionError("no customers to fit the BG/NBD model on")
    if not (x > 0).any():
        raise PredictionError(
            "no customer has a repeat order: the BG/NBD model needs some to estimate how often "
            "customers come back"
        )
    exposure = float(T.sum())
    alpha0 = exposure / float(x.sum()) if exposure > 0 else 1.0
    start = np.log([1.0, alpha0, 1.0, 1.0])
    bounds = [(value - _LOG_BOUND, value + _LOG_BOUND) for value in start]
    data = _Data(x, t_x, T)
    result = minimize(
        _negative_log_likelihood,
        start,
        args=(data,),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9},
    )
    r, alpha, a, b = (float(value) for value in np.exp(result.x))
    return BgNbdFit(
        params=BgNbdParams(r=r, alpha=alpha, a=a, b=b),
        log_likelihood=-float(result.fun) * x.size,
        customers=int(x.size),
        converged=bool(result.success),
        iterations=int(result.nit),
    )


def _log_odds_inactive(params: BgNbdParams, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """ln of a/(b+x−1) · ((α+T)/(α+t_x))^(r+x) for x > 0, −∞ for x = 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    safe_x = np.where(repeat, x, 1.0)
    log_odds = (
        np.log(a)
        - np.log(b + safe_x - 1.0)
        + (r + safe_x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return np.where(repeat, log_odds, -np.inf)


def p_alive(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> Floats:
    """P(a customer is still active | x, t_x, T), as in Fader, Hardie & Lee's note "Computing
    P(alive) using the BG/NBD model" (2008).

    A customer with no repeat order is active by the model's definition (drop-out happens
    only just after an order), so their value is 1.
    """
    x, t_x, T = as_floats(frequency), as_floats(recency), as_floats(age)
    _check(x, t_x, T)
    result: Floats = expit(-_log_odds_inactive(params, x, t_x, T))
    return result


def _closed_form_if_active(
    r: float, alpha: float, a: float, b: float, t: Floats, x: Floats, T: Floats
) -> Floats:
    """E[orders in t | active, x, T]: equation (10) of the paper without its P(active) factor.

    With Euler's transformation 2F1(A,B;C;z) = (1−z)^(C−A−B) 2F1(C−A,C−B;C;z), the paper's
    ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x−1; z) is (1−z)^(a−1) 2F1(a+b−1−r, a−1;
    a+b+x−1; z), z = t/(α+T+t), whose parameters stay small however large x grows.
    """
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        f = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        result: Floats = (a + b + x - 1.0) / (a - 1.0) * (1.0 - f)
    return result


def _orders_if_active(params: BgNbdParams, t: Floats, x: Floats, T: Floats) -> Floats:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1.0) >= _A_NEAR_ONE:
        orders = _closed_form_if_active(r, alpha, a, b, t, x, T)
    else:
        below = _closed_form_if_active(r, alpha, 1.0 - _A_NEAR_ONE, b, t, x, T)
        above = _closed_form_if_active(r, alpha, 1.0 + _A_NEAR_ONE, b, t, x, T)
        orders = 0.5 * (below + above)
    # Dropping out only lowers orders below those of the rate alone, E[λ | active] t.
    ceiling = (r + x) * t / (alpha + T)
    wrong = ~(np.isfinite(orders) & (orders >= -1e-12) & (orders <= ceiling * (1.0 + 1e-9)))
    if wrong.any():
        orders = orders.copy()
        orders[wrong] = expected_orders_if_active_many(
            r, a, b, x[wrong], t[wrong] / (alpha + T[wrong])
        )
    result: Floats = np.clip(orders, 0.0, ceiling)
    return result


def expected_orders(
    params: BgNbdParams,
    horizon: float | ArrayLike,
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
) -> Floats:
    """E[orders in the next `horizon` | x, t_x, T]: equation (10) of the paper.

    Computed in closed form; where `hyp2f1` fails (a result that is not finite or outside
    0 ≤ E ≤ E[λ | active]·t, seen only for parameters far from real data), by quadrature
    (`beta_quadrature`). Within 0.001 of a = 1, where the closed form divides 0 by 0, it is
    the mean of the values at a = 1 ± 0.001 (it is smooth in a).
    """
    x, t_x, T = as_floats(frequency), as_floats(recency), as_floats(age)
    _check(x, t_x, T)
    t = np.broadcast_to(as_floats(horizon), x.shape).astype(np.float64)
    result: Floats = _orders_if_active(params, t, x, T) * expit(
        -_log_odds_inactive(params, x, t_x, T)
    )
    return result


def median_wait_if_active(params: BgNbdParams, frequency: ArrayLike, age: ArrayLike) -> Floats:
    """The median time from now to a customer's next order, given they are still active.

    Given active, the order rate's posterior is Gamma(r + x, α + T) and the wait for the next
    order is exponential at that rate, so P(wait > s) = ((α+T)/(α+T+s))^(r+x) and the median
    is (α+T)(2^(1/(r+x)) − 1). Whether they are still active is `p_alive`'s question.
    """
    x, T = as_floats(frequency), as_floats(age)
    result: Floats = (params.alpha + T) * np.expm1(np.log(2.0) / (params.r + x))
    return result
