"""Time one seven-year replication of England (configs/england.yaml) and its peak memory.

    python benchmarks/bench_england.py [--config configs/england.yaml] [--arm status_quo]

Generates the population of one replication, lowers one arm, runs the fast engine and turns
the result into the tidy measures, printing the wall time and the process's peak resident
memory after each step (resource.getrusage). One machine, one process. It asserts nothing:
the issue's limit is 24 GB of memory, and the figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import engine_fast  # noqa: E402
from sim.arms import lower_arm  # noqa: E402
from sim.config import load  # noqa: E402
from sim.measures import measure_rows  # noqa: E402
from sim.population import generate  # noqa: E402
from sim.randomness import replication_seed  # noqa: E402


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0**2  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "england.yaml")
    parser.add_argument("--arm", default=None, help="arm to run (default: the first)")
    parser.add_argument("--replication", type=int, default=0)
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB, "
          f"Python {platform.python_version()}")
    scenario = load(args.config)
    arm = next((a for a in scenario.arms if a.name == args.arm), None) if args.arm else scenario.arms[0]
    if arm is None:
        raise SystemExit(f"no arm called {args.arm!r}")
    seed = replication_seed(scenario.run.seed, args.replication)
    total = time.perf_counter()

    def step(name, function):
        t0 = time.perf_counter()
        out = function()
        print(f"{name:28s} {time.perf_counter() - t0:8.1f} s   peak so far {peak_gib():6.2f} GiB",
              flush=True)
        return out

    # Compile (or load from the cache) on a tiny run first, so the timings below are the run's.
    small = load(ROOT / "configs" / "small.yaml")
    step("compile or load the engine", lambda: engine_fast.run(
        lower_arm(small, generate(small, 1), small.arms[0], 1, None), 1))
    population = step("population", lambda: generate(scenario, seed))
    print(f"people: {population.size:,}; arm: {arm.name}; "
          f"{scenario.run.warm_up_years} warm-up and {scenario.run.contract_years} contract years")
    flow = step("lower the arm", lambda: lower_arm(scenario, population, arm, scenario.run.seed,
                                                   args.replication))
    result = step("fast engine", lambda: engine_fast.run(flow, seed))
    rows = step("measures", lambda: measure_rows(result, flow, scenario, population))
    print(f"events: {result.events:,}; measure rows: {len(rows):,}")
    admissions = result.counters[:, 3].sum()
    print(f"admissions over the run: {admissions:,.0f}")
    print(f"whole replication: {time.perf_counter() - total:.1f} s; peak memory {peak_gib():.2f} GiB")


if __name__ == "__main__":
    main()
