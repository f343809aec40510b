"""The four care models: each mechanism moves what it should and only that.

Flow-level tests compare the two layers of FlowParams with the status quo's, person by person
(an arm's enrolments split cohorts, so cohort indices differ between arms). Engine-level tests
run the fast engine on configs/small.yaml with central parameter values and the same engine
seeds in both arms (common random numbers), and compare totals over the contract years.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import models
from models import registry
from sim.arms import drawn_params, lower_arm
from sim.config import Arm, ConfigError, parse, with_changes
from sim.engine_fast import run
from sim.flow import BASE, FULL
from sim.population import HOME, generate
from sim.randomness import replication_seed

# The registry discovers models/ only while it is empty, so it must look before this module
# imports any one model directly.
registry.kinds()

from models.common import enrol_highest_risk, in_group, in_risk_tiers  # noqa: E402
from models.condition_based import caseloads  # noqa: E402
from models.function_based import PREVENTION  # noqa: E402
from models.wellbeing_hubs import CASE_MANAGED, hub_count, hub_of  # noqa: E402

SEEDS = [replication_seed(20170401, r) & ((1 << 63) - 1) for r in range(8)]
LAYERED = ("crisis_rate", "eol_found", "eol_found_multiplier", "terminal_death",
           "terminal_death_found", "readmit_multiplier", "divert_prob", "admit_prob", "los_mean",
           "hospital_death", "pathway", "assess_mean", "reablement_outcome", "step_down_care_home")
KINDS = ("condition_based", "function_based", "wellbeing_hubs", "neighbourhood_teams")

# Parameters that switch every mechanism of a model off: multipliers 1, shares 0, no places,
# no costs. Caseloads stay, so enrolment still splits cohorts: that alone must change nothing.
NEUTRAL_COMMON = {"double_running_gbp_per_year": 0.0, "shared_care_record_assessment_multiplier": 1.0}
NEUTRAL = {
    "condition_based": {"exacerbation_multiplier": 1.0, "diversion_multiplier": 1.0,
                        "length_of_stay_multiplier": 1.0, "team_gbp_per_year": 0.0,
                        "gbp_per_contact": 0.0},
    "function_based": {"discharge_assessment_multiplier": 1.0, "discharge_home_shift": 0.0,
                       "discharge_team_gbp_per_year": 0.0, "prevention_crisis_multiplier": 1.0,
                       "prevention_team_gbp_per_year": 0.0, "end_of_life_found_share": 0.0,
                       "end_of_life_crisis_multiplier": 1.0,
                       "end_of_life_hospital_death_multiplier": 1.0,
                       "end_of_life_team_gbp_per_year": 0.0},
    "wellbeing_hubs": {"case_management_crisis_multiplier": 1.0,
                       "urgent_care_diversion_multiplier": 1.0, "urgent_care_places_per_hub": 0,
                       "hub_gbp_per_year": 0.0, "gbp_per_head_per_year": 0.0,
                       "case_management_gbp_per_person_per_year": 0.0},
    "neighbourhood_teams": {"social_prescribing_crisis_multiplier": 1.0,
                            "carer_support_multiplier": 1.0, "response_diversion_multiplier": 1.0,
                            "response_places_per_team": 0, "team_gbp_per_year": 0.0,
                            "voluntary_sector_gbp_per_team_per_year": 0.0},
}


@pytest.fixture(scope="module")
def population(small):
    return generate(small, SEEDS[0])


def arm_of(scenario, kind: str, **changes) -> Arm:
    """The scenario's arm of *kind*, with some parameters changed."""
    arm = next(a for a in scenario.arms if a.kind == kind)
    return arm.model_copy(update={"params": {**arm.params, **changes}})


def neutral(scenario, kind: str, **changes) -> Arm:
    """The arm of *kind* with every effect switched off except *changes*."""
    return arm_of(scenario, kind, **{**NEUTRAL_COMMON, **NEUTRAL[kind], **changes})


def lower(scenario, population, arm):
    return lower_arm(scenario, population, arm, scenario.run.seed, None)


def per_person(flow, name: str, layer: int) -> np.ndarray:
    """A layered array indexed by person instead of cohort."""
    return getattr(flow, name)[layer][flow.person_cohort]


def changed_people(flow, status_quo, name: str) -> np.ndarray:
    """Mask of (person, ...) entries where the arm's full layer differs from the status quo's."""
    return per_person(flow, name, FULL) != per_person(status_quo, name, FULL)


def totals(scenario, population, arm, counter: str) -> float:
    """A counter summed over the contract years and the test seeds."""
    flow = lower(scenario, population, arm)
    first = scenario.run.warm_up_years
    return float(sum(run(flow, seed).counter(counter)[first:].sum() for seed in SEEDS))


@pytest.fixture(scope="module")
def status_quo(small, population):
    return lower(small, population, small.arms[0])


# --- configs ------------------------------------------------------------------------------


def test_both_configs_have_the_five_arms_status_quo_first(small, bnes):
    for scenario in (small, bnes):
        assert [a.kind for a in scenario.arms] == ["status_quo", *KINDS]
        assert scenario.arms[0].name == "Status quo"


def test_every_arm_parameter_in_bnes_has_a_source(bnes):
    missing = [f"arms.{i}.params.{key}" for i, arm in enumerate(bnes.arms) for key in arm.params
               if f"arms.{i}.params.{key}" not in bnes.sources]
    assert missing == []


def test_small_arms_are_the_default_arms_with_only_sizes_and_fixed_costs_scaled(small, bnes):
    scaled = {"caseload_by_condition", "prevention_caseload", "caseload_per_hub",
              "urgent_care_places_per_hub", "response_places_per_team", "team_gbp_per_year",
              "discharge_team_gbp_per_year", "prevention_team_gbp_per_year",
              "end_of_life_team_gbp_per_year", "hub_gbp_per_year",
              "voluntary_sector_gbp_per_team_per_year", "double_running_gbp_per_year"}
    for little, big in zip(small.arms, bnes.arms, strict=True):
        assert little.params.keys() == big.params.keys()
        assert {k for k in big.params if little.params[k] != big.params[k]} <= scaled


# --- what every model shares ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_never_changes_todays_services(small, population, status_quo, kind):
    flow = lower(small, population, arm_of(small, kind))
    for name in LAYERED:
        np.testing.assert_array_equal(per_person(flow, name, BASE), per_person(status_quo, name, BASE),
                                      err_msg=name)
    np.testing.assert_array_equal(flow.capacity[:, : small.run.warm_up_years],
                                  status_quo.capacity[:, : small.run.warm_up_years])
    assert np.all(flow.ramp[: small.run.warm_up_years * 12] == 0.0)
    assert flow.ramp[-1] == 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_a_neutral_model_gives_the_status_quo_result_exactly(small, population, status_quo, kind):
    flow = lower(small, population, neutral(small, kind))
    assert flow.fixed_costs == []
    assert flow.pool_names == status_quo.pool_names
    for seed in SEEDS[:3]:
        ours, theirs = run(flow, seed), run(status_quo, seed)
        for field in ("counters", "admissions_by_age", "admissions_by_cluster", "pathways",
                      "diverted_by_pool", "pool_days", "pool_episodes", "pool_queue_days",
                      "los_hist", "daily_occupancy", "daily_delayed"):
            np.testing.assert_array_equal(getattr(ours, field), getattr(theirs, field), err_msg=field)
        assert ours.events == theirs.events


def test_ramp_linear_and_step(small, population):
    warm = small.run.warm_up_years * 12
    linear = lower(small, population, neutral(small, "neighbourhood_teams", ramp_up_months=12))
    step = lower(small, population, neutral(small, "neighbourhood_teams", ramp_up_months=12,
                                            ramp_shape="step"))
    assert np.all(np.diff(linear.ramp[warm:warm + 12]) > 0) and linear.ramp[warm + 12] == 1.0
    np.testing.assert_array_equal(step.ramp[warm:warm + 12], 0.0)
    np.testing.assert_array_equal(step.ramp[warm + 12:], 1.0)


def test_double_running_costs_only_in_the_first_contract_years(small, population):
    arm = neutral(small, "neighbourhood_teams", double_running_gbp_per_year=1000.0,
                  double_running_years=2, payer="council")
    [cost] = lower(small, population, arm).fixed_costs
    assert (cost.line, cost.payer) == ("double running", "council")
    np.testing.assert_array_equal(cost.gbp_per_year, [0.0, 1000.0, 1000.0, 0.0])


def test_shared_care_record_shortens_assessment_delays_only(small, population, status_quo):
    flow = lower(small, population, neutral(small, "condition_based",
                                            shared_care_record_assessment_multiplier=0.5))
    np.testing.assert_allclose(per_person(flow, "assess_mean", FULL),
                               0.5 * per_person(status_quo, "assess_mean", FULL))
    for name in set(LAYERED) - {"assess_mean"}:
        assert not changed_people(flow, status_quo, name).any(), name


# --- condition-based services ---------------------------------------------------------------


def test_condition_teams_enrol_the_highest_risk_up_to_the_caseload(small, population):
    arm = arm_of(small, "condition_based")
    params = registry.parse_params(arm.kind, arm.params)
    bits = registry.get(arm.kind).groups(small, population, drawn_params(arm, 0, None))
    for j, (condition, (filled, waiting)) in enumerate(caseloads(population, params).items()):
        has = population.has(condition)
        enrolled = (bits >> j) & 1 == 1
        assert enrolled.sum() == filled == params.caseload_by_condition[condition]
        assert (has & ~enrolled).sum() == waiting > 0
        assert not (enrolled & ~has).any()
        assert population.risk[enrolled].min() >= population.risk[has & ~enrolled].max()


@pytest.mark.parametrize("places", [0, 1, 7, 250, 2_000, 10**6])
def test_enrolment_takes_highest_risk_then_oldest_then_lowest_person_number(population, places):
    # The rule written out as a sort of every candidate by (risk, age band, person) against
    # enrol_highest_risk, which picks the same people without sorting; many people tie on
    # risk and age band, so the person number decides at the cut.
    for eligible in (population.has(population.condition_names[0]), population.risk >= 1,
                     np.zeros(population.size, dtype=bool)):
        candidates = np.flatnonzero(eligible)
        order = np.lexsort((candidates, -population.age_band[candidates].astype(int),
                            -population.risk[candidates].astype(int)))
        expected = np.zeros(population.size, dtype=bool)
        expected[candidates[order[:places]]] = True
        got = enrol_highest_risk(population, eligible, places)
        assert np.array_equal(got, expected)
        assert got.sum() == min(places, candidates.size)


def test_risk_tiers_are_picked_by_table_as_by_isin(population):
    for tiers in [(), (0,), (1, 2), (2, 3), (0, 1, 2, 3)]:
        assert np.array_equal(in_risk_tiers(population, tiers), np.isin(population.risk, tiers))


def test_condition_teams_change_only_enrolled_peoples_target_exacerbations(small, population, status_quo):
    arm = arm_of(small, "condition_based")
    flow = lower(small, population, arm)
    targets = [flow.crisis_types.index(f"exacerbation_{c}") for c in arm.params["caseload_by_condition"]]
    enrolled = np.array([in_group(flow, j) for j in range(len(targets))])[:, flow.person_cohort]
    allowed = np.zeros((population.size, len(flow.crisis_types)), dtype=bool)
    for j, k in enumerate(targets):
        allowed[enrolled[j], k] = True
    for name in ("crisis_rate", "los_mean", "divert_prob"):
        changed = changed_people(flow, status_quo, name)
        assert not (changed & ~allowed).any(), name
    rate = changed_people(flow, status_quo, "crisis_rate")
    assert rate[allowed].all()  # every enrolled person's target exacerbations move
    for name in set(LAYERED) - {"crisis_rate", "los_mean", "divert_prob"}:
        assert not changed_people(flow, status_quo, name).any(), name


def test_people_on_two_caseloads_get_less_and_cost_more(small, population, status_quo):
    base = dict(exacerbation_multiplier=0.5, caseload_by_condition={"diabetes": 400, "heart_failure": 400})
    whole = lower(small, population, arm_of(small, "condition_based", fragmentation=0.0, **base))
    split = lower(small, population, arm_of(small, "condition_based", fragmentation=0.5, **base))
    k = whole.crisis_types.index("exacerbation_diabetes")
    both = in_group(whole, 0) & in_group(whole, 1)
    one = in_group(whole, 0) & ~in_group(whole, 1)
    assert both.any() and one.any()
    rate = whole.crisis_rate[:, :, k]
    np.testing.assert_allclose(rate[FULL][both | one], 0.5 * rate[BASE][both | one])
    rate = split.crisis_rate[:, :, k]
    np.testing.assert_allclose(rate[FULL][both], 0.75 * rate[BASE][both])
    np.testing.assert_allclose(rate[FULL][one], 0.5 * rate[BASE][one])
    contacts = {f.line: f.gbp_per_year for f in split.fixed_costs}["condition team contacts"]
    people = np.bincount(split.person_cohort, minlength=split.n_cohorts)
    single_rate = people[in_group(split, 0) ^ in_group(split, 1)].sum()
    double_rate = 2 * people[both].sum()
    p = arm_of(small, "condition_based").params
    full_year = p["contacts_per_person_per_year"] * p["gbp_per_contact"] * (
        single_rate + p["multi_team_contact_multiplier"] * double_rate)
    assert contacts[-1] == pytest.approx(full_year)


def test_condition_teams_lower_crises_in_the_engine(small, population):
    strong = arm_of(small, "condition_based", exacerbation_multiplier=0.3,
                    caseload_by_condition={"diabetes": 300, "dementia": 100, "heart_failure": 100})
    assert totals(small, population, strong, "crises") < totals(small, population, small.arms[0], "crises")


def test_an_unknown_target_condition_is_named(small, population):
    with pytest.raises(ValueError, match="asthma"):
        lower(small, population, arm_of(small, "condition_based", caseload_by_condition={"asthma": 10}))


# --- function-based services ----------------------------------------------------------------


def test_discharge_team_shortens_delays_and_sends_more_home(small, population, status_quo):
    arm = neutral(small, "function_based", discharge_assessment_multiplier=0.5, discharge_home_shift=0.2)
    flow = lower(small, population, arm)
    np.testing.assert_allclose(flow.assess_mean[FULL], 0.5 * flow.assess_mean[BASE])
    np.testing.assert_allclose(flow.pathway[FULL].sum(axis=1), 1.0)
    np.testing.assert_allclose(flow.pathway[FULL][:, 1:], 0.8 * flow.pathway[BASE][:, 1:])
    for name in set(LAYERED) - {"assess_mean", "pathway"}:
        assert not changed_people(flow, status_quo, name).any(), name
    assert totals(small, population, arm, "delayed_days") < totals(small, population, small.arms[0], "delayed_days")


def test_prevention_team_lowers_crises_of_its_caseload_only(small, population, status_quo):
    arm = neutral(small, "function_based", prevention_crisis_multiplier=0.8)
    flow = lower(small, population, arm)
    enrolled = in_group(flow, PREVENTION)[flow.person_cohort]
    assert enrolled.sum() == arm.params["prevention_caseload"]
    assert set(population.risk[enrolled]) <= {1, 2}
    assert (population.residence[enrolled] == HOME).all()
    eligible = np.isin(population.risk, (1, 2)) & (population.residence == HOME)
    assert population.risk[enrolled].min() >= population.risk[eligible & ~enrolled].max()
    changed = changed_people(flow, status_quo, "crisis_rate")
    assert changed.any(axis=1).tolist() == enrolled.tolist()
    np.testing.assert_allclose(per_person(flow, "crisis_rate", FULL)[enrolled],
                               0.8 * per_person(status_quo, "crisis_rate", FULL)[enrolled])
    assert totals(small, population, arm, "crises") < totals(small, population, small.arms[0], "crises")


def test_end_of_life_team_lowers_deaths_in_hospital(small, population, status_quo):
    arm = neutral(small, "function_based", end_of_life_found_share=0.7,
                  end_of_life_crisis_multiplier=0.6, end_of_life_hospital_death_multiplier=0.5)
    flow = lower(small, population, arm)
    np.testing.assert_allclose(flow.eol_found[FULL], 0.7)
    assert np.all(flow.eol_found[BASE] < 0.7)
    np.testing.assert_allclose(flow.terminal_death_found[FULL], 0.5 * flow.terminal_death_found[BASE])
    for name in set(LAYERED) - {"eol_found", "eol_found_multiplier", "terminal_death_found"}:
        assert not changed_people(flow, status_quo, name).any(), name
    sq = small.arms[0]
    assert totals(small, population, arm, "deaths_in_hospital") < totals(small, population, sq, "deaths_in_hospital")
    assert totals(small, population, arm, "end_of_life_admissions") < totals(small, population, sq, "end_of_life_admissions")


# --- wellbeing hubs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_place(small):
    """The small place with the default place's population, for hub counts (lowered, not run)."""
    scenario = with_changes(small, {"population.size": 187_751})
    return scenario, generate(scenario, SEEDS[0])


def test_larger_hubs_mean_fewer_hubs_and_lower_fixed_cost(big_place):
    scenario, population = big_place
    cost, hubs = {}, {}
    for size in (30_000, 40_000, 50_000):
        flow = lower(scenario, population, arm_of(scenario, "wellbeing_hubs", hub_size=size))
        hubs[size] = hub_count(population.size, size)
        cost[size] = sum(f.gbp_per_year[-1] for f in flow.fixed_costs if f.line == "wellbeing hubs")
    assert hubs == {30_000: 6, 40_000: 5, 50_000: 4}
    assert cost[50_000] < cost[40_000] < cost[30_000]
    per_head = {size: cost[size] / population.size for size in cost}
    assert per_head[50_000] < per_head[30_000]


@pytest.mark.parametrize("n_hubs", [1, 3, 5, 6, 8])
def test_hubs_are_built_from_whole_clusters_or_split_them(big_place, n_hubs):
    _, population = big_place
    hub = hub_of(population, n_hubs)
    assert sorted(np.unique(hub)) == list(range(n_hubs))
    n_clusters = len(population.cluster_names)
    if n_hubs <= n_clusters:  # whole clusters merged: no cluster is split
        assert all(np.unique(hub[population.cluster == c]).size == 1 for c in range(n_clusters))
    if n_hubs >= n_clusters:  # clusters split: no hub spans two clusters, hubs of similar size
        assert all(np.unique(population.cluster[hub == h]).size == 1 for h in range(n_hubs))
        sizes = np.bincount(hub)
        assert sizes.max() < 2 * sizes.min()


def test_hub_size_curve_weakens_reach_and_continuity(small, population):
    def full_effects(size):
        arm = arm_of(small, "wellbeing_hubs", hub_size=size, reach_loss_per_10k=0.2,
                     continuity_loss_per_10k=0.3, urgent_care_diversion_multiplier=2.0,
                     case_management_crisis_multiplier=0.8)
        flow = lower(small, population, arm)
        k = flow.crisis_types.index("fall_frailty")
        base = flow.divert_prob[BASE][:, k]
        divert = flow.divert_prob[FULL][:, k][base > 0] / base[base > 0]
        managed = in_group(flow, CASE_MANAGED)
        rate = flow.crisis_rate[:, managed].sum(axis=(1, 2))
        return divert.max(), rate[FULL] / rate[BASE]

    assert full_effects(30_000) == pytest.approx((2.0, 0.8))
    assert full_effects(50_000) == pytest.approx((1.0 + 1.0 * 0.6, 1.0 - 0.2 * 0.4))


def test_hubs_case_manage_high_risk_and_add_urgent_care_places(small, population, status_quo):
    arm = arm_of(small, "wellbeing_hubs", case_management_crisis_multiplier=0.9, urgent_care_places_per_hub=3)
    flow = lower(small, population, arm)
    managed = in_group(flow, CASE_MANAGED)[flow.person_cohort]
    assert managed.sum() == arm.params["caseload_per_hub"]  # one hub in a place of 4,000
    assert set(population.risk[managed]) <= {2, 3}
    changed = changed_people(flow, status_quo, "crisis_rate")
    assert changed.any(axis=1).tolist() == managed.tolist()
    urgent = [flow.crisis_types.index(t) for t in arm.params["urgent_care_crisis_types"]]
    divert = changed_people(flow, status_quo, "divert_prob")
    assert divert[:, urgent].any() and not np.delete(divert, urgent, axis=1).any()
    ucr = flow.pool_names.index("urgent_community_response")
    extra = flow.capacity - status_quo.capacity
    np.testing.assert_array_equal(extra[ucr], [0, 3, 3, 3])
    assert not np.delete(extra, ucr, axis=0).any()
    sq = small.arms[0]
    assert totals(small, population, arm, "diverted") > totals(small, population, sq, "diverted")


# --- neighbourhood teams ----------------------------------------------------------------------


def test_neighbourhood_teams_leave_length_of_stay_alone(small, population, status_quo):
    flow = lower(small, population, arm_of(small, "neighbourhood_teams"))
    np.testing.assert_array_equal(per_person(flow, "los_mean", FULL), per_person(status_quo, "los_mean", FULL))
    for name in set(LAYERED) - {"crisis_rate", "divert_prob"}:
        assert not changed_people(flow, status_quo, name).any(), name


def test_neighbourhood_teams_reach_low_and_moderate_risk_and_care_breakdowns(small, population, status_quo):
    arm = arm_of(small, "neighbourhood_teams", social_prescribing_crisis_multiplier=0.9,
                 carer_support_multiplier=0.8, response_diversion_multiplier=1.5)
    flow = lower(small, population, arm)
    k_breakdown = flow.crisis_types.index("care_breakdown")
    home = population.residence == HOME
    low_moderate = home & (population.risk <= 1)
    ours, theirs = per_person(flow, "crisis_rate", FULL), per_person(status_quo, "crisis_rate", FULL)
    others = np.delete(np.arange(len(flow.crisis_types)), k_breakdown)
    np.testing.assert_allclose(ours[low_moderate][:, others], 0.9 * theirs[low_moderate][:, others])
    np.testing.assert_allclose(ours[low_moderate, k_breakdown], 0.72 * theirs[low_moderate, k_breakdown])
    higher = home & ~low_moderate
    np.testing.assert_array_equal(ours[higher][:, others], theirs[higher][:, others])
    np.testing.assert_allclose(ours[higher, k_breakdown], 0.8 * theirs[higher, k_breakdown])
    assert not changed_people(flow, status_quo, "crisis_rate")[~home].any()
    response = [flow.crisis_types.index(t) for t in arm.params["response_crisis_types"]]
    divert = changed_people(flow, status_quo, "divert_prob")
    assert not np.delete(divert, response, axis=1).any() and divert[home][:, response].any()
    n_forums = len(np.unique(population.forum))
    extra = flow.capacity - status_quo.capacity
    assert extra[:, -1].sum() == 2 * round(n_forums * arm.params["response_places_per_team"])
    sq = small.arms[0]
    assert totals(small, population, arm, "admissions") < totals(small, population, sq, "admissions")


# --- a fifth model and bad parameters -------------------------------------------------------


DOCS = Path(__file__).resolve().parent.parent / "docs" / "care-models.md"


def fifth_model_example() -> tuple[str, dict]:
    """The module and the YAML arm that docs/care-models.md gives for a fifth model."""
    section = DOCS.read_text().split("## Adding a fifth model", 1)[1]
    module = section.split("```python\n", 1)[1].split("```", 1)[0]
    arm = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])["arms"][0]
    return module, arm


def test_a_fifth_model_is_one_module_and_one_arm(small, population, tmp_path, monkeypatch):
    module, arm_entry = fifth_model_example()
    name = arm_entry["kind"]
    (tmp_path / f"{name}.py").write_text(module)
    monkeypatch.setattr(models, "__path__", [*models.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry.kinds()))
    monkeypatch.delitem(sys.modules, f"models.{name}", raising=False)
    importlib.import_module(f"models.{name}")
    monkeypatch.delitem(sys.modules, f"models.{name}")

    data = small.model_dump(mode="json")
    data["arms"].append(arm_entry)
    scenario = parse(yaml.safe_dump(data, sort_keys=False))
    arm = scenario.arms[-1]
    flow = lower(scenario, population, arm)
    assert flow.admit_prob[FULL].sum() < flow.admit_prob[BASE].sum()
    sq = scenario.arms[0]
    assert totals(scenario, population, arm, "admissions") < totals(scenario, population, sq, "admissions")

    data["arms"][-1]["params"] = {"admit_multiplier": 1.5}
    with pytest.raises(ConfigError) as error:
        parse(yaml.safe_dump(data, sort_keys=False))
    assert [p[0] for p in error.value.problems] == ["arms.5.params.admit_multiplier"]


@pytest.mark.parametrize(("arm", "key", "value", "path", "words"), [
    (1, "team_size", 3, "arms.1.params.team_size", "unknown key"),
    (3, "hub_size", 20_000, "arms.3.params.hub_size", "30000"),
    (2, "end_of_life_found_share", 1.3, "arms.2.params.end_of_life_found_share", "[0.0, 1.0]"),
    (2, "discharge_home_shift", {"dist": "uniform", "low": 0.0, "high": 1.3},
     "arms.2.params.discharge_home_shift", "[0.0, 1.0]"),
    (4, "response_places_per_team", -1, "arms.4.params.response_places_per_team", "greater than or equal"),
    (1, "payer", "ccg", "arms.1.params.payer", "nhs"),
])
def test_bad_parameters_give_keyed_errors(small, arm, key, value, path, words):
    data = small.model_dump(mode="json")
    data["arms"][arm]["params"][key] = value
    with pytest.raises(ConfigError) as error:
        parse(yaml.safe_dump(data, sort_keys=False))
    problems = error.value.problems
    assert [p[0] for p in problems] == [path]
    assert words in problems[0][2]
    assert problems[0][1] is not None  # the YAML line is named


@pytest.mark.parametrize("change, key", [
    ({"arms.1.params.caseload_by_condition": {"gout": 10}}, "arms.1.params.caseload_by_condition"),
    ({"arms.3.params.urgent_care_crisis_types": ["falls"]}, "arms.3.params.urgent_care_crisis_types"),
    ({"arms.4.params.response_crisis_types": ["falls"]}, "arms.4.params.response_crisis_types"),
])
def test_names_the_place_does_not_have_are_refused_on_load(change, key):
    from sim.config import ConfigError, load, with_changes

    with pytest.raises(ConfigError) as exc:
        with_changes(load("configs/small.yaml"), change)
    assert [p for p, _, _ in exc.value.problems] == [key]
