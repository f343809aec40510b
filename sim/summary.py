"""Summaries of tidy results: means with 95% intervals, paired differences, chances.

Intervals are t-intervals over replications. Differences from the comparator are paired by
replication (every arm ran on the same people and random numbers), which is what makes
them narrow.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from sim.measures import MEASURES, WHOLE_CONTRACT

# Measures shown in the comparison, and which direction is better.
COMPARISON = (
    ("admissions", "lower"),
    ("admissions_avoided", "higher"),
    ("mean_los_days", "lower"),
    ("bed_days", "lower"),
    ("delayed_days", "lower"),
    ("care_home_admissions", "lower"),
    ("deaths_in_hospital", "lower"),
    ("cost_nhs_gbp", "lower"),
    ("cost_council_gbp", "lower"),
    ("cost_total_gbp", "lower"),
    ("present_value_gbp", "lower"),
    ("cost_per_admission_avoided_gbp", "lower"),
)
LABELS = {
    "admissions": "Emergency admissions",
    "admissions_avoided": "Admissions avoided",
    "mean_los_days": "Mean length of stay (days)",
    "bed_days": "Acute bed days",
    "delayed_days": "Delayed days",
    "care_home_admissions": "Care-home admissions",
    "deaths_in_hospital": "Deaths in hospital",
    "cost_nhs_gbp": "Cost to NHS (GBP)",
    "cost_council_gbp": "Cost to council (GBP)",
    "cost_total_gbp": "Total cost (GBP)",
    "present_value_gbp": "Present value (GBP)",
    "cost_per_admission_avoided_gbp": "Cost per admission avoided (GBP)",
}


def interval(values) -> tuple[float, float, float]:
    """Mean and 95% t-interval of replication values (the interval is nan for one value)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def summarise(tidy: pd.DataFrame, year: int = WHOLE_CONTRACT) -> pd.DataFrame:
    """Mean and 95% interval of every measure for each arm (whole contract by default)."""
    part = tidy[tidy["year"] == year]
    rows = []
    for (arm, measure, detail), group in part.groupby(["arm", "measure", "detail"], sort=False):
        mean, lo, hi = interval(group["value"])
        unit, _ = MEASURES.get(measure, ("", ""))
        rows.append({"arm": arm, "measure": measure, "detail": detail, "unit": unit,
                     "mean": mean, "low_95": lo, "high_95": hi, "replications": len(group)})
    return pd.DataFrame(rows)


def wide(tidy: pd.DataFrame, year: int = WHOLE_CONTRACT) -> pd.DataFrame:
    """One row per (arm, replication), one column per measure (details dropped)."""
    part = tidy[(tidy["year"] == year) & (tidy["detail"] == "")]
    return part.pivot_table(index=["arm", "replication"], columns="measure", values="value", sort=False)


def compare(tidy: pd.DataFrame, comparator: str, bcf_target: float) -> pd.DataFrame:
    """The comparison table: for each arm and measure, the mean and interval, the paired
    difference from the comparator with its interval, and the chance of being best."""
    table = wide(tidy)
    arms = list(pd.unique(tidy["arm"]))
    if comparator not in arms:
        raise ValueError(f"comparator arm {comparator!r} is not in the results")
    base = table.loc[comparator]
    per_arm = {}
    for arm in arms:
        values = table.loc[arm].reindex(base.index).copy()
        values["admissions_avoided"] = base["admissions"] - values["admissions"]
        extra_cost = values["cost_total_gbp"] - base["cost_total_gbp"]
        values["cost_per_admission_avoided_gbp"] = np.where(
            values["admissions_avoided"] > 0, extra_cost / values["admissions_avoided"].where(values["admissions_avoided"] > 0), np.nan)
        per_arm[arm] = values
    rows = []
    for measure, better in COMPARISON:
        stacked = pd.DataFrame({arm: per_arm[arm][measure] for arm in arms})
        if better == "lower":
            best = stacked.idxmin(axis=1, skipna=True) if measure != "cost_per_admission_avoided_gbp" else None
        else:
            best = stacked.idxmax(axis=1, skipna=True)
        for arm in arms:
            mean, lo, hi = interval(per_arm[arm][measure])
            if measure == "cost_per_admission_avoided_gbp":
                # A ratio of means is steadier than the mean of per-replication ratios.
                avoided = per_arm[arm]["admissions_avoided"].mean()
                extra = (per_arm[arm]["cost_total_gbp"] - base["cost_total_gbp"]).mean()
                mean = extra / avoided if avoided > 0 else math.nan
                lo = hi = math.nan
            diff = per_arm[arm][measure] - per_arm[comparator][measure]
            d_mean, d_lo, d_hi = interval(diff) if arm != comparator else (0.0, 0.0, 0.0)
            rows.append({
                "arm": arm, "measure": measure, "label": LABELS[measure], "better": better,
                "mean": mean, "low_95": lo, "high_95": hi,
                "difference": d_mean, "difference_low_95": d_lo, "difference_high_95": d_hi,
                "chance_best": float((best == arm).mean()) if best is not None else math.nan,
            })
    out = pd.DataFrame(rows)
    chances = []
    for arm in arms:
        saving = (per_arm[arm]["cost_total_gbp"] < base["cost_total_gbp"]).mean() if arm != comparator else math.nan
        reduction = per_arm[arm]["admissions_avoided"] / base["admissions"]
        meets = (reduction >= bcf_target).mean()
        chances.append({"arm": arm, "chance_saves_money": float(saving),
                        "chance_meets_bcf_target": float(meets),
                        "admissions_reduction_mean": float(reduction.mean())})
    return out.merge(pd.DataFrame(chances), on="arm")


def format_number(value: float, measure: str = "") -> str:
    """A number as a planner reads it: thousands separators, sensible decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if "share" in measure or measure in ("occupancy", "readmission_rate_30d"):
        return f"{value * 100:.1f}%"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f}m"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"
