"""Measures and costs of one run: tidy rows (year, measure, detail, value) from a RunResult.

Year 1 is the first contract year; year 0 stands for the whole contract (sums of counts and
costs, rates recomputed from the sums, and the present value). Warm-up years are dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.config import PAYERS, Scenario
from sim.flow import (
    DAYS_PER_YEAR,
    POOL_ACUTE,
    POOL_ESCALATION,
    FlowParams,
)
from sim.population import Population
from sim.result import LOS_BIN_DAYS, RunResult

WHOLE_CONTRACT = 0

# Each measure's unit and meaning, for tables, reports and the app.
MEASURES: dict[str, tuple[str, str]] = {
    "crises": ("crises", "Crises: events that would bring a person to hospital without community help"),
    "diverted": ("crises", "Crises handled in the community instead of hospital"),
    "ed_attendances": ("attendances", "Emergency department attendances"),
    "admissions": ("admissions", "Emergency admissions"),
    "admissions_per_1000": ("per 1,000 people a year", "Emergency admissions per 1,000 people"),
    "admissions_by_age_per_1000": ("per 1,000 people a year", "Emergency admissions per 1,000 people in the age band"),
    "admissions_by_cluster": ("admissions", "Emergency admissions of people in each GP cluster"),
    "admissions_by_forum": ("admissions", "Emergency admissions of people in each area forum"),
    "bed_days": ("bed days", "Acute and escalation bed days"),
    "mean_los_days": ("days", "Mean acute length of stay (admission to leaving the bed)"),
    "median_los_days": ("days", "Median acute length of stay"),
    "occupancy": ("share of beds", "Mean acute bed occupancy"),
    "days_above_85pct": ("days", "Days starting with acute occupancy above 85%"),
    "days_above_92pct": ("days", "Days starting with acute occupancy above 92%"),
    "trolley_waits": ("patients", "Admissions that waited for a bed"),
    "trolley_wait_hours_mean": ("hours", "Mean wait for a bed among those who waited"),
    "escalation_admissions": ("patients", "Admissions into escalation beds"),
    "delayed_days": ("bed days", "Days in an acute bed after being medically fit"),
    "delayed_patients_per_day": ("patients", "Medically fit patients in acute beds, daily mean"),
    "delayed_per_100k_adults_per_day": ("per 100,000 adults", "Delayed patients a day per 100,000 people aged 18+"),
    "pathway_share": ("share of discharges", "Discharge pathway mix at medically fit (0 home, 1 reablement, 2 step-down, 3 care home)"),
    "care_home_admissions": ("people", "Permanent care-home admissions"),
    "care_home_admissions_per_100k_65plus": ("per 100,000 aged 65+", "Permanent care-home admissions of people 65+ per 100,000 aged 65+"),
    "home_91_days_share": ("share", "Still at home 91 days after discharge into reablement"),
    "readmission_rate_30d": ("share of discharges", "Emergency readmissions within 30 days of discharge"),
    "deaths": ("people", "Deaths"),
    "deaths_in_hospital": ("people", "Deaths in hospital"),
    "hospital_death_share": ("share of deaths", "Share of deaths that happen in hospital"),
    "service_occupancy": ("share of places", "Mean occupancy of each service"),
    "service_episodes": ("episodes", "Stays started in each service"),
    "service_waiting_days": ("person days", "Days people waited for a place in each service"),
    "cost_gbp": ("GBP", "Cost by service line"),
    "cost_nhs_gbp": ("GBP", "Cost to the NHS"),
    "cost_council_gbp": ("GBP", "Cost to the council"),
    "cost_pooled_gbp": ("GBP", "Cost to the pooled budget"),
    "cost_total_gbp": ("GBP", "Total cost"),
    "present_value_gbp": ("GBP", "Present value of the contract's cost, discounted at the Green Book rate"),
}


def _median_from_hist(hist: np.ndarray) -> float:
    total = hist.sum()
    if total <= 0:
        return float("nan")
    cumulative = np.cumsum(hist)
    b = int(np.searchsorted(cumulative, total / 2.0))
    before = cumulative[b - 1] if b > 0 else 0.0
    inside = (total / 2.0 - before) / hist[b] if hist[b] > 0 else 0.0
    return (b + inside) * LOS_BIN_DAYS


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


def cost_lines(result: RunResult, flow: FlowParams, scenario: Scenario, years: slice) -> list[tuple[str, str, float]]:
    """Costs over the years in *years*: (service line, payer, GBP)."""
    costs = scenario.costs
    counters = result.counters[years].sum(axis=0)
    from sim.result import C

    lines = [
        ("emergency admissions", costs.admission.payer, counters[C["admissions"]] * costs.admission.gbp),
        ("excess bed days", costs.excess_bed_day.payer, counters[C["excess_bed_days"]] * costs.excess_bed_day.gbp),
        ("emergency department", costs.emergency_attendance.payer,
         counters[C["ed_attendances"]] * costs.emergency_attendance.gbp),
        ("delayed transfers of care", costs.delayed_day.payer, counters[C["delayed_days"]] * costs.delayed_day.gbp),
    ]
    days = result.pool_days[years].sum(axis=0)
    episodes = result.pool_episodes[years].sum(axis=0)
    for p, name in enumerate(flow.pool_names):
        gbp = days[p] * flow.pool_cost_day[p] + episodes[p] * flow.pool_cost_episode[p]
        if gbp > 0 or flow.pool_cost_day[p] > 0 or flow.pool_cost_episode[p] > 0:
            lines.append((name.replace("_", " "), PAYERS[int(flow.pool_payer[p])], float(gbp)))
    for fixed in flow.fixed_costs:
        lines.append((fixed.line, fixed.payer, float(np.asarray(fixed.gbp_per_year)[years].sum())))
    return lines


def _period(result: RunResult, flow: FlowParams, scenario: Scenario, people: int,
            age_counts: np.ndarray, acute: tuple[np.ndarray, np.ndarray],
            years: slice) -> list[tuple[str, str, float]]:
    """Every measure over the years in *years* (one year, or the whole contract), for a
    population of *people*, *age_counts* in each age band; *acute* is each day's year and
    acute occupancy over capacity (`_acute_days`)."""
    from sim.result import C

    first, stop, _ = years.indices(result.counters.shape[0])
    n_years = stop - first  # *years* is a run of whole years, step 1
    counters = result.counters[years].sum(axis=0)
    older = float(age_counts[flow.age_65plus].sum())
    adults = float(age_counts[1:].sum()) if len(age_counts) > 1 else float(people)
    days = DAYS_PER_YEAR * n_years
    rows: list[tuple[str, str, float]] = []

    def add(measure, value, detail=""):
        rows.append((measure, detail, float(value)))

    for name in ("crises", "diverted", "ed_attendances", "admissions", "trolley_waits",
                 "escalation_admissions", "delayed_days", "care_home_admissions", "deaths",
                 "deaths_in_hospital"):
        add(name, counters[C[name]])
    add("admissions_per_1000", counters[C["admissions"]] / people * 1000 / n_years)
    by_age = result.admissions_by_age[years].sum(axis=0)
    for a, band in enumerate(flow.age_band_names):
        add("admissions_by_age_per_1000", _ratio(by_age[a] * 1000 / n_years, age_counts[a]), band)
    for k, name in enumerate(flow.cluster_names):
        add("admissions_by_cluster", result.admissions_by_cluster[years].sum(axis=0)[k], name)
    for k, name in enumerate(flow.forum_names):
        add("admissions_by_forum", result.admissions_by_forum[years].sum(axis=0)[k], name)
    pool_days = result.pool_days[years].sum(axis=0)
    add("bed_days", pool_days[POOL_ACUTE] + pool_days[POOL_ESCALATION])
    add("mean_los_days", _ratio(counters[C["los_days_sum"]], counters[C["spells_ended"]]))
    add("median_los_days", _median_from_hist(result.los_hist[years].sum(axis=0)))
    acute_capacity = flow.capacity[POOL_ACUTE, years].astype(float)
    add("occupancy", _ratio(pool_days[POOL_ACUTE], (acute_capacity * DAYS_PER_YEAR).sum()))
    day_year, share = acute
    in_period = (day_year >= first) & (day_year < stop)
    add("days_above_85pct", np.sum(in_period & (share > 0.85)))
    add("days_above_92pct", np.sum(in_period & (share > 0.92)))
    add("trolley_wait_hours_mean", _ratio(counters[C["trolley_wait_days"]] * 24, counters[C["trolley_waits"]]))
    add("delayed_patients_per_day", counters[C["delayed_days"]] / days)
    add("delayed_per_100k_adults_per_day", counters[C["delayed_days"]] / days / adults * 1e5)
    pathways = result.pathways[years].sum(axis=0)
    for p in range(4):
        add("pathway_share", _ratio(pathways[p], pathways.sum()), f"pathway {p}")
    add("care_home_admissions_per_100k_65plus", counters[C["care_home_admissions_65plus"]] / n_years / older * 1e5 if older else float("nan"))
    add("home_91_days_share", _ratio(counters[C["home91_at_home"]], counters[C["home91_checked"]]))
    add("readmission_rate_30d", _ratio(counters[C["readmissions_30d"]], counters[C["discharges_alive"]]))
    add("hospital_death_share", _ratio(counters[C["deaths_in_hospital"]], counters[C["deaths"]]))
    episodes = result.pool_episodes[years].sum(axis=0)
    waiting = result.pool_queue_days[years].sum(axis=0)
    for p, name in enumerate(flow.pool_names):
        capacity = flow.capacity[p, years].astype(float).sum() * DAYS_PER_YEAR
        add("service_occupancy", _ratio(pool_days[p], capacity), name)
        add("service_episodes", episodes[p], name)
        add("service_waiting_days", waiting[p], name)

    by_payer = dict.fromkeys(PAYERS, 0.0)
    for line, payer, gbp in cost_lines(result, flow, scenario, years):
        add("cost_gbp", gbp, line)
        by_payer[payer] += gbp
    for payer in PAYERS:
        add(f"cost_{payer}_gbp", by_payer[payer])
    add("cost_total_gbp", sum(by_payer.values()))
    return rows


def _acute_days(result: RunResult, flow: FlowParams) -> tuple[np.ndarray, np.ndarray]:
    """Each day's year, and its acute occupancy over that year's capacity (at least 1)."""
    day_year = np.arange(result.daily_occupancy.shape[0]) // int(DAYS_PER_YEAR)
    day_capacity = flow.capacity[POOL_ACUTE, np.minimum(day_year, flow.n_years - 1)]
    return day_year, result.daily_occupancy[:, POOL_ACUTE] / np.maximum(day_capacity, 1)


def measure_records(result: RunResult, flow: FlowParams, scenario: Scenario,
                    population: Population) -> list[tuple[int, str, str, float]]:
    """Tidy measures of one run as (year, measure, detail, value) tuples, contract years only."""
    warm = flow.warm_up_years
    records: list[tuple[int, str, str, float]] = []
    present_value = 0.0
    rate = scenario.run.discount_rate
    people = population.size
    age_counts = population.age_counts
    acute = _acute_days(result, flow)
    for y in range(warm, flow.n_years):
        rows = _period(result, flow, scenario, people, age_counts, acute, slice(y, y + 1))
        records += [(y - warm + 1, m, d, v) for m, d, v in rows]
        total = next(v for m, d, v in rows if m == "cost_total_gbp" and d == "")
        present_value += total / (1.0 + rate) ** (y - warm)
    whole = _period(result, flow, scenario, people, age_counts, acute, slice(warm, flow.n_years))
    whole.append(("present_value_gbp", "", float(present_value)))
    records += [(WHOLE_CONTRACT, m, d, v) for m, d, v in whole]
    return records


def measure_rows(result: RunResult, flow: FlowParams, scenario: Scenario,
                 population: Population) -> pd.DataFrame:
    """Tidy measures of one run: columns year, measure, detail, value (contract years only)."""
    return pd.DataFrame(measure_records(result, flow, scenario, population),
                        columns=["year", "measure", "detail", "value"])


def daily_columns(result: RunResult, flow: FlowParams) -> dict[str, np.ndarray]:
    """Daily series (day 0 = the first contract day): occupancy and queue of each service."""
    start = flow.warm_up_years * int(DAYS_PER_YEAR)
    data = {"day": np.arange(result.daily_occupancy.shape[0] - start, dtype=np.int32)}
    data["delayed_patients"] = result.daily_delayed[start:].astype(np.float32)
    for p, name in enumerate(flow.pool_names):
        data[f"{name}_occupied"] = result.daily_occupancy[start:, p].astype(np.float32)
        data[f"{name}_waiting"] = result.daily_queue[start:, p].astype(np.float32)
    return data
