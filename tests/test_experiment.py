"""Experiments: reproducible, independent of worker count, and common random numbers."""

import numpy as np
import pandas as pd
import pytest

from sim.config import with_changes
from sim.experiment import run_experiment, run_replication
from sim.summary import compare, interval, summarise


def _short(small):
    return with_changes(small, {"run.contract_years": 2})


def test_same_seed_same_numbers_other_seed_other_numbers(small):
    scenario = _short(small)
    a = run_experiment(scenario, replications=2, workers=1, arms=["Status quo"])
    b = run_experiment(scenario, replications=2, workers=1, arms=["Status quo"])
    c = run_experiment(scenario, replications=2, workers=1, arms=["Status quo"], seed=99)
    pd.testing.assert_frame_equal(a.tidy, b.tidy)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    admissions = lambda r: r.tidy.query("measure == 'admissions' and year == 0")["value"].to_numpy()  # noqa: E731
    assert not np.array_equal(admissions(a), admissions(c))


def test_one_worker_equals_two_workers(small):
    scenario = _short(small)
    one = run_experiment(scenario, replications=3, workers=1, arms=["Status quo"])
    two = run_experiment(scenario, replications=3, workers=2, arms=["Status quo"])
    pd.testing.assert_frame_equal(one.tidy, two.tidy)
    pd.testing.assert_frame_equal(one.daily, two.daily)
    assert one.manifest["config_sha256"] == two.manifest["config_sha256"]


def test_reference_engine_gives_the_same_tables(small):
    scenario = with_changes(small, {"run.contract_years": 1, "population.size": 1500})
    fast, _ = run_replication(scenario, 0, arms=[scenario.arms[0]], engine="fast")
    reference, _ = run_replication(scenario, 0, arms=[scenario.arms[0]], engine="reference")
    pd.testing.assert_frame_equal(fast, reference, rtol=1e-9)


def test_tidy_rows_are_one_per_arm_replication_year_measure(small):
    scenario = _short(small)
    result = run_experiment(scenario, replications=2, workers=1, arms=["Status quo"])
    keys = ["arm", "replication", "year", "measure", "detail"]
    assert not result.tidy.duplicated(keys).any()
    assert set(result.tidy["year"]) == {0, 1, 2}
    # Whole-contract counts are the sums of the years.
    t = result.tidy.set_index(keys)["value"]
    for r in (0, 1):
        years = sum(t[("Status quo", r, y, "admissions", "")] for y in (1, 2))
        assert t[("Status quo", r, 0, "admissions", "")] == pytest.approx(years)


def test_present_value_discounts_later_years(small):
    scenario = with_changes(small, {"run.discount_rate": 0.035})
    result = run_experiment(scenario, replications=1, workers=1, arms=["Status quo"])
    t = result.tidy.set_index(["year", "measure", "detail"])["value"]
    years = scenario.run.contract_years
    expected = sum(t[(y, "cost_total_gbp", "")] / 1.035 ** (y - 1) for y in range(1, years + 1))
    assert t[(0, "present_value_gbp", "")] == pytest.approx(expected, rel=1e-12)
    assert t[(0, "present_value_gbp", "")] < t[(0, "cost_total_gbp", "")]


def test_interval_matches_t_distribution():
    mean, lo, hi = interval([1.0, 2.0, 3.0, 4.0])
    # sd = 1.29099, t(0.975, 3) = 3.18245, half width = 3.18245 * 1.29099 / 2 = 2.05426
    assert mean == 2.5
    assert hi - mean == pytest.approx(2.05426, abs=1e-4)
    assert mean - lo == pytest.approx(2.05426, abs=1e-4)


def test_summary_holds_the_tidy_means(small):
    scenario = _short(small)
    result = run_experiment(scenario, replications=3, workers=1, arms=["Status quo"])
    summary = summarise(result.tidy).set_index(["measure", "detail"])
    direct = result.tidy.query("year == 0 and measure == 'mean_los_days'")["value"].mean()
    assert summary.loc[("mean_los_days", ""), "mean"] == pytest.approx(direct)
    table = compare(result.tidy, "Status quo", 0.035)
    row = table[(table["arm"] == "Status quo") & (table["measure"] == "admissions")].iloc[0]
    assert row["difference"] == 0.0
    assert row["mean"] == pytest.approx(summary.loc[("admissions", ""), "mean"])
