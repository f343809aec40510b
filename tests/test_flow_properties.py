"""Properties of the patient flow that must hold whatever the numbers: reproducibility,
capacity monotonicity in expectation, and the bookkeeping of diversion and occupancy.

Monotonicity is checked on the mean over replications with common seeds (each replication's
people and engine seed are the same at every capacity level). It is *not* checked replication
by replication, because it need not hold there: a person's next crisis is timed from the day
they get home, so a bed freed earlier moves every later crisis of that person, and with them
who meets a full ward, who is readmitted, who dies in hospital. The paths part after the first
difference, and one replication can come out worse with more capacity (when this was written,
in 30 replications of configs/small.yaml, step-down beds 2 -> 3 raised delayed days in 3 of
them and reablement 6 -> 8 in 1). In expectation more capacity should
help, and the levels are spaced so that each step's expected effect is several standard errors
of the paired difference; a flat (saturated) step with common seeds gives equal values, which
the non-strict comparison accepts.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

try:
    from validation.queueing import engine_seeds
except ModuleNotFoundError:  # validation/ is not an installed package (pyproject lists sim, models)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from validation.queueing import engine_seeds

from sim import engine_fast, engine_reference
from sim.config import load, with_changes
from sim.flow import DIVERSION, lower_place
from sim.population import generate
from sim.result import RunResult

SMALL_PLACE = Path(__file__).resolve().parents[1] / "configs" / "small.yaml"
REPLICATIONS = 30
RESULT_ARRAYS = ("counters", "admissions_by_age", "admissions_by_cluster", "admissions_by_forum",
                 "pathways", "diverted_by_pool", "pool_days", "pool_episodes", "pool_queue_days",
                 "los_hist", "daily_occupancy", "daily_queue", "daily_delayed")
ENGINES = {"fast": engine_fast, "reference": engine_reference}


@pytest.fixture(scope="module")
def place():
    return load(SMALL_PLACE)


@pytest.fixture(scope="module")
def people(place):
    """Each replication's engine seed and population, shared by every capacity level."""
    return [(seed, generate(place, seed)) for seed in engine_seeds(place.run.seed, REPLICATIONS)]


def contract(result: RunResult, scenario) -> slice:
    return slice(scenario.run.warm_up_years, scenario.n_years)


def mean_trolley_wait_days(result, scenario) -> float:
    years = contract(result, scenario)
    return result.counter("trolley_wait_days")[years].sum() / result.counter("admissions")[years].sum()


def trolley_wait_share(result, scenario) -> float:
    years = contract(result, scenario)
    return result.counter("trolley_waits")[years].sum() / result.counter("admissions")[years].sum()


def delayed_days_per_year(result, scenario) -> float:
    return result.counter("delayed_days")[contract(result, scenario)].sum() / scenario.run.contract_years


def level_values(place, people, levels, *measures) -> np.ndarray:
    """values[measure, level, replication], with common seeds and people across levels."""
    values = np.empty((len(measures), len(levels), len(people)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for row, changes in enumerate(levels):
            scenario = with_changes(place, changes)

            def one(item, scenario=scenario):
                seed, population = item
                result = engine_fast.run(lower_place(scenario, population), seed)
                return [measure(result, scenario) for measure in measures]

            values[:, row, :] = np.array(list(pool.map(one, people))).T
    return values


def assert_mean_never_rises(values: np.ndarray, what: str) -> None:
    means = values.mean(axis=1)
    rises = [(k, means[k], means[k + 1]) for k in range(len(means) - 1) if means[k + 1] > means[k]]
    assert not rises, f"{what}: mean rose with more capacity at steps {rises} (means {means})"


# --- reproducibility ------------------------------------------------------------------------


@pytest.mark.parametrize("engine", list(ENGINES))
def test_same_seed_gives_identical_outputs(place, engine):
    run = ENGINES[engine].run
    first = run(lower_place(place, generate(place, 11)), 11, log_episodes=True)
    second = run(lower_place(place, generate(place, 11)), 11, log_episodes=True)
    for name in RESULT_ARRAYS:
        assert np.array_equal(getattr(first, name), getattr(second, name)), name
    assert np.array_equal(first.episodes, second.episodes, equal_nan=True)
    assert first.events == second.events


def test_a_different_seed_gives_different_outputs(place):
    flow = lower_place(place, generate(place, 11))
    first, second = engine_fast.run(flow, 11), engine_fast.run(flow, 12)
    for name in ("counters", "pool_days", "daily_occupancy"):
        assert not np.array_equal(getattr(first, name), getattr(second, name)), name


# --- monotonicity in capacity, in expectation -------------------------------------------------


@pytest.mark.slow
def test_more_acute_beds_never_raise_mean_trolley_waits(place, people):
    levels = [{"services.acute_beds.capacity": beds} for beds in (5, 6, 7, 9)]
    measures = (mean_trolley_wait_days, trolley_wait_share)
    values = level_values(place, people, levels, *measures)
    for measure, by_level in zip(measures, values, strict=True):
        assert by_level[0].mean() > 0.0  # the fewest beds must make people wait, or nothing is tested
        assert_mean_never_rises(by_level, measure.__name__)


@pytest.mark.slow
@pytest.mark.parametrize("service, capacities", [
    ("reablement", (2, 3, 4, 6)),
    ("step_down_beds", (0, 1, 2)),
    ("care_homes", (10, 12, 14, 18)),
])
def test_more_downstream_capacity_never_raises_mean_delayed_days(place, people, service, capacities):
    levels = [{f"services.{service}.capacity": c} for c in capacities]
    values = level_values(place, people, levels, delayed_days_per_year)[0]
    assert values[0].mean() > 0.0
    assert_mean_never_rises(values, f"delayed days, {service}")


@pytest.mark.slow
def test_more_of_every_downstream_service_never_raises_mean_delayed_days(place, people):
    base = {name: getattr(place.services, name).capacity
            for name in ("reablement", "step_down_beds", "care_homes")}
    def scaled(capacity, factor):
        if isinstance(capacity, list):
            return [int(round(c * factor)) for c in capacity]
        return int(round(capacity * factor))

    levels = [{f"services.{name}.capacity": scaled(capacity, factor)
               for name, capacity in base.items()} for factor in (0.5, 1.0, 1.5)]
    values = level_values(place, people, levels, delayed_days_per_year)[0]
    assert_mean_never_rises(values, "delayed days, all downstream services")


# --- diversion and occupancy bookkeeping -------------------------------------------------------


def test_zero_diversion_capacity_means_zero_diverted(place):
    services = ("urgent_community_response", "virtual_ward", "step_up_beds", "mental_health_crisis_beds")
    closed = with_changes(place, {f"services.{name}.capacity": 0 for name in services})
    flow = lower_place(closed, generate(closed, 11))
    result = engine_fast.run(flow, 11)
    diversion_pools = np.nonzero(flow.pool_kind == DIVERSION)[0]
    assert result.counter("diverted").sum() == 0
    assert np.all(result.diverted_by_pool == 0)
    assert np.all(result.pool_days[:, diversion_pools] == 0)
    assert np.all(result.pool_episodes[:, diversion_pools] == 0)
    assert np.array_equal(result.counter("ed_attendances"), result.counter("crises"))
    # The same place with its diversion services open does divert (so the test can fail).
    open_flow = lower_place(place, generate(place, 11))
    assert engine_fast.run(open_flow, 11).counter("diverted").sum() > 0


def test_closing_one_diversion_service_leaves_the_others_diverting(place):
    closed = with_changes(place, {"services.urgent_community_response.capacity": 0})
    flow = lower_place(closed, generate(closed, 11))
    result = engine_fast.run(flow, 11)
    ucr = flow.pool_names.index("urgent_community_response")
    assert np.all(result.diverted_by_pool[:, ucr] == 0)
    assert result.diverted_by_pool.sum() > 0


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_every_crisis_is_diverted_or_attends_and_places_never_exceed_capacity(place, seed):
    flow = lower_place(place, generate(place, seed))
    result = engine_fast.run(flow, seed)
    assert np.array_equal(result.counter("crises"),
                          result.counter("diverted") + result.counter("ed_attendances"))
    assert np.all(result.counter("admissions") <= result.counter("ed_attendances"))
    assert np.array_equal(result.diverted_by_pool.sum(axis=1), result.counter("diverted"))
    # A place over capacity can only be one kept after a yearly cut, so the largest yearly
    # capacity bounds every day.
    assert np.all(result.daily_occupancy <= flow.capacity.max(axis=1)[None, :])
    assert np.all(result.daily_occupancy >= 0) and np.all(result.daily_queue >= 0)
    # Diversion services are loss systems: a crisis that finds them full goes to hospital.
    diversion_pools = np.nonzero(flow.pool_kind == DIVERSION)[0]
    assert np.all(result.daily_queue[:, diversion_pools] == 0)
    assert np.all(result.pool_queue_days[:, diversion_pools] == 0)
