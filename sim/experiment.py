"""Experiments: every arm of a scenario in every replication, on common random numbers.

A task is one replication: its population is generated once and every arm runs on it with
the same engine seed, so arms differ only by what their care models change. Parameter draws
key on (run seed, parameter name, replication), so a parameter shared by arms takes the same
draw in each. Tasks run in a local process pool; results do not depend on the number of
workers because every number is a pure function of the seed and the replication.
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import sim
from sim.arms import lower_arm
from sim.config import Arm, Scenario
from sim.measures import daily_columns, measure_records
from sim.population import generate
from sim.randomness import replication_seed

ENGINES = ("fast", "reference")


@dataclass
class ExperimentResult:
    """Tidy results of an experiment, its daily series and what is needed to reproduce it."""

    scenario: Scenario
    tidy: pd.DataFrame   # arm, replication, year, measure, detail, value
    daily: pd.DataFrame  # arm, replication, day, delayed_patients, <service>_occupied/_waiting
    manifest: dict = field(default_factory=dict)

    @property
    def arms(self) -> list[str]:
        return list(pd.unique(self.tidy["arm"]))


def engine_module(name: str):
    """The engine module called *name* ("fast" or "reference")."""
    if name == "fast":
        from sim import engine_fast

        return engine_fast
    if name == "reference":
        from sim import engine_reference

        return engine_reference
    raise ValueError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")


def run_replication(scenario: Scenario, replication: int, arms: list[Arm] | None = None,
                    engine: str = "fast", seed: int | None = None,
                    uncertainty: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every arm (or *arms*) for one replication: (tidy rows, daily rows)."""
    run_seed = scenario.run.seed if seed is None else seed
    rep_seed = replication_seed(run_seed, replication)
    population = generate(scenario, rep_seed)
    module = engine_module(engine)
    records: list[tuple] = []
    daily: list[tuple[str, dict[str, np.ndarray]]] = []
    for arm in arms if arms is not None else scenario.arms:
        flow = lower_arm(scenario, population, arm, run_seed, replication if uncertainty else None)
        result = module.run(flow, rep_seed)
        records += [(arm.name, replication, *row) for row in measure_records(result, flow, scenario, population)]
        daily.append((arm.name, daily_columns(result, flow)))
    tidy = pd.DataFrame(records, columns=["arm", "replication", "year", "measure", "detail", "value"])
    return tidy, _daily_table(daily, replication)


def _daily_table(daily: list[tuple[str, dict[str, np.ndarray]]], replication: int) -> pd.DataFrame:
    """One table of the arms' daily series: arm, replication, day, then the series."""
    if any(list(columns) != list(daily[0][1]) for _, columns in daily):  # an arm added a service
        frames = [pd.DataFrame(columns).assign(arm=arm, replication=replication) for arm, columns in daily]
        table = pd.concat(frames, ignore_index=True)
        front = ["arm", "replication", "day"]
        return table[front + [c for c in table.columns if c not in front]]
    lengths = [len(columns["day"]) for _, columns in daily]
    data: dict[str, np.ndarray | list[str]] = {
        "arm": [arm for (arm, _), n in zip(daily, lengths, strict=True) for _ in range(n)],
        "replication": np.full(sum(lengths), replication, dtype=np.int64),
    }
    for name in daily[0][1]:
        data[name] = np.concatenate([columns[name] for _, columns in daily])
    return pd.DataFrame(data)


def _task(args):
    scenario, replication, arms, engine, seed, uncertainty = args
    return replication, run_replication(scenario, replication, arms, engine, seed, uncertainty)


def _worker_start() -> None:
    """Start of a worker process: everything it was handed at its start (the modules, the
    scenario) lives to its end, so the garbage collector stops looking through it; a
    replication's collections then take well under a millisecond instead of about six."""
    gc.freeze()


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_experiment(scenario: Scenario, replications: int | None = None, seed: int | None = None,
                   engine: str = "fast", workers: int | None = None, arms: Iterable[str] | None = None,
                   uncertainty: bool = True,
                   progress: Callable[[int, int], None] | None = None) -> ExperimentResult:
    """Run arms x replications; *progress(done, total)* is called as replications finish."""
    engine_module(engine)
    reps = scenario.run.replications if replications is None else int(replications)
    if reps < 1:
        raise ValueError("replications must be at least 1")
    run_seed = scenario.run.seed if seed is None else int(seed)
    chosen = scenario.arms
    if arms is not None:
        wanted = list(arms)
        unknown = [a for a in wanted if a not in [x.name for x in scenario.arms]]
        if unknown:
            raise ValueError(f"no arm called {', '.join(map(repr, unknown))}; arms are "
                             f"{', '.join(repr(a.name) for a in scenario.arms)}")
        chosen = [a for a in scenario.arms if a.name in wanted]
    workers = default_workers() if workers is None else max(1, int(workers))
    started = time.time()
    tasks = [(scenario, r, chosen, engine, run_seed, uncertainty) for r in range(reps)]
    results: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}
    if workers == 1 or reps == 1:
        for task in tasks:
            r, out = _task(task)
            results[r] = out
            if progress:
                progress(len(results), reps)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, reps), initializer=_worker_start) as pool:
            futures = [pool.submit(_task, task) for task in tasks]
            for future in as_completed(futures):
                r, out = future.result()
                results[r] = out
                if progress:
                    progress(len(results), reps)
    tidy = pd.concat([results[r][0] for r in range(reps)], ignore_index=True)
    daily = pd.concat([results[r][1] for r in range(reps)], ignore_index=True)
    manifest = {
        "caresim_version": sim.__version__,
        "config_name": scenario.name,
        "config_sha256": scenario.digest(),
        "seed": run_seed,
        "replications": reps,
        "engine": engine,
        "workers": workers,
        "parameter_uncertainty": uncertainty,
        "arms": [a.name for a in chosen],
        "seconds": round(time.time() - started, 2),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
    }
    return ExperimentResult(scenario, tidy, daily, manifest)
