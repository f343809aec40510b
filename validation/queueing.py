"""Queueing theory the engine must agree with, and queueing-only scenarios to check it on.

The formulas are the textbook ones (Erlang B and C, M/M/c waits and queues, M/G/infinity,
Little's law). The scenarios strip a place down until the patient flow *is* one of those
queues: many identical people, each with the same small constant crisis hazard, one crisis
type, no deaths, no demand growth, no readmission or end-of-life effects, every attendance
admitted (or every crisis offered to one diversion service), exponential or lognormal stays,
everyone discharged home at medically fit.

What the scenarios cannot remove: a person in hospital (or in the diversion service) has no
crises, so the arrival stream comes from a finite source of N people. With ``n`` people in
the system the arrival rate is ``r (N - n)``, not ``r N``. The exact finite-source models
(M/M/c//N, the machine-repair model; Engset for the loss system; N independent on/off
people for infinite servers) are computed here too, so every check carries both figures and
the bias of the infinite-source formula is stated, not guessed. With 100,000 people and at
most a few dozen in the system the relative bias in the arrival rate is about 3e-4.

Estimates come from independent replications (seeds from `sim.randomness.replication_seed`):
each replication gives one value of a measure over the contract years (year 0, the warm-up,
is dropped), and the interval for the mean is Student's t over replications.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special, stats

from sim import engine_fast
from sim.config import CRISIS_KINDS, Scenario, load, with_changes
from sim.flow import DAYS_PER_YEAR, POOL_ACUTE, POOL_UCR, FlowParams, lower_place
from sim.population import generate
from sim.randomness import replication_seed
from sim.result import RunResult

SMALL_PLACE = Path(__file__).resolve().parents[1] / "configs" / "small.yaml"
CRISIS_KIND = "acute_illness"  # the only crisis type in the queueing scenarios
DIVERSION_SERVICE = "urgent_community_response"  # the loss system (pool POOL_UCR)
PEOPLE = 100_000


# --- formulas -------------------------------------------------------------------------------


def erlang_b(servers: int, offered_load: float) -> float:
    """Blocking probability of M/M/c/c (Erlang B) with *offered_load* = arrival rate x mean stay.

    The recursion B(k) = a B(k-1) / (k + a B(k-1)) stays in [0, 1], so it is stable for any
    number of servers.
    """
    if servers < 0 or offered_load < 0:
        raise ValueError("servers and offered load must be non-negative")
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    return blocking


def erlang_c(servers: int, offered_load: float) -> float:
    """Chance an arrival waits in M/M/c (Erlang C); needs offered_load < servers."""
    if not 0 <= offered_load < servers:
        raise ValueError("Erlang C needs 0 <= offered load < servers (a stable queue)")
    b = erlang_b(servers, offered_load)
    return servers * b / (servers - offered_load * (1.0 - b))


@dataclass(frozen=True)
class QueueFigures:
    """Steady-state figures of a multi-server queue, in days and people."""

    arrival_rate: float      # arrivals joining per day
    p_wait: float            # chance an arrival waits (or, for a loss system, is blocked)
    mean_wait_days: float    # mean wait before service, over all arrivals
    mean_queue: float        # mean number waiting
    mean_busy: float         # mean number in service (places occupied)


def mmc(servers: int, arrival_rate: float, mean_stay_days: float) -> QueueFigures:
    """M/M/c with an infinite source: Erlang C, Wq = C / (c mu - lambda), Lq = lambda Wq."""
    load = arrival_rate * mean_stay_days
    p_wait = erlang_c(servers, load)
    wait = p_wait * mean_stay_days / (servers - load)
    return QueueFigures(arrival_rate, p_wait, wait, arrival_rate * wait, load)


def mmcc(servers: int, arrival_rate: float, mean_stay_days: float) -> QueueFigures:
    """M/M/c/c (any stay distribution): blocking is Erlang B, occupancy the carried load."""
    load = arrival_rate * mean_stay_days
    blocking = erlang_b(servers, load)
    return QueueFigures(arrival_rate, blocking, 0.0, 0.0, load * (1.0 - blocking))


def mg_infinity_occupancy(arrival_rate: float, mean_stay_days: float) -> float:
    """Mean number in M/G/infinity: lambda x mean stay, whatever the stay distribution."""
    return arrival_rate * mean_stay_days


def _birth_death(sources: int, rate: float, mean_stay_days: float, servers: int,
                 states: int) -> np.ndarray:
    """Stationary distribution of n in system for N sources of *rate*, c servers, 0..states-1."""
    n = np.arange(states - 1, dtype=np.float64)
    # log of birth(n) / death(n + 1) = r (N - n) / (min(n + 1, c) / s)
    step = np.log(rate * (sources - n)) - np.log(np.minimum(n + 1, servers) / mean_stay_days)
    log_p = np.concatenate([[0.0], np.cumsum(step)])
    return np.exp(log_p - special.logsumexp(log_p))


def finite_source_mmc(sources: int, rate_per_person: float, mean_stay_days: float,
                      servers: int) -> QueueFigures:
    """M/M/c//N (machine repair): N people each with crisis *rate* per day while at home.

    An arrival sees the system as it stands with itself left out, so the chance it waits
    weights each state by its arrival rate, (N - n).
    """
    p = _birth_death(sources, rate_per_person, mean_stay_days, servers, sources + 1)
    n = np.arange(sources + 1)
    in_system = float(p @ n)
    arrival_rate = rate_per_person * (sources - in_system)
    weights = p * (sources - n)
    p_wait = float(weights[n >= servers].sum() / weights.sum())
    queue = float(p @ np.maximum(n - servers, 0))
    return QueueFigures(arrival_rate, p_wait, queue / arrival_rate, queue,
                        float(p @ np.minimum(n, servers)))


def engset(sources: int, rate_per_person: float, mean_stay_days: float,
           servers: int) -> QueueFigures:
    """The finite-source loss system (Engset): blocking as seen by arriving crises."""
    p = _birth_death(sources, rate_per_person, mean_stay_days, servers, servers + 1)
    n = np.arange(servers + 1)
    busy = float(p @ n)
    weights = p * (sources - n)
    blocking = float(weights[-1] / weights.sum())
    return QueueFigures(rate_per_person * (sources - busy), blocking, 0.0, 0.0, busy)


def finite_source_infinity_occupancy(sources: int, rate_per_person: float,
                                     mean_stay_days: float) -> float:
    """Mean number in hospital when N people alternate home (Exp(rate)) and stay (mean s).

    Each person is an independent on/off renewal process, in hospital a share
    r s / (1 + r s) of the time, whatever the stay distribution.
    """
    share = rate_per_person * mean_stay_days
    return sources * share / (1.0 + share)


# --- scenarios ------------------------------------------------------------------------------


def queueing_scenario(base: Scenario | None = None, *, arrival_rate_per_day: float,
                      mean_stay_days: float, acute_beds: int = 0,
                      diversion_places: int | None = None, lognormal_sigma: float | None = None,
                      people: int = PEOPLE, contract_years: int = 3,
                      warm_up_years: int = 1) -> Scenario:
    """A place stripped down to one queue, from *base* (default configs/small.yaml).

    With *diversion_places* every crisis is offered to the urgent community response with
    that many places and stays of *mean_stay_days* (a loss system: a crisis that finds it
    full goes to the emergency department, which admits no one, so the person stays home).
    Without it every crisis is admitted to *acute_beds* beds, waiting on a trolley in
    first-come order when all are full, with clinical stays of *mean_stay_days*:
    exponential, or lognormal with *lognormal_sigma*.
    """
    base = load(SMALL_PLACE) if base is None else base
    n_age = len(base.population.age_bands)
    per_person_year = arrival_rate_per_day * DAYS_PER_YEAR / people
    loss = diversion_places is not None
    changes: dict[str, object] = {
        "run.warm_up_years": warm_up_years,
        "run.contract_years": contract_years,
        "population.size": people,
        "population.care_home_share": [0.0] * n_age,
        # Identical people: one constant hazard, one crisis type, no exacerbations.
        "flow.crisis_rate_per_year": [per_person_year] * n_age,
        "flow.risk_multiplier": [1.0] * 4,
        "flow.deprivation_multiplier": [1.0] * 5,
        "flow.care_home_multiplier": 1.0,
        "flow.crisis_type_shares": {kind: [1.0 if kind == CRISIS_KIND else 0.0] * n_age
                                    for kind in CRISIS_KINDS},
        "flow.demand_growth_per_year": [1.0] * n_age,
        "flow.mortality_per_year": [0.0] * n_age,
        "flow.readmission.crisis_multiplier": 1.0,
        "flow.diversion": ({CRISIS_KIND: {"service": DIVERSION_SERVICE, "probability": [1.0] * 4}}
                           if loss else {}),
        "flow.ed_admission_probability": [0.0 if loss else 1.0] * n_age,
        "flow.ed_admission_type_multiplier": {},
        "flow.length_of_stay.distribution": "mixed_exponential" if lognormal_sigma is None else "lognormal",
        "flow.length_of_stay.mean_days": [mean_stay_days] * n_age,
        "flow.length_of_stay.crisis_type_multiplier": {},
        "flow.length_of_stay.short_stay_share": 0.0,  # one compartment: exponential
        "flow.length_of_stay.lognormal_sigma": lognormal_sigma or 1.0,
        "flow.in_hospital_death_probability": [0.0] * n_age,
        "flow.pathways.shares": [[1.0, 0.0, 0.0, 0.0]] * n_age,
        "services.acute_beds.capacity": acute_beds,
        "services.acute_beds.when_full": "wait",
        "services.escalation_beds.capacity": 0,
        "services.home_care.initial_occupied": 0.0,
        "services.care_homes.initial_occupied": 0.0,
    }
    for condition in base.population.conditions:
        changes[f"population.conditions.{condition}.crisis_multiplier"] = 1.0
    flow_fields = type(base.flow).model_fields
    for key in ("care_home_mortality_per_year",):  # keys not every config version has
        if key in flow_fields:
            changes[f"flow.{key}"] = 0.0
    if loss:
        changes[f"services.{DIVERSION_SERVICE}.capacity"] = diversion_places
        changes[f"services.{DIVERSION_SERVICE}.mean_days"] = mean_stay_days
    return with_changes(base, changes)


# --- replications and intervals -------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """One measure's value in each replication, with t intervals for its mean."""

    values: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    def half_width(self, confidence: float = 0.95) -> float:
        """Half-width of the Student-t interval for the mean over replications."""
        n = len(self.values)
        if n < 2:
            raise ValueError("an interval needs at least two replications")
        t = stats.t.ppf(0.5 + confidence / 2.0, n - 1)
        return float(t * np.std(self.values, ddof=1) / math.sqrt(n))

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        h = self.half_width(confidence)
        return self.mean - h, self.mean + h

    def contains(self, value: float, confidence: float = 0.95) -> bool:
        low, high = self.interval(confidence)
        return low <= value <= high


def simultaneous_confidence(comparisons: int, family: float = 0.95) -> float:
    """Per-comparison confidence so that *comparisons* intervals all cover with *family* (Bonferroni)."""
    return 1.0 - (1.0 - family) / comparisons


def engine_seeds(seed: int, replications: int) -> list[int]:
    """Engine seed of each replication (as `sim.experiment` derives them)."""
    return [replication_seed(seed, r) for r in range(replications)]


def replicate(scenario: Scenario, replications: int, seed: int | None = None,
              workers: int | None = None) -> tuple[FlowParams, list[RunResult]]:
    """Run the fast engine *replications* times on one population, in threads (it drops the GIL).

    The people are identical in a queueing scenario, so one population serves every
    replication; only the engine seed changes.
    """
    seed = scenario.run.seed if seed is None else seed
    flow = lower_place(scenario, generate(scenario, seed))
    seeds = engine_seeds(seed, replications)
    workers = workers or min(2, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda s: engine_fast.run(flow, s), seeds))
    return flow, results


def _contract(flow: FlowParams) -> tuple[slice, float]:
    """Rows of the contract years and their length in days."""
    years = slice(flow.warm_up_years, flow.n_years)
    return years, (flow.n_years - flow.warm_up_years) * DAYS_PER_YEAR


def queue_measures(result: RunResult, flow: FlowParams) -> dict[str, float]:
    """Acute-bed queue measures over the contract years of one run."""
    years, days = _contract(flow)
    total = {name: float(result.counter(name)[years].sum())
             for name in ("admissions", "trolley_waits", "trolley_wait_days", "los_days_sum",
                          "spells_ended")}
    admissions = total["admissions"]
    busy = float(result.pool_days[years, POOL_ACUTE].sum()) / days
    queue = float(result.pool_queue_days[years, POOL_ACUTE].sum()) / days
    bed_starts = float(result.pool_episodes[years, POOL_ACUTE].sum()) / days
    mean_stay = total["los_days_sum"] / total["spells_ended"]
    wait = total["trolley_wait_days"] / admissions
    return {
        "arrival_rate": admissions / days,
        "p_wait": total["trolley_waits"] / admissions,
        "mean_wait_days": wait,
        "mean_queue": queue,
        "mean_busy": busy,
        "mean_stay_days": mean_stay,
        # Little's law, L - lambda W, on the queue and on the beds: zero in expectation.
        "little_queue_gap": queue - admissions / days * wait,
        "little_beds_gap": busy - bed_starts * mean_stay,
    }


def loss_measures(result: RunResult, flow: FlowParams) -> dict[str, float]:
    """Diversion-service (loss system) measures over the contract years of one run."""
    years, days = _contract(flow)
    crises = float(result.counter("crises")[years].sum())
    diverted = float(result.diverted_by_pool[years, POOL_UCR].sum())
    return {
        "arrival_rate": crises / days,
        "blocking": 1.0 - diverted / crises,
        "mean_busy": float(result.pool_days[years, POOL_UCR].sum()) / days,
    }


def estimates(flow: FlowParams, results: list[RunResult],
              measure: Callable[[RunResult, FlowParams], dict[str, float]]) -> dict[str, Estimate]:
    """Each measure's values across replications."""
    rows = [measure(r, flow) for r in results]
    return {name: Estimate(np.array([row[name] for row in rows])) for name in rows[0]}


# --- checks: simulated against theory --------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One measure of one queueing scenario: the formula, the exact finite-source value, the engine."""

    scenario: str
    measure: str
    theory: float         # the textbook (infinite-source) formula
    finite_source: float  # the exact value for the scenario's finite population
    estimate: Estimate

    @property
    def bias(self) -> float:
        """How far the textbook formula is from the exact value for this population."""
        return self.theory - self.finite_source

    def row(self, confidence: float = 0.95) -> dict[str, object]:
        low, high = self.estimate.interval(confidence)
        return {"scenario": self.scenario, "measure": self.measure, "theory": self.theory,
                "finite_source": self.finite_source, "simulated": self.estimate.mean,
                "low": low, "high": high, "replications": len(self.estimate.values),
                "covered": low <= self.theory <= high}


def erlang_c_checks(load: float, *, servers: int = 10, mean_stay_days: float = 0.1,
                    replications: int = 20, contract_years: int = 3, people: int = PEOPLE,
                    seed: int | None = None, base: Scenario | None = None) -> list[Check]:
    """M/M/c at utilisation *load*: waits, queue, occupancy and Little's law on both."""
    arrival_rate = load * servers / mean_stay_days
    scenario = queueing_scenario(base, arrival_rate_per_day=arrival_rate, mean_stay_days=mean_stay_days,
                                 acute_beds=servers, people=people, contract_years=contract_years)
    flow, results = replicate(scenario, replications, seed)
    got = estimates(flow, results, queue_measures)
    theory = mmc(servers, arrival_rate, mean_stay_days)
    exact = finite_source_mmc(people, arrival_rate / people, mean_stay_days, servers)
    name = f"M/M/{servers} load {load:g}"
    checks = [Check(name, field, getattr(theory, field), getattr(exact, field), got[field])
              for field in ("arrival_rate", "p_wait", "mean_wait_days", "mean_queue", "mean_busy")]
    checks.append(Check(name, "mean_stay_days", mean_stay_days, mean_stay_days, got["mean_stay_days"]))
    checks += [Check(name, gap, 0.0, 0.0, got[gap]) for gap in ("little_queue_gap", "little_beds_gap")]
    return checks


def erlang_b_checks(load: float, *, servers: int = 10, mean_stay_days: float = 0.1,
                    replications: int = 10, contract_years: int = 2, people: int = PEOPLE,
                    seed: int | None = None, base: Scenario | None = None) -> list[Check]:
    """M/M/c/c with offered load *load* per place: blocking and carried load of a diversion service."""
    arrival_rate = load * servers / mean_stay_days
    scenario = queueing_scenario(base, arrival_rate_per_day=arrival_rate, mean_stay_days=mean_stay_days,
                                 diversion_places=servers, people=people, contract_years=contract_years)
    flow, results = replicate(scenario, replications, seed)
    got = estimates(flow, results, loss_measures)
    theory = mmcc(servers, arrival_rate, mean_stay_days)
    exact = engset(people, arrival_rate / people, mean_stay_days, servers)
    name = f"M/M/{servers}/{servers} load {load:g}"
    return [Check(name, "arrival_rate", theory.arrival_rate, exact.arrival_rate, got["arrival_rate"]),
            Check(name, "blocking", theory.p_wait, exact.p_wait, got["blocking"]),
            Check(name, "mean_busy", theory.mean_busy, exact.mean_busy, got["mean_busy"])]


def mg_infinity_checks(*, arrival_rate: float = 20.0, mean_stay_days: float = 5.0,
                       lognormal_sigma: float = 1.1, replications: int = 10,
                       contract_years: int = 3, people: int = 2 * PEOPLE + PEOPLE // 2,
                       seed: int | None = None, base: Scenario | None = None) -> list[Check]:
    """M/G/infinity with lognormal stays: occupancy = lambda x mean stay, and Little's law.

    About 100 people are in hospital at once, so the population is larger than in the other
    scenarios to keep the finite-source bias (the share in hospital) near 4e-4.
    """
    beds = 100 * int(arrival_rate * mean_stay_days) + 100  # never full
    scenario = queueing_scenario(base, arrival_rate_per_day=arrival_rate, mean_stay_days=mean_stay_days,
                                 acute_beds=beds, lognormal_sigma=lognormal_sigma, people=people,
                                 contract_years=contract_years)
    flow, results = replicate(scenario, replications, seed)
    got = estimates(flow, results, queue_measures)
    rate = arrival_rate / people
    busy = finite_source_infinity_occupancy(people, rate, mean_stay_days)
    name = f"M/G/inf lognormal sigma {lognormal_sigma:g}"
    return [Check(name, "arrival_rate", arrival_rate, rate * (people - busy), got["arrival_rate"]),
            Check(name, "mean_busy", mg_infinity_occupancy(arrival_rate, mean_stay_days), busy,
                  got["mean_busy"]),
            Check(name, "mean_stay_days", mean_stay_days, mean_stay_days, got["mean_stay_days"]),
            Check(name, "little_beds_gap", 0.0, 0.0, got["little_beds_gap"])]
