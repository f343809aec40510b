"""The crisis hazard over time, and the time at which a person's next crisis falls.

A person's hazard at time t is

    h(t) = [B + ramp(t) (M - B)] * growth(age, year(t)) * state(t)

where B is their cohort's crisis rate under today's services, M under the arm at full effect,
and state(t) multiplies in the readmission window (just after a discharge) and the end-of-life
window (just before death). B, M and state are constant between known break points, so the
next crisis is found exactly by inverting the cumulative hazard against one Exp(1) draw:
no thinning, no per-day loop. Both engines call these functions; the fast engine has them
pasted into its own code (``inline``), as a call would pass the four tables as 34 machine
words each time.
"""

import math

import numpy as np

from sim.flow import DAYS_PER_MONTH, FlowParams
from sim.jit import kernel, nonneg


def monthly_tables(flow: FlowParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative growth G[a, m] and growth x ramp R[a, m] at the start of each month m, and
    each month's growth, growth_m[a, m] = growth[a, m // 12] (read without a division)."""
    months = flow.ramp.shape[0]
    growth_m = np.ascontiguousarray(np.asarray(flow.growth, dtype=np.float64)[:, np.arange(months) // 12])
    g = np.zeros((growth_m.shape[0], months + 1))
    r = np.zeros((growth_m.shape[0], months + 1))
    # Running sums month by month (np.cumsum adds in order, as a loop would).
    np.cumsum(growth_m * DAYS_PER_MONTH, axis=1, out=g[:, 1:])
    np.cumsum(growth_m * np.asarray(flow.ramp, dtype=np.float64)[None, :] * DAYS_PER_MONTH, axis=1, out=r[:, 1:])
    return g, r, growth_m


@kernel(inline=True)
def floor_div(t, d):
    """Python's ``int(t // d)`` for d > 0, without its slow remainder (times in a run are
    never negative; a negative t takes the slow way).

    The quotient is within a few units in the last place of the exact one, so its floor is
    the exact floor unless it lies that close to an integer; that rare case, and quotients
    too large for the test, go to `_floor_div_near`. Pasted into its callers (``inline``):
    the fast engine divides times into months and years at every crisis.
    """
    q = t * (1.0 / d)  # within a few units in the last place of t / d, and no division
    if t >= 0.0 and q < 1e8:
        # Truncation is then the floor: one conversion to an integer, without rounding down
        # as a double first, so the month's tables are read sooner after t is known.
        n = int(q)
        frac = q - n
        # Below 1e-9 the floor is 0 too (as at t = 0, where every person's first crisis is
        # drawn); the tests are combined without a branch that could be mispredicted.
        if ((1e-9 < frac) | (q < 0.5)) & (frac < 1.0 - 1e-9):
            return n
    return _floor_div_near(t, d, q)


@kernel
def _floor_div_near(t, d, q):
    """`floor_div` where t / d is within 1e-9 of an integer k, or 1e8 or more, or negative.

    Then t // d is k or k - 1 as t >= k d or not, which is decided exactly: d is split into
    two halves of 26 bits (Veltkamp), so k d is the exact sum of two doubles, and t - k hi is
    exact (Sterbenz).
    """
    if not (t >= 0.0 and q < 1e8):
        return int(t // d)
    n = math.floor(q)
    k = n if q - n <= 0.5 else n + 1
    if k == 0:
        return 0
    split = 134217729.0 * d  # 2**27 + 1
    hi = split - (split - d)
    lo = d - hi
    return k - 1 if t - k * hi < k * lo else k


@kernel(inline=True)
def cumulative(g, r, growth_m, ramp, a, base, extra, t):
    """Crisis hazard integrated from 0 to t (t within the run) for rates *base* and *extra*."""
    months = ramp.shape[0]
    a = nonneg(a)  # an age band
    m = floor_div(t, DAYS_PER_MONTH)
    if m >= months:
        m = months - 1
    m = nonneg(m)  # t >= 0
    dt = t - m * DAYS_PER_MONTH
    rate = growth_m[a, m]
    return base * (g[a, m] + rate * dt) + extra * (r[a, m] + rate * ramp[m] * dt)


@kernel(inline=True)
def inverse(g, r, growth_m, ramp, a, base, extra, level):
    """The time at which the cumulative hazard reaches *level* (inf if never in the run)."""
    months = ramp.shape[0]
    a = nonneg(a)  # an age band
    total = base * g[a, months] + extra * r[a, months]
    if total < level:
        return math.inf
    # The largest month start lo < months with cumulative(lo) <= level. The cumulative hazard
    # grows nearly in proportion to time, so a guess in proportion is within a month or two
    # of lo, and a short walk from it finds lo with few, mostly predictable branches (a
    # binary search takes seven unpredictable ones).
    # (months / total does not wait for level: in a run of crises, where each level waits
    # for the crisis before, the guess then costs one multiplication, not a division.)
    lo = int(level * (months / total)) if total > 0.0 else 0
    if lo > months - 1:
        lo = months - 1
    lo = nonneg(max(lo, 0))
    while lo > 0 and base * g[a, lo] + extra * r[a, lo] > level:
        lo -= 1
    while lo < months - 1 and base * g[a, lo + 1] + extra * r[a, lo + 1] <= level:
        lo += 1
    lo = nonneg(lo)  # the walks stop at 0
    start = base * g[a, lo] + extra * r[a, lo]
    rate = growth_m[a, lo] * (base + extra * ramp[lo])
    if rate <= 0.0:
        return math.inf
    return lo * DAYS_PER_MONTH + (level - start) / rate


@kernel(inline=True)
def next_crisis(g, r, growth_m, ramp, horizon, a, base, extra, now, target,
                readmit_until, readmit_mult, eol_start, eol_mult, death):
    """Time of the next crisis after *now* for an Exp(1) *target*; inf if none before death.

    Most of the time there is only ordinary time until the end (death or the horizon), and
    the hazard is inverted at once; otherwise `_next_crisis_windows` walks the windows.
    """
    end = death if death < horizon else horizon
    if now < end and now >= readmit_until and eol_start >= end:
        level = cumulative(g, r, growth_m, ramp, a, base, extra, now) + target
        when = inverse(g, r, growth_m, ramp, a, base, extra, level)
        if when < now:
            when = now
        return when if when < end else math.inf
    return _next_crisis_windows(g, r, growth_m, ramp, a, base, extra, now, target,
                                readmit_until, readmit_mult, eol_start, eol_mult, end)


@kernel(inline=True)
def _next_crisis_windows(g, r, growth_m, ramp, a, base, extra, now, target,
                         readmit_until, readmit_mult, eol_start, eol_mult, end):
    """`next_crisis` for a person in the readmission or end-of-life window before *end*.

    Walks the (at most three) segments where the state multiplier is constant: the
    readmission window, ordinary time, and the end-of-life window.
    """
    t = now
    remaining = target
    start = cumulative(g, r, growth_m, ramp, a, base, extra, t)
    while t < end:
        mult = 1.0
        seg_end = end
        if t < readmit_until:
            mult *= readmit_mult
            if readmit_until < seg_end:
                seg_end = readmit_until
        if t < eol_start:
            if eol_start < seg_end:
                seg_end = eol_start
        else:
            mult *= eol_mult
        stop = cumulative(g, r, growth_m, ramp, a, base, extra, seg_end)
        available = mult * (stop - start)
        if remaining <= available:
            when = inverse(g, r, growth_m, ramp, a, base, extra, start + remaining / mult)
            if when < t:
                when = t
            if when >= end:
                return math.inf
            return when
        remaining -= available
        t = seg_end
        start = stop
    return math.inf
