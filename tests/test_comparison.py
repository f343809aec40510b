"""The comparison: common random numbers, arms independent of each other, consistent outputs."""

import numpy as np
import pandas as pd
import pytest

from sim.config import with_changes
from sim.experiment import run_experiment, run_replication
from sim.report import comparison_text, html_report
from sim.summary import compare, interval


@pytest.fixture(scope="module")
def scenario(small):
    return with_changes(small, {"run.contract_years": 2})


@pytest.fixture(scope="module")
def result(scenario):
    return run_experiment(scenario, replications=4, workers=2)


def _admissions(tidy, arm):
    part = tidy.query("year == 0 and measure == 'admissions' and arm == @arm")
    return part.set_index("replication")["value"]


def test_an_arm_does_not_change_when_others_are_added_or_removed(scenario, result):
    names = [a.name for a in scenario.arms]
    alone = run_experiment(scenario, replications=4, workers=2, arms=[names[0], names[3]])
    for arm in (names[0], names[3]):
        full = result.tidy[result.tidy["arm"] == arm].reset_index(drop=True)
        part = alone.tidy[alone.tidy["arm"] == arm].reset_index(drop=True)
        pd.testing.assert_frame_equal(full, part)


def test_common_random_numbers_narrow_the_paired_interval(scenario):
    """Measured, not assumed: the same arm against the status quo on the same draws and on
    independent draws."""
    comparator, arm = scenario.arms[0], scenario.arms[2]
    reps = 8
    crn, independent = [], []
    for r in range(reps):
        same, _ = run_replication(scenario, r, arms=[comparator, arm])
        other, _ = run_replication(scenario, r, arms=[arm], seed=scenario.run.seed + 1000)
        base = _admissions(same, comparator.name)[r]
        crn.append(base - _admissions(same, arm.name)[r])
        independent.append(base - _admissions(other, arm.name)[r])
    _, lo_crn, hi_crn = interval(crn)
    _, lo_ind, hi_ind = interval(independent)
    assert hi_crn - lo_crn < 0.5 * (hi_ind - lo_ind)


def test_printed_table_report_and_csv_hold_the_same_numbers(scenario, result):
    comparator = scenario.arms[0].name
    table = compare(result.tidy, comparator, scenario.run.bcf_admissions_target)
    text = comparison_text(table, comparator)
    report = html_report(result, comparator)
    for arm in result.arms:
        mean = _admissions(result.tidy, arm).mean()
        row = table[(table["arm"] == arm) & (table["measure"] == "admissions")].iloc[0]
        assert row["mean"] == pytest.approx(mean)
        assert f"{mean:,.0f}" in text
        assert f"{mean:,.0f}" in report
    avoided = table[(table["measure"] == "admissions_avoided")].set_index("arm")["mean"]
    for arm in result.arms:
        diff = (_admissions(result.tidy, comparator) - _admissions(result.tidy, arm)).mean()
        assert avoided[arm] == pytest.approx(diff)


def test_chances_are_shares_of_replications(scenario, result):
    comparator = scenario.arms[0].name
    table = compare(result.tidy, comparator, 0.0)
    wide = result.tidy.query("year == 0 and detail == '' and measure == 'cost_total_gbp'").pivot(
        index="replication", columns="arm", values="value")
    for arm in result.arms[1:]:
        saves = (wide[arm] < wide[comparator]).mean()
        assert table[table["arm"] == arm]["chance_saves_money"].iloc[0] == pytest.approx(saves)
    best = table[table["measure"] == "admissions"].set_index("arm")["chance_best"]
    assert best.sum() == pytest.approx(1.0)
    # With a target of 0% fewer admissions, meeting it is avoiding any admissions at all.
    admissions = result.tidy.query("year == 0 and measure == 'admissions'").pivot(
        index="replication", columns="arm", values="value")
    for arm in result.arms[1:]:
        meets = (admissions[comparator] - admissions[arm] >= 0).mean()
        assert table[table["arm"] == arm]["chance_meets_bcf_target"].iloc[0] == pytest.approx(meets)


def test_parameter_draws_differ_by_replication_and_are_shared_by_arms(scenario):
    from sim.arms import place_draws

    a = place_draws(scenario, scenario.run.seed, 0)
    b = place_draws(scenario, scenario.run.seed, 1)
    assert a != b
    assert a == place_draws(scenario, scenario.run.seed, 0)
    assert np.all([2.99 < v < 6.01 for k, v in a.items() if k == "flow.readmission.crisis_multiplier"])
