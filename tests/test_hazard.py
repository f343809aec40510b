"""The crisis hazard: the next crisis is found by inverting the cumulative hazard exactly.

Checked against the definition, H(next crisis) - H(now) = target, with the cumulative
hazard worked out here independently (a sum over whole months in plain Python), for cohorts
whose rate rises, falls or stays under an arm, with the effect ramped in over the contract.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.flow import DAYS_PER_MONTH, ramp_table
from sim.hazard import cumulative, inverse, monthly_tables, next_crisis


class Flow:
    """The two fields `monthly_tables` reads."""

    def __init__(self, growth, ramp):
        self.growth, self.ramp = growth, ramp


def tables(seed: int = 3):
    rng = np.random.default_rng(seed)
    n_years = 8
    growth = 1.0 + np.cumsum(rng.uniform(0.0, 0.03, size=(5, n_years)), axis=1)  # [age, year]
    ramp = ramp_table(n_years, 1, 18, "linear")
    g, r, growth_m = monthly_tables(Flow(growth, ramp))
    return g, r, growth_m, ramp, growth


def integral(growth, ramp, a, base, extra, t):
    """H(t) by summing whole months and the part month, in plain Python."""
    total, m = 0.0, 0
    while (m + 1) * DAYS_PER_MONTH <= t and m < ramp.shape[0] - 1:
        total += growth[a, m // 12] * (base + extra * ramp[m]) * DAYS_PER_MONTH
        m += 1
    return total + growth[a, m // 12] * (base + extra * ramp[m]) * (t - m * DAYS_PER_MONTH)


def spent(growth, ramp, a, base, extra, now, t, windows):
    """Hazard spent from now to t, each part weighted by the multiplier in force."""
    readmit_until, readmit_mult, eol_start, eol_mult = windows
    cuts = sorted({now, t, *(x for x in (readmit_until, eol_start) if now < x < t)})
    total = 0.0
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        mult = (readmit_mult if lo < readmit_until else 1.0) * (eol_mult if lo >= eol_start else 1.0)
        total += mult * (integral(growth, ramp, a, base, extra, hi)
                         - integral(growth, ramp, a, base, extra, lo))
    return total


@pytest.mark.parametrize("extra_share", [0.0, -0.4, 0.6, -1.0])
def test_inverse_inverts_the_cumulative_hazard(extra_share):
    g, r, growth_m, ramp, growth = tables()
    horizon = ramp.shape[0] * DAYS_PER_MONTH
    rng = np.random.default_rng(11)
    for _ in range(400):
        a = int(rng.integers(0, 5))
        base = rng.uniform(1e-5, 5e-3)
        extra = extra_share * base
        top = base * g[a, -1] + extra * r[a, -1]
        level = rng.uniform(0.0, top)
        t = inverse(g, r, growth_m, ramp, a, base, extra, level)
        assert 0.0 <= t <= horizon
        assert cumulative(g, r, growth_m, ramp, a, base, extra, t) == pytest.approx(level, rel=1e-9, abs=1e-12)
        assert integral(growth, ramp, a, base, extra, t) == pytest.approx(level, rel=1e-9, abs=1e-12)
        assert inverse(g, r, growth_m, ramp, a, base, extra, top * 1.001 + 1e-9) == math.inf


def test_inverse_finds_the_month_where_the_guess_is_far_off():
    """A rate that is zero for most of the run (an arm that removes every crisis) makes the
    cumulative hazard far from proportional to time; the walk from the guess still ends in
    the right month."""
    g, r, growth_m, ramp, growth = tables()
    base, extra = 2e-3, -2e-3  # no crises once the arm is in full effect
    for a in range(5):
        top = base * g[a, -1] + extra * r[a, -1]
        for level in np.linspace(0.0, top * 0.999, 50):
            t = inverse(g, r, growth_m, ramp, a, base, extra, level)
            assert integral(growth, ramp, a, base, extra, t) == pytest.approx(level, rel=1e-9, abs=1e-12)


def test_next_crisis_spends_the_target_through_the_windows():
    """With readmission and end-of-life multipliers, the hazard spent between now and the next
    crisis, each window weighted by its multiplier, is the Exp(1) target."""
    g, r, growth_m, ramp, growth = tables()
    horizon = ramp.shape[0] * DAYS_PER_MONTH
    rng = np.random.default_rng(5)
    found = 0
    for _ in range(300):
        a = int(rng.integers(0, 5))
        base, extra = rng.uniform(1e-4, 3e-3), rng.uniform(-0.5, 0.5) * 1e-4
        now = rng.uniform(0.0, horizon / 2)
        readmit_until, readmit_mult = now + rng.uniform(0.0, 60.0), rng.uniform(1.0, 4.0)
        death = now + rng.uniform(100.0, 3000.0)
        eol_start, eol_mult = death - 365.0, rng.uniform(1.0, 6.0)
        target = -math.log(rng.uniform())
        when = next_crisis(g, r, growth_m, ramp, horizon, a, base, extra, now, target,
                           readmit_until, readmit_mult, eol_start, eol_mult, death)
        windows = (readmit_until, readmit_mult, eol_start, eol_mult)
        end = min(death, horizon)
        if when == math.inf:
            assert spent(growth, ramp, a, base, extra, now, end, windows) <= target * (1 + 1e-9)
        else:
            found += 1
            assert now <= when < end
            assert spent(growth, ramp, a, base, extra, now, when, windows) == pytest.approx(target, rel=1e-8, abs=1e-10)
    assert found > 50
