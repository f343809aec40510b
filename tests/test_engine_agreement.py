"""The fast engine against the reference engine: the same flow and seed give the same run.

The SimPy reference engine is the oracle (tests/naive.py in stumpy's sense). Both engines
draw the same counter-based random numbers and take events in the same order, so every
yearly counter, pool total, daily series and episode-log row must be equal: arrays exactly,
episode-log times to 1e-9 days (they are in fact equal too).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import engine_fast, engine_reference
from sim.config import load, with_changes
from sim.flow import DAYS_PER_MONTH, DAYS_PER_YEAR, SERVICE_POOLS, lower_place, ramp_table
from sim.hazard import floor_div
from sim.population import generate
from sim.result import RunResult

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SEED = 20170401


def assert_same_run(fast: RunResult, reference: RunResult) -> None:
    """Every array of the two results equal; episode-log rows equal to 1e-9 days."""
    for field in dataclasses.fields(RunResult):
        a, b = getattr(fast, field.name), getattr(reference, field.name)
        if field.name == "episodes":
            if a is None or b is None:
                assert a is None and b is None
                continue
            assert a.shape == b.shape, f"episode log: {a.shape} rows against {b.shape}"
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9, equal_nan=True,
                                       err_msg="episode log")
        elif isinstance(a, np.ndarray):
            assert a.shape == b.shape, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name


def both_engines(flow, seed: int, log_episodes: bool = True) -> tuple[RunResult, RunResult]:
    return (engine_fast.run(flow, seed, log_episodes=log_episodes),
            engine_reference.run(flow, seed, log_episodes=log_episodes))


def scaled_capacities(scenario, factor: float) -> dict:
    """with_changes entries that scale every service's capacity by *factor* (at least 1 place)."""
    changes = {}
    for name in SERVICE_POOLS:
        capacity = getattr(scenario.services, name).capacity
        if isinstance(capacity, list):
            changes[f"services.{name}.capacity"] = [max(1, round(c * factor)) for c in capacity]
        else:
            changes[f"services.{name}.capacity"] = max(1, round(capacity * factor))
    return changes


@pytest.fixture(scope="module")
def small_place():
    return load(CONFIGS / "small.yaml")


@pytest.fixture(scope="module")
def small_flow(small_place):
    return lower_place(small_place, generate(small_place, 1))


@pytest.fixture(scope="module")
def short_bnes():
    """The default place cut to 30,000 people and one contract year, capacities scaled to match."""
    bnes = load(CONFIGS / "bnes.yaml")
    size = 30_000
    changes = {"run.contract_years": 1, "population.size": size}
    changes.update(scaled_capacities(bnes, size / bnes.population.size))
    # Capacities given per contract year must now have one entry.
    for key, value in list(changes.items()):
        if isinstance(value, list):
            changes[key] = value[:1]
    return with_changes(bnes, changes)


# --- whole runs -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [7, SEED])
def test_small_place(small_flow, seed):
    fast, reference = both_engines(small_flow, seed)
    assert reference.events > 1000 and reference.episodes.shape[0] > 500  # a real run
    assert_same_run(fast, reference)


def test_attendances_counted_at_once_or_as_events(small_flow, short_bnes):
    """Counting attendance-only crises at once (the default) or sending each through the
    event list gives the same run; the second is also what a run falls back to when two
    crises fall at the same instant."""
    assert_same_run(engine_fast.run(small_flow, 7, log_episodes=True),
                    engine_fast.run(small_flow, 7, log_episodes=True, attendances_at_once=False))
    scenario = short_bnes
    flow = lower_place(scenario, generate(scenario, 5))
    at_once = engine_fast.run(flow, 5)
    one_by_one = engine_fast.run(flow, 5, attendances_at_once=False)
    assert_same_run(at_once, one_by_one)
    # Many crises are attendances and nothing else, so many were counted at once.
    crises, admitted = at_once.counter("crises").sum(), at_once.counter("admissions").sum()
    assert crises > 2 * admitted


def test_short_default_place(short_bnes):
    flow = lower_place(short_bnes, generate(short_bnes, 3))
    fast, reference = both_engines(flow, 11, log_episodes=False)
    assert reference.counter("admissions").sum() > 1000
    assert_same_run(fast, reference)


def test_mixed_exponential_stays(small_place):
    scenario = with_changes(small_place, {"flow.length_of_stay.distribution": "mixed_exponential"})
    flow = lower_place(scenario, generate(scenario, 2))
    assert flow.los_mixed
    assert_same_run(*both_engines(flow, 5))


def test_mixed_exponential_stays_default_place(short_bnes):
    scenario = with_changes(short_bnes, {"flow.length_of_stay.distribution": "mixed_exponential"})
    flow = lower_place(scenario, generate(scenario, 4))
    assert_same_run(*both_engines(flow, 9, log_episodes=False))


def test_no_escalation_trolley_waits(small_place):
    scenario = with_changes(small_place, {"services.acute_beds.when_full": "wait",
                                          "services.acute_beds.capacity": 4})
    flow = lower_place(scenario, generate(scenario, 3))
    assert not flow.escalate
    fast, reference = both_engines(flow, 13)
    assert reference.counter("trolley_waits").sum() > 0  # the queue is exercised
    assert reference.counter("escalation_admissions").sum() == 0
    assert_same_run(fast, reference)


def test_full_queues_everywhere(small_place):
    """Tight downstream services: delayed transfers, care-home and home-care queues."""
    changes = {"services.step_down_beds.capacity": 1, "services.reablement.capacity": 1,
               "services.home_care.capacity": 5, "services.care_homes.capacity": 3,
               "services.acute_beds.capacity": 5, "services.escalation_beds.capacity": 1}
    scenario = with_changes(small_place, changes)
    flow = lower_place(scenario, generate(scenario, 5))
    fast, reference = both_engines(flow, 17)
    assert reference.pool_queue_days.sum() > 0
    assert_same_run(fast, reference)


def test_arm_effects(small_place):
    """A care model's changes live in layer 1 of the FlowParams arrays, phased in by the ramp.

    Perturb that layer as a care model would (fewer crises, more diversion, shorter stays,
    other pathways and delays, end-of-life effects) with a linear ramp over the first year.
    """
    flow = lower_place(small_place, generate(small_place, 6))
    flow.crisis_rate[1] *= 0.8
    flow.divert_prob[1] = np.minimum(1.0, flow.divert_prob[1] * 1.6 + 0.05)
    flow.los_mean[1] *= 0.75
    flow.admit_prob[1] *= 0.9
    flow.pathway[1] = flow.pathway[1] * [1.1, 0.9, 0.9, 0.9]
    flow.pathway[1] /= flow.pathway[1].sum(axis=1, keepdims=True)
    flow.assess_mean[1] *= 0.5
    flow.readmit_multiplier[1] *= 0.8
    flow.eol_found[1] = np.minimum(1.0, flow.eol_found[1] + 0.3)
    flow.hospital_death[1] *= 0.7
    flow.reablement_outcome[1] = flow.reablement_outcome[1] * [1.2, 0.9, 0.5]
    flow.reablement_outcome[1] /= flow.reablement_outcome[1].sum(axis=1, keepdims=True)
    flow.step_down_care_home[1] *= 0.5
    flow.ramp = ramp_table(flow.n_years, flow.warm_up_years, 12, "linear")
    assert 0.0 < flow.ramp[flow.warm_up_years * 12 + 3] < 1.0  # part-way through the ramp
    assert_same_run(*both_engines(flow, 21))


def test_care_model_arms(small_place):
    """Each arm of the small place, lowered by its care model."""
    from sim.arms import lower_arm

    scenario = with_changes(small_place, {"run.contract_years": 2, "population.size": 2000})
    population = generate(scenario, 8)
    for arm in scenario.arms:
        flow = lower_arm(scenario, population, arm, SEED, 0)
        fast, reference = both_engines(flow, 23)
        assert_same_run(fast, reference)


def test_arrays_grown_on_the_way(small_flow, monkeypatch):
    """When the event list, a queue or the episode log fills, the run starts again with more
    room and gives the same result."""
    expected = engine_reference.run(small_flow, 7, log_episodes=True)
    monkeypatch.setattr(engine_fast, "_initial_sizes", lambda flow, log: (2, 4, 1, 1))
    assert_same_run(engine_fast.run(small_flow, 7, log_episodes=True), expected)


def test_arrays_kept_between_runs_change_nothing(small_place, small_flow):
    """A thread keeps the people and the event list for its next run of the same size: a run
    after other runs (another flow of the same size, another seed, a run that filled and
    grew its arrays) equals the same run in a thread that has run nothing else."""
    import threading

    fresh = {}

    def in_new_thread():
        fresh["result"] = engine_fast.run(small_flow, 11, log_episodes=True)

    worker = threading.Thread(target=in_new_thread)
    worker.start()
    worker.join()
    other_arm = lower_place(small_place, generate(small_place, 1),
                            groups=np.arange(small_flow.person_cohort.shape[0]) % 3)
    engine_fast.run(other_arm, 5)
    engine_fast.run(small_flow, 3, log_episodes=True)
    assert_same_run(engine_fast.run(small_flow, 11, log_episodes=True), fresh["result"])
    assert_same_run(engine_fast.run(small_flow, 11, log_episodes=True),
                    engine_reference.run(small_flow, 11, log_episodes=True))


# --- varied places ---------------------------------------------------------------------------


def test_set_up_draws_shared_or_worked_out_alike(small_place, small_flow, short_bnes, monkeypatch):
    """The set-up's draws that do not depend on the arm are made once for a seed and kept
    for the next arms (`engine_fast._first_draws`); above REUSE_MAX_PEOPLE (England) they
    are worked out as the set-up goes. Both ways, and a table kept from another arm of the
    same seed, give the reference engine's run."""
    other_arm = lower_place(small_place, generate(small_place, 1),
                            groups=np.arange(small_flow.person_cohort.shape[0]) % 3)
    engine_fast.run(other_arm, 11)  # leaves its table for seed 11 and this many people
    shared = engine_fast.run(small_flow, 11, log_episodes=True)
    assert_same_run(shared, engine_reference.run(small_flow, 11, log_episodes=True))
    bnes_flow = lower_place(short_bnes, generate(short_bnes, 3))
    engine_fast.run(bnes_flow, 11)
    bnes_shared = engine_fast.run(bnes_flow, 11)  # the second run on a seed makes a table
    # A table is made for the second run on a seed, or at once if the last seed had several
    # runs (the arms of a replication); runs each on their own seed make none.
    def rows_of_tables(seeds):
        return [engine_fast._shared_first_draws(small_flow, seed,
                                                engine_fast._flow_arrays(small_flow, seed)["il"]).shape[0]
                for seed in seeds]

    n = small_flow.person_cohort.shape[0]
    engine_fast.forget_first_draws()
    assert rows_of_tables((1, 1, 1, 2, 2, 3)) == [0, n, n, n, n, n]
    engine_fast.forget_first_draws()
    assert rows_of_tables((4, 5, 6)) == [0, 0, 0]
    monkeypatch.setattr(engine_fast, "REUSE_MAX_PEOPLE", 0)
    assert rows_of_tables((11, 11)) == [0, 0]
    assert_same_run(engine_fast.run(small_flow, 11, log_episodes=True), shared)
    assert_same_run(engine_fast.run(bnes_flow, 11), bnes_shared)


@st.composite
def small_variations(draw):
    """Valid changes to configs/small.yaml that keep a run small: sizes, capacities (one
    number or one per contract year), queue rules, stay distributions, crisis rates."""
    contract_years = draw(st.integers(1, 2))
    changes = {
        "run.warm_up_years": draw(st.integers(0, 1)),
        "run.contract_years": contract_years,
        "population.size": draw(st.integers(100, 900)),
        "services.acute_beds.when_full": draw(st.sampled_from(["escalate", "wait"])),
        "flow.length_of_stay.distribution": draw(st.sampled_from(["lognormal", "mixed_exponential"])),
        "flow.crisis_rate_per_year": draw(st.lists(st.floats(0.05, 3.0), min_size=5, max_size=5)),
        "services.home_care.initial_occupied": draw(st.floats(0.0, 1.0)),
        "services.care_homes.initial_occupied": draw(st.floats(0.0, 1.0)),
    }
    for name, most in (("acute_beds", 8), ("escalation_beds", 3), ("urgent_community_response", 3),
                       ("virtual_ward", 2), ("step_up_beds", 2), ("mental_health_crisis_beds", 2),
                       ("step_down_beds", 4), ("reablement", 8), ("home_care", 20),
                       ("care_homes", 12)):
        places = st.integers(0 if name != "acute_beds" else 1, most)
        if draw(st.booleans()):
            changes[f"services.{name}.capacity"] = draw(places)
        else:
            changes[f"services.{name}.capacity"] = draw(st.lists(places, min_size=contract_years,
                                                                max_size=contract_years))
    return changes, draw(st.integers(0, 2**63 - 1)), draw(st.integers(0, 2**31))


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variation=small_variations())
def test_varied_small_places(small_place, variation):
    changes, engine_seed, population_seed = variation
    scenario = with_changes(small_place, changes)
    flow = lower_place(scenario, generate(scenario, population_seed))
    assert_same_run(*both_engines(flow, engine_seed))


# --- the clock -------------------------------------------------------------------------------


def _times_next_to_multiples(d, multiples, seed):
    """Random times over the run, 0, the smallest double, and times at and next to each of the
    first *multiples* multiples of d, where a quotient by d rounds to an integer."""
    rng = np.random.default_rng(seed)
    times = list(rng.random(20_000) * 12_000) + [0.0, 5e-324]
    for k in range(multiples):
        edge = k * d
        times += [edge, math.nextafter(edge, 0.0), math.nextafter(edge, math.inf),
                  edge * (1 - 1e-15), edge * (1 + 1e-15)]
    return times


def test_floor_div_is_pythons_floor_division():
    """The fast engine's year and month of a time (sim.hazard.floor_div) equal the reference
    engine's ``t // d``, also next to every boundary, where the quotient rounds to an integer."""
    for d in (DAYS_PER_MONTH, DAYS_PER_YEAR, 7.0, 0.25, 1.0 / 3.0):
        for t in _times_next_to_multiples(d, 600, seed=0):
            assert floor_div(t, d) == int(t // d), (t, d)
        # Outside the run's times too: negative times (where truncation is not the floor) and
        # quotients too large for the quick test.
        for t in (-5e-324, -1e-12, -0.5 * d, -d, -7.25 * d, 1e8 * d, 3e8 * d + 0.5):
            assert floor_div(t, d) == int(t // d), (t, d)


def test_the_fast_engines_year_is_pythons_floor_division():
    """The year of an event in the fast engine (`engine_fast._year`) is the reference engine's
    ``t // DAYS_PER_YEAR``, capped at the last year, also next to every year start."""
    n_years = 30
    for t in _times_next_to_multiples(DAYS_PER_YEAR, 40, seed=1):
        assert engine_fast._year(t, n_years) == min(int(t // DAYS_PER_YEAR), n_years - 1), t


# --- the crisis type ---------------------------------------------------------------------------


def test_crisis_types_are_drawn_in_proportion_to_the_rates_in_force():
    """Both engines draw a crisis's type from running sums of the type rates
    (flow.type_running_sums); the agreement tests above show they draw the same type, and
    this checks that the type is the right one. Over 100,000 evenly spaced uniforms, each
    type's share equals its rate in force (today's moved towards the arm's by the ramp) over
    the total, to within one uniform's spacing, and a type of rate zero is never drawn."""
    today = np.array([0.2, 0.0, 1.5, 0.3, 0.0, 0.7])
    arm = np.array([0.1, 0.0, 0.5, 0.9, 0.4, 0.7])
    n_types = today.size
    lay = np.zeros((2, engine_fast.N_HOT + n_types, 2))
    lay[1, engine_fast.N_HOT:, 0] = np.cumsum(today)
    lay[1, engine_fast.N_HOT:, 1] = np.cumsum(arm) - np.cumsum(today)  # the change
    n = 100_000
    for ramp in (0.0, 0.37, 1.0):
        rates = today + ramp * (arm - today)
        kinds = np.array([engine_fast._crisis_kind(lay, 1, n_types, ramp, (k + 0.5) / n)
                          for k in range(n)])
        shares = np.bincount(kinds, minlength=n_types) / n
        np.testing.assert_allclose(shares, rates / rates.sum(), rtol=0, atol=2.0 / n)
        assert np.all(shares[rates == 0.0] == 0.0), ramp
