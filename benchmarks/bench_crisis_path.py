"""Time the arithmetic of one crisis, with everything it reads already in the fastest cache.

    python benchmarks/bench_crisis_path.py [--config configs/bnes.yaml]

A crisis of the fast engine draws its type, diversion and admission (three uniforms and a
comparison per type, `engine_fast._crisis_draws`), then the time of the next crisis (a
uniform, its logarithm, the cumulative hazard now and its inversion, `sim.hazard`). This
script runs each part millions of times over the cohorts with the most crises, all of whose
parameters fit in the first-level cache, and prints nanoseconds per part: the least a crisis
can cost in this design. The next crisis time is timed twice, as a chain (each crisis
after the one before, as in a person's run) and with independent steps: equal figures mean
the pace is set by the number of instructions rather than by waiting for the previous
result. It asserts nothing; docs/performance.md records the figures.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import engine_fast as E  # noqa: E402
from sim.arms import lower_arm  # noqa: E402
from sim.config import load  # noqa: E402
from sim.hazard import next_crisis  # noqa: E402
from sim.population import generate  # noqa: E402
from sim.randomness import keyed_uniform  # noqa: E402


@njit
def _draws(lay, coh, il, cohorts, ramp, n):
    """n crises' type, diversion and admission draws, cycling over *cohorts*."""
    total = 0
    for step in range(n):
        c = cohorts[step % cohorts.shape[0]]
        keys = E._draw_keys(il, np.int64(step & 1023))
        kind, divertible, admitted = E._crisis_draws(lay, coh, il[E.I_N_TYPES], c, keys,
                                                     np.int64(step), ramp)
        total += kind + divertible + admitted
    return total


@njit
def _next_times(g, r, growth_m, ramp, horizon, coh, lay, cohorts, people, chained):
    """Every crisis time of *people* people (cycling over *cohorts*) over the run."""
    total = 0.0
    steps = 0
    for who in range(people):
        c = cohorts[who % cohorts.shape[0]]
        a, base, extra = coh[c, E.K_AGE], lay[c, E.L_BASE, 0], lay[c, E.L_EXTRA, 0]
        now = 0.0
        k = 0
        while True:
            target = -math.log(keyed_uniform(12345, who, k))
            k += 1
            start = now if chained else 10.0 * k  # independent steps: start from a fixed time
            when = next_crisis(g, r, growth_m, ramp, horizon, a, base, extra, start, target,
                               -math.inf, 1.0, 1e12, 1.0, 1e12)
            if not when < horizon or k > 400:
                break
            now = now + (when - now)
            total += when
            steps += 1
    return total, steps


def best_ns(function, per_call, repeats=5):
    """Best wall time of *repeats* calls, in ns per unit of work (per_call(result) units)."""
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = function()
        best = min(best, (time.perf_counter() - t0) / per_call(out))
    return best * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bnes.yaml")
    args = parser.parse_args()
    scenario = load(args.config)
    population = generate(scenario, 7)
    arm = scenario.arms[-1] if len(scenario.arms) > 1 else scenario.arms[0]
    flow = lower_arm(scenario, population, arm, 1, 3)
    f = E._flow_arrays(flow, 7)
    lay, coh, il = f["lay"], f["coh"], f["il"]
    cohorts = np.argsort(-lay[:, E.L_BASE, 0])[:50].astype(np.int64)
    ramp = float(f["ramp_table"][-1])
    horizon = float(f["fl"][E.H_HORIZON])
    hz = (f["g"], f["r"], f["growth_m"], f["ramp_table"])
    print(f"{args.config.name}, arm {arm.name!r}: the 50 of {flow.n_cohorts:,} cohorts with the "
          f"most crises ({lay[cohorts, E.L_BASE, 0].mean() * 365.25:.1f} a person-year)")

    n = 2_000_000
    _draws(lay, coh, il, cohorts, ramp, 10)
    draws = best_ns(lambda: _draws(lay, coh, il, cohorts, ramp, n), lambda out: n)
    times = {}
    for chained in (True, False):
        _next_times(*hz, horizon, coh, lay, cohorts, 10, chained)
        times[chained] = best_ns(
            lambda chained=chained: _next_times(*hz, horizon, coh, lay, cohorts, 20_000, chained),
            lambda out: out[1])
    print(f"type, diversion and admission draws:      {draws:6.1f} ns a crisis")
    print(f"next crisis time, each after the last:    {times[True]:6.1f} ns a crisis")
    print(f"next crisis time, independent steps:      {times[False]:6.1f} ns a crisis")
    print(f"a crisis's arithmetic, at least:          {draws + times[True]:6.1f} ns")


if __name__ == "__main__":
    main()
