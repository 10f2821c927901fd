"""The Gamma-Gamma model of spend per order: fitting, and each customer's expected spend.

Fader & Hardie, "The Gamma-Gamma model of monetary value" (2013 note), after Colombo &
Jiang (1999). A customer's order amounts are Gamma(p, ν) with ν ~ Gamma(q, γ) across
customers, independent of how often they order. It is fitted on repeat customers (x > 0)
with a positive mean spend m_x over their repeat orders; the likelihood of m_x given x is
the note's equation in log space, maximised by L-BFGS-B over log-parameters with an
analytic gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from mailengine.errors import PredictionError
from mailengine.predict.arrays import Floats, as_floats

_LOG_BOUND = 16.0


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters (γ in the currency's unit)."""

    p: float
    q: float
    gamma: float

    @property
    def mean_spend(self) -> float:
        """The population's mean spend per order, pγ/(q−1); infinite when q ≤ 1."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")


@dataclass(frozen=True)
class GammaGammaFit:
    """A fit, with the correlation of frequency and spend the model assumes to be ~0."""

    params: GammaGammaParams
    log_likelihood: float
    customers: int
    converged: bool
    iterations: int
    frequency_spend_correlation: float
    sample_mean_spend: float


def _repeat_customers(frequency: ArrayLike, mean_spend: ArrayLike) -> tuple[Floats, Floats]:
    x, m = as_floats(frequency), as_floats(mean_spend)
    if x.shape != m.shape:
        raise PredictionError(f"frequency and spend differ in length ({x.size}, {m.size})")
    usable = (x > 0) & np.isfinite(m) & (m > 0)
    return x[usable], m[usable]


class _Data:
    """(x, m_x) arranged for repeated evaluations: terms of x alone once per distinct x."""

    def __init__(self, x: Floats, m: Floats) -> None:
        self.n = x.size
        self.x = x
        self.ux, counts = np.unique(x, return_counts=True)
        self.counts = counts.astype(np.float64)
        log_m = np.log(m)
        self.sum_log_m = float(log_m.sum())
        self.sum_x_log_m = float(x @ log_m)
        self.sum_x_log_x = float(x @ np.log(x))
        self.total = m * x  # each customer's total repeat spend


def _negative_log_likelihood(theta: Floats, data: _Data) -> tuple[float, Floats]:
    """Minus the mean log-likelihood and its gradient in log-parameters.

    Per customer: ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m_x + px ln x
    − (px+q) ln(γ + m_x x).
    """
    p, q, gamma = np.exp(theta)
    n, ux, counts = data.n, data.ux, data.counts
    pux = p * ux
    log_spent = np.log(gamma + data.total)
    weight = p * data.x + q
    ll = (
        float(counts @ (gammaln(pux + q) - gammaln(pux)))
        + p * data.sum_x_log_x
        - n * gammaln(q)
        + n * q * np.log(gamma)
        + p * data.sum_x_log_m
        - data.sum_log_m
        - float(weight @ log_spent)
    )
    d_p = (
        float((counts * ux) @ (digamma(pux + q) - digamma(pux)))
        + data.sum_x_log_x
        + data.sum_x_log_m
        - float(data.x @ log_spent)
    )
    d_q = float(counts @ digamma(pux + q)) - n * digamma(q) + n * np.log(gamma) - log_spent.sum()
    d_gamma = n * q / gamma - float((weight / (gamma + data.total)).sum())
    gradient = np.array([d_p * p, d_q * q, d_gamma * gamma]) / n
    return -ll / n, -gradient


def fit_gamma_gamma(frequency: ArrayLike, mean_spend: ArrayLike) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma parameters from (x, m_x) of each customer.

    Customers without a repeat order or without a positive mean spend are left out. Starts at
    p = 1, q = 2, γ = the sample's mean spend (so that pγ/(q−1) starts at that mean).
    """
    x, m = _repeat_customers(frequency, mean_spend)
    if not x.size:
        raise PredictionError(
            "no customer has a repeat order with a positive amount: the Gamma-Gamma model "
            "needs some to estimate spend per order"
        )
    sample_mean = float(m.mean())
    start = np.log([1.0, 2.0, sample_mean])
    bounds = [(value - _LOG_BOUND, value + _LOG_BOUND) for value in start]
    result = minimize(
        _negative_log_likelihood,
        start,
        args=(_Data(x, m),),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9},
    )
    p, q, gamma = (float(value) for value in np.exp(result.x))
    correlation = (
        float(np.corrcoef(x, m)[0, 1]) if x.size > 1 and x.std() > 0 and m.std() > 0 else 0.0
    )
    return GammaGammaFit(
        params=GammaGammaParams(p=p, q=q, gamma=gamma),
        log_likelihood=-float(result.fun) * x.size,
        customers=int(x.size),
        converged=bool(result.success),
        iterations=int(result.nit),
        frequency_spend_correlation=correlation,
        sample_mean_spend=sample_mean,
    )


def expected_spend(fit: GammaGammaFit, frequency: ArrayLike, mean_spend: ArrayLike) -> Floats:
    """E[spend per order | x, m_x] = (γ + m_x x) p / (p x + q − 1), the note's equation.

    It weighs the population mean pγ/(q−1) against the customer's own m_x by how many repeat
    orders they have. Without a repeat order (x = 0, or m_x missing) it is the population
    mean; where q ≤ 1 makes that infinite, the fitted customers' sample mean stands in.
    """
    params = fit.params
    x, m = as_floats(frequency), as_floats(mean_spend)
    if x.shape != m.shape:
        raise PredictionError(f"frequency and spend differ in length ({x.size}, {m.size})")
    population = params.mean_spend if params.q > 1.0 else fit.sample_mean_spend
    own = (x > 0) & np.isfinite(m) & (m > 0)
    denominator = params.p * x + params.q - 1.0
    usable = own & (denominator > 0)
    safe_m = np.where(usable, m, 0.0)
    safe_denominator = np.where(usable, denominator, 1.0)
    weighted = (params.gamma + safe_m * x) * params.p / safe_denominator
    result: Floats = np.where(usable, weighted, np.where(own, m, population))
    return result
