"""Parameter uncertainty: draw each uncertain parameter once per replication, keyed by name."""

from __future__ import annotations

import math

from scipy import stats

from sim.config import Beta, Fixed, LogNormal, Normal, Triangular, Uncertain, Uniform
from sim.randomness import parameter_uniform


def quantile(value: Uncertain, u: float, low: float = -math.inf, high: float = math.inf) -> float:
    """The *u*-quantile of an uncertain parameter; a plain number is returned as it is.

    A normal is truncated to its own low/high where given and always to the parameter's bounds
    (*low*, *high*), so a draw can never leave the parameter's valid range.
    """
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Fixed):
        return value.value
    if isinstance(value, Uniform):
        return value.low + u * (value.high - value.low)
    if isinstance(value, Triangular):
        width = value.high - value.low
        if width == 0:
            return value.low
        c = (value.mode - value.low) / width
        return float(stats.triang.ppf(u, c, loc=value.low, scale=width))
    if isinstance(value, Beta):
        return float(value.low + (value.high - value.low) * stats.beta.ppf(u, value.alpha, value.beta))
    if isinstance(value, LogNormal):
        return float(value.median * math.exp(value.sigma * stats.norm.ppf(u)))
    if isinstance(value, Normal):
        # Its own bounds, never wider than the parameter's.
        lo = max(value.low, low) if value.low is not None else low
        hi = min(value.high, high) if value.high is not None else high
        if value.sd == 0 or lo >= hi:
            return min(max(value.mean, lo), hi)
        a, b = (lo - value.mean) / value.sd, (hi - value.mean) / value.sd
        x = float(stats.truncnorm.ppf(u, a, b, loc=value.mean, scale=value.sd))
        if math.isnan(x):
            # scipy fails on intervals far narrower than sd, where the density is flat.
            x = lo + u * (hi - lo)
        # mean + sd * z can round a hair outside the bounds (a probability of -4e-16).
        return min(max(x, lo), hi)
    raise TypeError(f"not an uncertain parameter: {value!r}")


def draw(name: str, value: Uncertain, seed: int, replication: int, low: float = -math.inf,
         high: float = math.inf) -> float:
    """Replication *replication*'s draw of parameter *name*: the same in every arm that has it."""
    if isinstance(value, (int, float)):
        return float(value)
    return quantile(value, parameter_uniform(seed, name, replication), low, high)
