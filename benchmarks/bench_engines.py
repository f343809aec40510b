"""Time the two engines on one place and seed, beside a minimal numba M/M/c loop.

    python benchmarks/bench_engines.py [--config configs/bnes.yaml] [--runs 5]

Prints events per second of the reference engine (one run), of the fast engine (best of
--runs after a warm-up call that compiles or loads the compiled code), and of a minimal
M/M/c loop (400 beds, 8 years, Poisson arrivals, exponential stays, a binary heap: about
the least work an event can cost on one core); the fast/reference and fast/minimal ratios;
the compile time (the first call in a fresh process with an empty numba cache, measured in
a subprocess); and peak memory (resource.getrusage). It asserts nothing: timings depend on
the machine and on what else runs on it, so record them with the machine's description.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import engine_fast, engine_reference  # noqa: E402
from sim.config import load  # noqa: E402
from sim.flow import lower_place  # noqa: E402
from sim.jit import kernel  # noqa: E402
from sim.population import generate  # noqa: E402
from sim.randomness import uniform  # noqa: E402

ARRIVAL, DEPARTURE = 0, 1


@kernel
def _heap_push(heap_t, heap_k, n, when, key):
    while n > 0:
        parent = (n - 1) >> 1
        if when < heap_t[parent] or (when == heap_t[parent] and key < heap_k[parent]):
            heap_t[n] = heap_t[parent]
            heap_k[n] = heap_k[parent]
            n = parent
        else:
            break
    heap_t[n] = when
    heap_k[n] = key


@kernel
def _heap_pop(heap_t, heap_k, n):
    """Remove the root of a heap of n events (read it first)."""
    n -= 1
    when, key = heap_t[n], heap_k[n]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and (heap_t[child + 1] < heap_t[child] or (
                heap_t[child + 1] == heap_t[child] and heap_k[child + 1] < heap_k[child])):
            child += 1
        if heap_t[child] < when or (heap_t[child] == when and heap_k[child] < key):
            heap_t[i] = heap_t[child]
            heap_k[i] = heap_k[child]
            i = child
        else:
            break
    heap_t[i] = when
    heap_k[i] = key


@kernel
def _mmc(heap_t, heap_k, servers, arrivals_per_day, mean_stay_days, horizon, seed):
    """M/M/c with a first-come queue; events keyed (time, kind << 56 | sequence)."""
    n = 0
    seq = 0
    draw = 0
    busy = 0
    waiting = 0
    events = 0
    first = -math.log(uniform(seed, 1, 0, draw)) / arrivals_per_day
    draw += 1
    _heap_push(heap_t, heap_k, n, first, seq)
    n += 1
    seq += 1
    while n > 0:
        now = heap_t[0]
        kind = heap_k[0] >> 56
        _heap_pop(heap_t, heap_k, n)
        n -= 1
        events += 1
        start = False
        if kind == ARRIVAL:
            following = now - math.log(uniform(seed, 1, 0, draw)) / arrivals_per_day
            draw += 1
            if following < horizon:
                _heap_push(heap_t, heap_k, n, following, seq)
                n += 1
                seq += 1
            if busy < servers:
                busy += 1
                start = True
            else:
                waiting += 1
        elif waiting > 0:
            waiting -= 1
            start = True
        else:
            busy -= 1
        if start:
            done = now - mean_stay_days * math.log(uniform(seed, 2, 0, draw))
            draw += 1
            if done < horizon:
                _heap_push(heap_t, heap_k, n, done, (DEPARTURE << 56) | seq)
                n += 1
                seq += 1
    return events


def minimal_mmc(beds: int = 400, years: int = 8, mean_stay_days: float = 5.0,
                occupancy: float = 0.9, seed: int = 7) -> int:
    """Run the minimal M/M/c loop; returns the number of events."""
    size = 2 * beds + 16  # at most one arrival and the departures of the beds are pending
    heap_t, heap_k = np.empty(size), np.empty(size, dtype=np.int64)
    return int(_mmc(heap_t, heap_k, beds, occupancy * beds / mean_stay_days, mean_stay_days,
                    years * 365.0, seed))


def best_time(function, runs: int) -> tuple[float, float, object]:
    """Smallest wall and CPU time of *runs* calls, and the last result."""
    wall = cpu = math.inf
    result = None
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        result = function()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, result


def peak_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # kilobytes on Linux


COMPILE_PROBE = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    from sim import engine_fast
    from sim.config import load
    from sim.flow import lower_place
    from sim.population import generate
    scenario = load({config!r})
    flow = lower_place(scenario, generate(scenario, 1))
    t1 = time.perf_counter()
    engine_fast.run(flow, 7)
    t2 = time.perf_counter()
    engine_fast.run(flow, 7)
    t3 = time.perf_counter()
    print(t1 - t0, t2 - t1, t3 - t2)
""")


def compile_seconds(config: Path) -> tuple[float, float]:
    """First fast-engine call in a fresh process: with an empty cache, then with it filled."""
    seconds = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        env.pop("CARESIM_NO_CACHE", None)
        for _ in range(2):  # empty cache, then the cache the first call wrote
            out = subprocess.run([sys.executable, "-c", COMPILE_PROBE.format(config=str(config))],
                                 env=env, cwd=ROOT, capture_output=True, text=True, check=True)
            setup, first, again = (float(x) for x in out.stdout.split())
            seconds.append(first - again)  # the first call less the run itself
    return seconds[0], seconds[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bnes.yaml")
    parser.add_argument("--seed", type=int, default=7, help="engine seed (both engines)")
    parser.add_argument("--runs", type=int, default=5, help="timed fast-engine and M/M/c runs")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {platform.platform()}")
    scenario = load(args.config)
    flow = lower_place(scenario, generate(scenario, 1))
    print(f"place: {args.config.name}, {flow.person_cohort.shape[0]:,} people, "
          f"{flow.n_years} years, seed {args.seed}")

    w0 = time.perf_counter()
    engine_fast.run(flow, args.seed)
    warm_up = time.perf_counter() - w0
    def one_fast_run():
        # One arm on its own: it works out its set-up draws as it goes rather than reading
        # those kept from the run before on the same seed (as the arms of a replication do).
        engine_fast.forget_first_draws()
        return engine_fast.run(flow, args.seed)

    fast_wall, fast_cpu, fast = best_time(one_fast_run, args.runs)
    fast_peak = peak_mib()

    minimal_mmc(years=1)
    mmc_wall, mmc_cpu, mmc_events = best_time(minimal_mmc, args.runs)

    rows = [("fast engine", fast.events, fast_wall, fast_cpu),
            ("minimal M/M/c", mmc_events, mmc_wall, mmc_cpu)]
    if not args.skip_reference:
        w0, c0 = time.perf_counter(), time.process_time()
        reference = engine_reference.run(flow, args.seed)
        rows.append(("reference engine", reference.events, time.perf_counter() - w0,
                     time.process_time() - c0))
        same = np.array_equal(reference.counters, fast.counters) and reference.events == fast.events
        print(f"engines agree on every yearly counter: {same}")

    print()
    print(f"{'':18s} {'events':>10s} {'wall s':>9s} {'cpu s':>9s} {'events/s (cpu)':>15s} {'ns/event':>9s}")
    rate = {}
    for name, events, wall, cpu in rows:
        rate[name] = events / cpu
        print(f"{name:18s} {events:10,d} {wall:9.3f} {cpu:9.3f} {rate[name]:15,.0f} {1e9 / rate[name]:9.0f}")
    print()
    if "reference engine" in rate:
        print(f"fast / reference (events per cpu second): {rate['fast engine'] / rate['reference engine']:8.1f}x")
    print(f"fast / minimal M/M/c:                      {rate['fast engine'] / rate['minimal M/M/c']:8.3f}")
    print(f"fast engine warm-up call in this process:  {warm_up:8.2f} s (compile, or load from cache)")
    if not args.skip_compile:
        empty, filled = compile_seconds(ROOT / "configs" / "small.yaml")
        print(f"compile, fresh process, empty cache:       {empty:8.1f} s")
        print(f"first call, fresh process, cache filled:   {filled:8.2f} s")
    print(f"peak memory after the fast engine runs:    {fast_peak:8.0f} MiB")
    print(f"peak memory after the reference run:       {peak_mib():8.0f} MiB")


if __name__ == "__main__":
    main()
