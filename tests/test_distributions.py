"""Inverse-CDF samplers and PSA quantiles against scipy and against their stated moments.

Sample-mean checks allow 5 standard errors of the mean, the standard error computed from the
distribution's own standard deviation and the sample size (a false alarm about once in 1.7
million). Exact checks compare with scipy's ppf at a relative 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim import randomness
from sim.config import Beta, Fixed, LogNormal, Normal, Triangular, Uniform
from sim.distributions import (
    choose,
    exponential,
    lognormal_from_mean,
    mixed_exponential,
    normal_ppf,
)
from sim.randomness import parameter_uniform, uniforms
from sim.uncertainty import draw, quantile

N = 200_000
SEED = 20170401
Z = 5.0

# Probabilities from deep in the lower tail to as close to 1 as doubles go.
GRID = np.unique(np.concatenate([
    np.logspace(-300, -1, 600),
    np.linspace(0.001, 0.999, 999),
    [0.075, 0.0749999999, 0.0750000001, 0.925, 0.5, 0.5 + 1e-15, 0.5 - 1e-15],
    1.0 - np.logspace(-16, -1, 300),
]))


def sample(n: int = N, draw_number: int = 0, stream: int = randomness.LENGTH_OF_STAY) -> np.ndarray:
    return uniforms(np.uint64(SEED), stream, np.arange(n, dtype=np.int64), draw_number)


# --- normal_ppf ------------------------------------------------------------------------------


def test_normal_ppf_matches_scipy_over_the_whole_range():
    ours = np.array([normal_ppf(p) for p in GRID])
    np.testing.assert_allclose(ours, stats.norm.ppf(GRID), rtol=1e-12, atol=1e-15)
    assert GRID.min() == 1e-300 and GRID.max() == 1.0 - 1e-16


def test_normal_ppf_is_odd_monotone_and_handles_the_ends():
    ours = np.array([normal_ppf(p) for p in GRID])
    assert np.all(np.diff(ours) > 0)
    for p in (1e-300, 1e-20, 0.01, 0.3, 0.4999):
        assert normal_ppf(1.0 - p) == pytest.approx(-normal_ppf(p), rel=1e-12) or p < 1e-16
    assert normal_ppf(0.5) == 0.0
    assert normal_ppf(0.0) == -math.inf and normal_ppf(1.0) == math.inf
    assert math.isnan(normal_ppf(-0.1)) and math.isnan(normal_ppf(1.1)) and math.isnan(normal_ppf(math.nan))


# --- exponential, lognormal, Harrison-Millard ------------------------------------------------


def test_exponential_is_the_inverse_survival_function():
    u = GRID[(GRID > 0) & (GRID < 1)]
    ours = np.array([exponential(x, 3.5) for x in u])
    np.testing.assert_allclose(ours, stats.expon.isf(u, scale=3.5), rtol=1e-12)


def test_exponential_sample_mean():
    x = np.array([exponential(u, 4.0) for u in sample()])
    assert abs(x.mean() - 4.0) < Z * 4.0 / math.sqrt(N)


@pytest.mark.parametrize("mean, sigma", [(5.0, 1.1), (1.2, 0.5), (30.0, 0.2)])
def test_lognormal_from_mean_matches_scipy_and_its_mean(mean, sigma):
    mu = math.log(mean) - sigma**2 / 2
    u = GRID[(GRID > 1e-200) & (GRID < 1)]
    ours = np.array([lognormal_from_mean(p, mean, sigma) for p in u])
    np.testing.assert_allclose(ours, stats.lognorm.ppf(u, s=sigma, scale=math.exp(mu)), rtol=1e-12)
    x = np.array([lognormal_from_mean(p, mean, sigma) for p in sample()])
    sd = mean * math.sqrt(math.exp(sigma**2) - 1)
    assert abs(x.mean() - mean) < Z * sd / math.sqrt(N), (x.mean(), mean)
    assert np.median(x) == pytest.approx(math.exp(mu), rel=0.02)


@pytest.mark.parametrize("share, short_mean, long_mean", [(0.6, 1.5, 12.0), (0.2, 0.5, 20.0), (0.95, 2.0, 40.0)])
def test_mixed_exponential_mean_and_shape(share, short_mean, long_mean):
    u_branch, u_time = sample(draw_number=0), sample(draw_number=1)
    x = np.array([mixed_exponential(b, t, share, short_mean, long_mean) for b, t in zip(u_branch, u_time, strict=True)])
    mean = share * short_mean + (1 - share) * long_mean
    second_moment = 2 * (share * short_mean**2 + (1 - share) * long_mean**2)
    sd = math.sqrt(second_moment - mean**2)
    assert abs(x.mean() - mean) < Z * sd / math.sqrt(N), (x.mean(), mean)

    def cdf(t):
        return share * (1 - np.exp(-t / short_mean)) + (1 - share) * (1 - np.exp(-t / long_mean))

    assert stats.kstest(x, cdf).pvalue > 0.001
    # The branch follows u_branch alone: short stays are exactly those with u_branch < share.
    short = u_branch < share
    assert np.allclose(x[short], -short_mean * np.log(u_time[short]))
    assert np.allclose(x[~short], -long_mean * np.log(u_time[~short]))


# --- choose ----------------------------------------------------------------------------------


def test_choose_follows_the_probabilities():
    probs = np.array([0.1, 0.0, 0.45, 0.3, 0.15])
    picks = np.array([choose(u, probs) for u in sample(100_000)])
    counts = np.bincount(picks, minlength=5)
    assert counts[1] == 0
    expected = probs[[0, 2, 3, 4]] * picks.size
    assert stats.chisquare(counts[[0, 2, 3, 4]], expected).pvalue > 0.001


def test_choose_edges_never_pick_a_zero_share():
    probs = np.array([0.5, 0.5 - 1e-9, 0.0])  # shares a rounding short of 1
    assert choose(0.25, probs) == 0
    assert choose(0.5, probs) == 1  # a boundary belongs to the next slice
    assert choose(1.0 - 1e-12, probs) == 1  # past the total: the last category with a share
    assert choose(0.3, np.array([0.0, 1.0, 0.0])) == 1
    assert choose(1e-300, np.array([0.0, 0.0, 1.0])) == 2


# --- PSA quantiles: each distribution against scipy ------------------------------------------

U = np.array([1e-12, 1e-6, 0.001, 0.025, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975, 0.999, 1 - 1e-9])

QUANTILE_CASES = [
    (Uniform(dist="uniform", low=0.5, high=0.9), stats.uniform(loc=0.5, scale=0.4)),
    (Triangular(dist="triangular", low=2.0, mode=2.5, high=4.0), stats.triang(c=0.25, loc=2.0, scale=2.0)),
    (Triangular(dist="triangular", low=1.0, mode=1.0, high=3.0), stats.triang(c=0.0, loc=1.0, scale=2.0)),
    (Beta(dist="beta", alpha=2.0, beta=5.0), stats.beta(2.0, 5.0)),
    (Beta(dist="beta", alpha=3.0, beta=1.5, low=0.1, high=0.6), stats.beta(3.0, 1.5, loc=0.1, scale=0.5)),
    (LogNormal(dist="lognormal", median=0.8, sigma=0.25), stats.lognorm(s=0.25, scale=0.8)),
    (Normal(dist="normal", mean=1.0, sd=0.3), stats.norm(loc=1.0, scale=0.3)),
    (Normal(dist="normal", mean=0.7, sd=0.2, low=0.5, high=1.0), stats.truncnorm(-1.0, 1.5, loc=0.7, scale=0.2)),
]


@pytest.mark.parametrize("value, reference", QUANTILE_CASES, ids=lambda v: getattr(v, "dist", ""))
def test_quantile_matches_scipy_ppf(value, reference):
    ours = np.array([quantile(value, u) for u in U])
    np.testing.assert_allclose(ours, reference.ppf(U), rtol=1e-12, atol=1e-14)


def test_quantile_of_plain_and_fixed_values():
    assert quantile(2.5, 0.01) == 2.5
    assert quantile(Fixed(dist="fixed", value=0.4), 0.99) == 0.4
    assert quantile(Uniform(dist="uniform", low=1.0, high=1.0), 0.3) == 1.0
    assert quantile(Triangular(dist="triangular", low=2.0, mode=2.0, high=2.0), 0.3) == 2.0
    assert quantile(Normal(dist="normal", mean=0.5, sd=0.0), 0.99) == 0.5
    assert quantile(Normal(dist="normal", mean=1.5, sd=0.0), 0.5, 0.0, 1.0) == 1.0


def test_normal_is_truncated_to_the_parameter_bounds():
    value = Normal(dist="normal", mean=0.9, sd=0.5)
    reference = stats.truncnorm((0.0 - 0.9) / 0.5, (1.0 - 0.9) / 0.5, loc=0.9, scale=0.5)
    ours = np.array([quantile(value, u, 0.0, 1.0) for u in U])
    np.testing.assert_allclose(ours, reference.ppf(U), rtol=1e-12)
    # Its own bounds never widen the parameter's: low -5 still stops at the parameter's 0.
    wide = Normal(dist="normal", mean=0.1, sd=0.5, low=-5.0, high=0.8)
    ours = np.array([quantile(wide, u, 0.0, 1.0) for u in U])
    assert ours.min() >= 0.0 and ours.max() <= 0.8


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(mean=finite, sd=st.floats(min_value=1e-6, max_value=1e4), a=finite, b=finite,
       own=st.booleans(), u=st.floats(min_value=1e-300, max_value=1 - 1e-16) | st.sampled_from([1e-300, 0.5, 1 - 1e-16]))
def test_truncated_normal_never_leaves_its_bounds(mean, sd, a, b, own, u):
    low, high = min(a, b), max(a, b)
    if low == high:
        high = low + 1.0
    if own:
        value = Normal(dist="normal", mean=mean, sd=sd, low=low, high=high)
        x = quantile(value, u)
    else:
        value = Normal(dist="normal", mean=mean, sd=sd)
        x = quantile(value, u, low, high)
    assert low <= x <= high, (x, low, high)


@settings(max_examples=200, deadline=None)
@given(alpha=st.floats(0.05, 50), beta=st.floats(0.05, 50), u=st.floats(1e-12, 1 - 1e-12))
def test_beta_quantile_stays_in_its_range(alpha, beta, u):
    x = quantile(Beta(dist="beta", alpha=alpha, beta=beta, low=0.2, high=0.7), u)
    assert 0.2 <= x <= 0.7


def test_draw_uses_the_parameter_uniform_of_its_name():
    value = Triangular(dist="triangular", low=2.0, mode=2.5, high=3.0)
    for replication in range(5):
        u = parameter_uniform(SEED, "flow.readmission.crisis_multiplier", replication)
        assert draw("flow.readmission.crisis_multiplier", value, SEED, replication) == quantile(value, u)
    assert draw("anything", 0.25, SEED, 3) == 0.25


def test_psa_draws_have_the_distribution_of_the_parameter():
    value = Uniform(dist="uniform", low=0.5, high=0.9)
    draws = np.array([draw("flow.end_of_life.found_crisis_multiplier", value, SEED, r) for r in range(5000)])
    assert draws.min() >= 0.5 and draws.max() <= 0.9
    assert stats.kstest(draws, stats.uniform(loc=0.5, scale=0.4).cdf).pvalue > 0.001
