"""Peer cross-check: a tandem network with blocking, run in Ciw and in caresim.

The network: Poisson arrivals to acute beds (c1 servers, exponential stays, an unlimited
first-come queue), then every patient moves to a step-down service (c2 places, exponential
stays). A patient who finishes in an acute bed while step-down is full stays in the bed,
blocking it, until a place frees: Ciw's type I blocking (queue capacity 0 at node 2) and
caresim's delayed transfer of care are the same rule. Ciw (Palmer et al. 2019) is an
independent discrete-event library, so agreement here is evidence the engine's queueing and
blocking logic is right, not just self-consistent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ciw
import numpy as np

from sim.config import Scenario, with_changes
from sim.flow import DAYS_PER_YEAR, POOL_ACUTE, POOL_STEP_DOWN
from sim.summary import interval
from validation.queueing import queueing_scenario, replicate


@dataclass(frozen=True)
class Tandem:
    """Arrival rate a day, beds and mean stays (days) of the two stages."""

    arrival_rate: float = 10.0
    beds: int = 26
    bed_stay: float = 2.0
    step_down: int = 55
    step_down_stay: float = 5.0
    years: int = 3
    warm_up_years: int = 1


MEASURES = ("bed_occupancy", "blocked_patients", "trolley_queue", "step_down_occupancy")


def caresim_scenario(t: Tandem) -> Scenario:
    """The tandem network as a caresim place (see validation.queueing.queueing_scenario)."""
    base = queueing_scenario(arrival_rate_per_day=t.arrival_rate, mean_stay_days=t.bed_stay,
                             acute_beds=t.beds, contract_years=t.years, warm_up_years=t.warm_up_years)
    n_age = len(base.population.age_bands)
    return with_changes(base, {
        "flow.pathways.shares": [[0.0, 0.0, 1.0, 0.0]] * n_age,
        "flow.pathways.assessment_days": [0.0, 0.0, 0.0, 0.0],
        "services.step_down_beds.capacity": t.step_down,
        "services.step_down_beds.mean_days": t.step_down_stay,
        "services.step_down_beds.care_home_share": 0.0,
    })


def caresim_measures(t: Tandem, replications: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Each measure's time-average over the contract years, one value per replication."""
    scenario = caresim_scenario(t)
    out: dict[str, list[float]] = {m: [] for m in MEASURES}
    flow, results = replicate(scenario, replications, seed)
    for result in results:
        days = (flow.n_years - flow.warm_up_years) * DAYS_PER_YEAR
        years = slice(flow.warm_up_years, flow.n_years)
        out["bed_occupancy"].append(result.pool_days[years, POOL_ACUTE].sum() / days)
        out["blocked_patients"].append(result.counter("delayed_days")[years].sum() / days)
        out["trolley_queue"].append(result.pool_queue_days[years, POOL_ACUTE].sum() / days)
        out["step_down_occupancy"].append(result.pool_days[years, POOL_STEP_DOWN].sum() / days)
    return {m: np.array(v) for m, v in out.items()}


def _overlap(start: float, end: float, low: float, high: float) -> float:
    return max(0.0, min(end, high) - max(start, low))


def ciw_measures(t: Tandem, replications: int, seed: int = 1) -> dict[str, np.ndarray]:
    """The same time-averages from Ciw, one value per replication."""
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=t.arrival_rate), None],
        service_distributions=[ciw.dists.Exponential(rate=1.0 / t.bed_stay),
                               ciw.dists.Exponential(rate=1.0 / t.step_down_stay)],
        routing=[[0.0, 1.0], [0.0, 0.0]],
        number_of_servers=[t.beds, t.step_down],
        queue_capacities=[float("inf"), 0],
    )
    low = t.warm_up_years * DAYS_PER_YEAR
    high = (t.warm_up_years + t.years) * DAYS_PER_YEAR
    span = high - low
    out: dict[str, list[float]] = {m: [] for m in MEASURES}
    for r in range(replications):
        ciw.seed(seed * 1000 + r)
        sim = ciw.Simulation(network)
        sim.simulate_until_max_time(high + 60.0)
        sums = dict.fromkeys(MEASURES, 0.0)
        for rec in sim.get_all_records():
            if rec.record_type != "service":
                continue
            if rec.node == 1:
                served = rec.service_start_date
                left = rec.exit_date
                sums["bed_occupancy"] += _overlap(served, left, low, high)
                sums["blocked_patients"] += _overlap(rec.service_end_date, left, low, high)
                sums["trolley_queue"] += _overlap(rec.arrival_date, served, low, high)
            elif rec.node == 2:
                sums["step_down_occupancy"] += _overlap(rec.service_start_date, rec.exit_date, low, high)
        # People still inside at the end have no record; the 60-day run-on covers them.
        for m in MEASURES:
            out[m].append(sums[m] / span)
    return {m: np.array(v) for m, v in out.items()}


def cross_check(t: Tandem = Tandem(), replications: int = 8) -> list[dict]:
    """One row per measure: both means, their intervals, and whether they agree.

    Agreement: the difference of the means lies within the 95% interval of a difference of
    two independent means (Welch), i.e. the two simulators are statistically the same.
    """
    from scipy import stats

    ours = caresim_measures(t, replications)
    theirs = ciw_measures(t, replications)
    rows = []
    for m in MEASURES:
        a, b = ours[m], theirs[m]
        se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        dof = max(1.0, (se ** 4) / ((a.var(ddof=1) / len(a)) ** 2 / (len(a) - 1) + (b.var(ddof=1) / len(b)) ** 2 / (len(b) - 1))) if se > 0 else 1.0
        half = stats.t.ppf(0.975, dof) * se
        rows.append({"measure": m, "caresim": interval(a), "ciw": interval(b),
                     "difference": float(a.mean() - b.mean()), "tolerance": float(half),
                     "agree": bool(abs(a.mean() - b.mean()) <= half)})
    return rows
