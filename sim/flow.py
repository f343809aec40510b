"""Flow parameters: the place and one arm lowered into flat numpy arrays for the engines.

People are grouped into *cohorts*: everyone who shares age band, risk tier, conditions,
residence, deprivation quintile and care-model group bits has the same parameters (a
person's cluster and forum are kept per person: they only sort the admissions). Arrays are
indexed by cohort (C), crisis type (K), pool (P), age band (A) and year (Y). An arm's effects
are stored beside the status quo's as a second layer: index 0 of the leading axis is today's
services, index 1 the arm at full effect; at time t the engines use
``base + ramp(t) * (full - base)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.config import (
    CRISIS_KINDS,
    DIVERSION_SERVICES,
    PAYERS,
    Scenario,
    central,
    crisis_type_names,
)
from sim.population import CARE_HOME, HOME, Population

DAYS_PER_YEAR = 365.0
DAYS_PER_MONTH = DAYS_PER_YEAR / 12.0
BASE, FULL = 0, 1

# Pool kinds: what a place in the pool means for the person holding it.
ACUTE, ESCALATION, DIVERSION, IN_SERVICE, AT_HOME = 0, 1, 2, 3, 4
# Fixed pool indices of the place's own services; care models may add pools after these.
POOL_ACUTE, POOL_ESCALATION = 0, 1
POOL_UCR, POOL_VIRTUAL_WARD, POOL_STEP_UP, POOL_MENTAL_HEALTH = 2, 3, 4, 5
POOL_STEP_DOWN, POOL_REABLEMENT, POOL_HOME_CARE, POOL_CARE_HOME = 6, 7, 8, 9
SERVICE_POOLS = {
    "acute_beds": (POOL_ACUTE, ACUTE),
    "escalation_beds": (POOL_ESCALATION, ESCALATION),
    "urgent_community_response": (POOL_UCR, DIVERSION),
    "virtual_ward": (POOL_VIRTUAL_WARD, DIVERSION),
    "step_up_beds": (POOL_STEP_UP, DIVERSION),
    "mental_health_crisis_beds": (POOL_MENTAL_HEALTH, DIVERSION),
    "step_down_beds": (POOL_STEP_DOWN, IN_SERVICE),
    "reablement": (POOL_REABLEMENT, AT_HOME),
    "home_care": (POOL_HOME_CARE, AT_HOME),
    "care_homes": (POOL_CARE_HOME, AT_HOME),
}
PATHWAY_POOL = np.array([-1, POOL_REABLEMENT, POOL_STEP_DOWN, POOL_CARE_HOME], dtype=np.int64)
REABLEMENT_OUTCOMES = ("independent", "home_care", "care_home")


@dataclass
class FixedCost:
    """A care model's fixed cost: a service line, its payer and GBP per contract year."""

    line: str
    payer: str
    gbp_per_year: np.ndarray


@dataclass
class FlowParams:
    """Everything an engine needs, as plain arrays (see the module docstring for axes)."""

    person_cohort: np.ndarray        # int32 [N] cohort of each person at the start
    person_cluster: np.ndarray       # small int [N] practice cluster of each person's slot
    person_forum: np.ndarray         # small int [N] area forum of each person's slot
    cohort_age: np.ndarray           # int64 [C]
    cohort_risk: np.ndarray          # int64 [C]
    cohort_conditions: np.ndarray    # int64 [C] bit mask
    cohort_residence: np.ndarray     # int64 [C]
    cohort_deprivation: np.ndarray   # int64 [C]
    cohort_group: np.ndarray         # int64 [C] care-model group bits (enrolments)
    to_care_home: np.ndarray         # int64 [C] the same cohort living in a care home
    crisis_rate: np.ndarray          # [2, C, K] crises per day, before growth and state
    mortality: np.ndarray            # [C] deaths per day
    eol_window: float
    eol_multiplier: float
    eol_found: np.ndarray            # [2, C] chance a dying person is known to services
    eol_found_multiplier: np.ndarray  # [2, C] crisis multiplier in the window when found
    terminal_death: np.ndarray       # [2, C] chance an end-of-life admission ends in death
    terminal_death_found: np.ndarray  # [2, C]
    readmit_window: float
    readmit_multiplier: np.ndarray   # [2, C]
    divert_pool: np.ndarray          # int64 [C, K] pool that can take the crisis, -1 none
    divert_prob: np.ndarray          # [2, C, K]
    admit_prob: np.ndarray           # [2, C, K]
    los_mean: np.ndarray             # [2, C, K] mean clinical stay, days
    los_mixed: bool                  # Harrison-Millard mixed exponential instead of lognormal
    los_sigma: float
    los_short_share: float
    los_short_ratio: float
    hospital_death: np.ndarray       # [2, C]
    pathway: np.ndarray              # [2, C, 4] discharge pathway shares
    assess_mean: np.ndarray          # [2, C, 4] assessment delay, days
    reablement_outcome: np.ndarray   # [2, C, 3] independent, home care, care home
    step_down_care_home: np.ndarray  # [2, C]
    growth: np.ndarray               # [A, Y] demand multiplier
    ramp: np.ndarray                 # [months] share of full effect in force each month
    capacity: np.ndarray             # int64 [P, Y]
    pool_kind: np.ndarray            # int64 [P]
    pool_mean_days: np.ndarray       # [P]
    pool_max_days: np.ndarray        # [P] (inf = no cap)
    pool_initial: np.ndarray         # int64 [P] places filled at the start
    pool_cost_day: np.ndarray        # [P] GBP
    pool_cost_episode: np.ndarray    # [P] GBP
    pool_payer: np.ndarray           # int64 [P] index into PAYERS
    pool_names: list[str]
    escalate: bool
    trim_days: float                 # stay covered by the admission's cost; longer is excess
    warm_up_years: int
    n_years: int
    crisis_types: list[str]
    age_band_names: list[str]
    age_65plus: np.ndarray           # bool [A] band starts at 65 or over
    cluster_names: list[str]
    forum_names: list[str]
    fixed_costs: list[FixedCost] = field(default_factory=list)

    @property
    def horizon_days(self) -> float:
        return self.n_years * DAYS_PER_YEAR

    @property
    def n_cohorts(self) -> int:
        return int(self.cohort_age.shape[0])

    def add_pool(self, name: str, kind: int, capacity: np.ndarray, mean_days: float,
                 cost_day: float = 0.0, cost_episode: float = 0.0, payer: str = "nhs") -> int:
        """Add a service (a capacity-limited pool) and return its index."""
        self.pool_names.append(name)
        self.capacity = np.vstack([self.capacity, np.asarray(capacity, dtype=np.int64)[None, :]])
        self.pool_kind = np.append(self.pool_kind, kind)
        self.pool_mean_days = np.append(self.pool_mean_days, mean_days)
        self.pool_max_days = np.append(self.pool_max_days, np.inf)
        self.pool_initial = np.append(self.pool_initial, 0)
        self.pool_cost_day = np.append(self.pool_cost_day, cost_day)
        self.pool_cost_episode = np.append(self.pool_cost_episode, cost_episode)
        self.pool_payer = np.append(self.pool_payer, PAYERS.index(payer))
        return len(self.pool_names) - 1


def yearly(value, warm_up_years: int, contract_years: int) -> np.ndarray:
    """Expand a capacity (one number or one per contract year) to every simulated year."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return np.full(warm_up_years + contract_years, value, dtype=np.int64)
    values = [value[0]] * warm_up_years + list(value)
    return np.asarray(values, dtype=np.int64)


def cohorts_of(population: Population, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cohort of each person and the cohort keys, with a care-home twin for every cohort.

    The keys are sorted, so a cohort's number does not depend on how it was found. The
    people's keys without the group are sorted once per population (every arm of a
    replication shares it); an arm's groups then only split those cohorts.
    """
    place_id, place_keys = _place_cohorts(population)
    group = np.asarray(groups, dtype=np.int64)
    width = int(group.max()) + 1 if group.size else 1
    span = place_keys.shape[0] * width
    if width == 1:  # no groups: the place's cohorts, every one of them present
        present = np.arange(span)
        found = place_id
    elif span <= 4 * group.shape[0] + 1024:  # dense enough for a table
        combined = place_id * width + group
        present = np.flatnonzero(np.bincount(combined, minlength=span))
        lookup = np.empty(span, dtype=np.int64)
        lookup[present] = np.arange(present.shape[0])
        found = lookup[combined]
    else:
        present, found = np.unique(place_id * width + group, return_inverse=True)
    key = place_keys[present // width] | ((present % width) << np.int64(_SHIFT["group"]))
    at_home_twins = key & ~np.int64(1 << _SHIFT["residence"])
    care_home_twins = key | np.int64(1 << _SHIFT["residence"])
    keys = np.unique(np.concatenate([at_home_twins, care_home_twins]))  # each key is a twin
    return np.searchsorted(keys, key).astype(np.int32)[found], keys


_PLACE_COHORTS: list = []  # [(population, (ids, keys))]: the latest population's


def _place_cohorts(population: Population) -> tuple[np.ndarray, np.ndarray]:
    """Each person's index into the sorted distinct keys of everything but the group."""
    for known, answer in _PLACE_COHORTS:
        if known is population:
            return answer
    # Each person's fields as one number in mixed radix, most significant first in the key's
    # order, so that the numbers sort as the keys do; where there are few enough possible
    # numbers, the distinct ones are found by counting instead of sorting everyone.
    fields = (("deprivation", population.deprivation), ("residence", population.residence),
              ("conditions", population.conditions), ("risk", population.risk),
              ("age", population.age_band))
    radix = [int(values.max()) + 1 if values.size else 1 for _, values in fields]
    span = math.prod(radix)
    if span <= 4 * population.size + 1024:
        code = np.zeros(population.size, dtype=np.int64)
        for (_, values), base in zip(fields, radix, strict=True):
            code *= base
            code += values
        present = np.flatnonzero(np.bincount(code, minlength=span))
        lookup = np.empty(span, dtype=np.int64)
        lookup[present] = np.arange(present.shape[0])
        ids = lookup[code]
        rest = present.copy()
        unpacked = {}
        for (name, _), base in reversed(list(zip(fields, radix, strict=True))):
            unpacked[name] = rest % base
            rest //= base
        keys = _pack(unpacked["age"], unpacked["risk"], unpacked["conditions"], unpacked["residence"],
                     unpacked["deprivation"], np.zeros(1, dtype=np.int64))
    else:
        key = _pack(population.age_band, population.risk, population.conditions, population.residence,
                    population.deprivation, np.zeros(1, dtype=np.int64))
        keys, ids = np.unique(key, return_inverse=True)
    answer = (ids.astype(np.int64), keys)
    _PLACE_COHORTS[:] = [(population, answer)]
    return answer


_SHIFT = {"age": 0, "risk": 4, "conditions": 8, "residence": 16, "deprivation": 17, "group": 32}
_WIDTH = {"age": 4, "risk": 4, "conditions": 8, "residence": 1, "deprivation": 3, "group": 16}


def _pack(age, risk, conditions, residence, deprivation, group) -> np.ndarray:
    """A cohort's key: everything a person's rates depend on, and their care-model group.

    A person's practice cluster and area forum are not in it: they change no rate (a care
    model that acts on some clusters or forums marks their people in its groups), and the
    engines count admissions by cluster and forum from each person's own. Fewer cohorts keep
    the engine's table of cohort parameters small enough to stay in the processor's cache.
    """
    key = np.zeros(age.shape[0], dtype=np.int64)
    for name, values in (("age", age), ("risk", risk), ("conditions", conditions),
                         ("residence", residence), ("deprivation", deprivation), ("group", group)):
        key |= values.astype(np.int64) << np.int64(_SHIFT[name])
    return key


def _unpack(keys: np.ndarray, name: str) -> np.ndarray:
    return (keys >> np.int64(_SHIFT[name])) & np.int64((1 << _WIDTH[name]) - 1)


def _crisis_shape(scenario: Scenario, keys: np.ndarray) -> np.ndarray:
    """[cohort, crisis type] crisis rates before each age band's scaling.

    The age band's base, times risk, deprivation and residence, times (1 + sum of condition
    excesses): the "1" splits over the non-condition crisis kinds; each condition's excess is
    its exacerbations.
    """
    flow, pop_cfg = scenario.flow, scenario.population
    age, risk, conditions = _unpack(keys, "age"), _unpack(keys, "risk"), _unpack(keys, "conditions")
    residence, deprivation = _unpack(keys, "residence"), _unpack(keys, "deprivation")
    n_cond = len(pop_cfg.conditions)
    cond_mult = np.array([c.crisis_multiplier for c in pop_cfg.conditions.values()])
    relative = (np.array(flow.risk_multiplier)[risk] * np.array(flow.deprivation_multiplier)[deprivation]
                * np.where(residence == CARE_HOME, flow.care_home_multiplier, 1.0))
    shape = np.zeros((keys.shape[0], len(crisis_type_names(scenario))))
    kind_shares = np.array([flow.crisis_type_shares[k] for k in CRISIS_KINDS]).T  # [A, 4]
    for c in range(n_cond):
        has = (conditions >> c) & 1
        shape[:, c] = has * (cond_mult[c] - 1.0)
    shape[:, n_cond:] = kind_shares[age]
    shape *= relative[:, None]
    return shape


def _mortality_shape(scenario: Scenario, keys: np.ndarray) -> np.ndarray:
    """[cohort] yearly mortality of people at home before each age band's scaling."""
    flow = scenario.flow
    age, risk = _unpack(keys, "age"), _unpack(keys, "risk")
    return np.array(flow.mortality_per_year)[age] * np.array(flow.mortality_risk_multiplier)[risk]


_BAND_SCALES: list = []  # [(population, what the scales depend on, scales)]: the latest's


def _band_scales(scenario: Scenario, population: Population) -> tuple[np.ndarray, np.ndarray]:
    """Each age band's factor that makes its mean crisis rate, over everyone, and its mean
    mortality, over people at home, the configured ones.

    Worked out on the cohorts without an arm's groups: a person's rates do not depend on
    their group, so every arm of a replication shares these (and they are kept for them).
    """
    flow, pop_cfg = scenario.flow, scenario.population
    depends = repr((flow.risk_multiplier, flow.deprivation_multiplier, flow.care_home_multiplier,
                    [c.crisis_multiplier for c in pop_cfg.conditions.values()],
                    [flow.crisis_type_shares[k] for k in CRISIS_KINDS], flow.crisis_rate_per_year,
                    flow.mortality_per_year, flow.mortality_risk_multiplier, len(pop_cfg.age_bands),
                    crisis_type_names(scenario)))
    for known, known_depends, answer in _BAND_SCALES:
        if known is population and known_depends == depends:
            return answer
    n_bands = len(pop_cfg.age_bands)
    place_id, place_keys = _place_cohorts(population)
    per_person = _crisis_shape(scenario, place_keys).sum(axis=1)[place_id]
    band_mean = np.bincount(population.age_band, weights=per_person, minlength=n_bands)
    band_count = np.bincount(population.age_band, minlength=n_bands)
    band_mean = np.where(band_count > 0, band_mean / np.maximum(band_count, 1), 1.0)
    crisis_scale = np.array(flow.crisis_rate_per_year) / np.where(band_mean > 0, band_mean, 1.0) / DAYS_PER_YEAR

    # People at home: the band's rate shaped by risk, normalised so that the band's average
    # over people at home is the configured rate. Care-home residents: one flat rate.
    at_home = population.residence == HOME
    per_person = _mortality_shape(scenario, place_keys)[place_id]
    band_mean = np.bincount(population.age_band[at_home], weights=per_person[at_home], minlength=n_bands)
    band_mean = band_mean / np.maximum(np.bincount(population.age_band[at_home], minlength=n_bands), 1).astype(float)
    mortality_scale = np.array(flow.mortality_per_year) / np.where(band_mean > 0, band_mean, 1.0)
    answer = (crisis_scale, mortality_scale)
    _BAND_SCALES[:] = [(population, depends, answer)]
    return answer


def place_values(scenario: Scenario, draws: dict[str, float]) -> dict[str, float]:
    """The place's uncertain parameters for one replication: its PSA draw or central value."""
    eol, readmit = scenario.flow.end_of_life, scenario.flow.readmission
    names = {
        "flow.end_of_life.found_crisis_multiplier": eol.found_crisis_multiplier,
        "flow.end_of_life.found_terminal_admission_death": eol.found_terminal_admission_death,
        "flow.readmission.crisis_multiplier": readmit.crisis_multiplier,
    }
    return {name: draws.get(name, central(value)) for name, value in names.items()}


def lower_place(scenario: Scenario, population: Population, groups: np.ndarray | None = None,
                draws: dict[str, float] | None = None) -> FlowParams:
    """Lower the place (today's services) into FlowParams; both layers start equal."""
    draws = draws or {}
    values = place_values(scenario, draws)
    pop_cfg, flow, services = scenario.population, scenario.flow, scenario.services
    run = scenario.run
    n_years = scenario.n_years
    if groups is None:
        groups = np.zeros(population.size, dtype=np.int64)
    person_cohort, keys = cohorts_of(population, groups)
    age = _unpack(keys, "age")
    risk = _unpack(keys, "risk")
    conditions = _unpack(keys, "conditions")
    residence = _unpack(keys, "residence")
    deprivation = _unpack(keys, "deprivation")
    n_cohorts = keys.shape[0]
    twin = keys | np.int64(1 << _SHIFT["residence"])
    to_care_home = np.searchsorted(keys, twin).astype(np.int64)

    types = crisis_type_names(scenario)
    n_types = len(types)
    crisis_scale, mortality_scale = _band_scales(scenario, population)
    rate = _crisis_shape(scenario, keys) * crisis_scale[age][:, None]
    mortality = _mortality_shape(scenario, keys) * mortality_scale[age]
    mortality = np.where(residence == CARE_HOME, flow.care_home_mortality_per_year, mortality)
    mortality = -np.log1p(-np.minimum(mortality, 0.999)) / DAYS_PER_YEAR

    pool_index = {name: index for name, (index, _) in SERVICE_POOLS.items()}
    divert_pool = np.full((n_cohorts, n_types), -1, dtype=np.int64)
    divert_prob = np.zeros((n_cohorts, n_types))
    for kind, div in flow.diversion.items():
        k = types.index(kind)
        if div.service is not None:
            divert_pool[:, k] = pool_index[div.service]
            divert_prob[:, k] = np.array(div.probability)[risk]

    admit = np.array(flow.ed_admission_probability)[age][:, None] * np.array(
        [flow.ed_admission_type_multiplier.get(t, 1.0) for t in types])[None, :]
    admit = np.minimum(admit, 1.0)
    los = np.array(flow.length_of_stay.mean_days)[age][:, None] * np.array(
        [flow.length_of_stay.crisis_type_multiplier.get(t, 1.0) for t in types])[None, :]

    pathway = np.array(flow.pathways.shares)[age]
    back = flow.pathways.care_home_resident_return_home
    resident = residence == CARE_HOME
    pathway[resident] = pathway[resident] * (1.0 - back)
    pathway[resident, 0] += back
    assess = np.tile(np.array(flow.pathways.assessment_days), (n_cohorts, 1))
    reablement = {str(k): float(v) for k, v in services.reablement.outcomes.items()}
    outcomes = np.array([reablement.get(o, 0.0) for o in REABLEMENT_OUTCOMES])

    growth = np.array([[g ** y for y in range(n_years)] for g in flow.demand_growth_per_year])
    months = int(round(n_years * 12))
    ramp = np.ones(months)  # the status quo is in force from the start

    pools = list(SERVICE_POOLS)
    capacity = np.vstack([yearly(getattr(services, s).capacity, run.warm_up_years, run.contract_years)
                          for s in pools])
    mean_days = np.array([getattr(services, s).mean_days or 0.0 for s in pools])
    max_days = np.array([getattr(services, s).max_days or np.inf for s in pools])
    initial = np.array([int(round(getattr(services, s).initial_occupied * capacity[i, 0]))
                        for i, s in enumerate(pools)], dtype=np.int64)
    if services.care_homes.mean_days is None:
        # Places filled at the start empty with this mean (assumption: about two years).
        mean_days[POOL_CARE_HOME] = 2.0 * DAYS_PER_YEAR

    def two(x):
        layers = np.empty((2,) + x.shape, dtype=x.dtype)
        layers[0] = x
        layers[1] = x
        return layers

    return FlowParams(
        person_cohort=person_cohort,
        cohort_age=age, cohort_risk=risk, cohort_conditions=conditions, cohort_residence=residence,
        person_cluster=population.cluster, person_forum=population.forum,
        cohort_deprivation=deprivation, cohort_group=_unpack(keys, "group"),
        to_care_home=to_care_home,
        crisis_rate=two(rate),
        mortality=mortality,
        eol_window=flow.end_of_life.window_days,
        eol_multiplier=flow.end_of_life.crisis_multiplier,
        eol_found=two(np.full(n_cohorts, flow.end_of_life.found_share)),
        # Found people's end-of-life multiplier is relative to the end-of-life multiplier.
        eol_found_multiplier=two(np.full(n_cohorts, flow.end_of_life.crisis_multiplier
                                         * values["flow.end_of_life.found_crisis_multiplier"])),
        terminal_death=two(np.full(n_cohorts, flow.end_of_life.terminal_admission_death)),
        terminal_death_found=two(np.full(n_cohorts, values["flow.end_of_life.found_terminal_admission_death"])),
        readmit_window=flow.readmission.window_days,
        readmit_multiplier=two(np.full(n_cohorts, values["flow.readmission.crisis_multiplier"])),
        divert_pool=divert_pool,
        divert_prob=two(divert_prob),
        admit_prob=two(admit),
        los_mean=two(los),
        los_mixed=flow.length_of_stay.distribution == "mixed_exponential",
        los_sigma=flow.length_of_stay.lognormal_sigma,
        los_short_share=flow.length_of_stay.short_stay_share,
        los_short_ratio=flow.length_of_stay.short_to_mean_ratio,
        hospital_death=two(np.array(flow.in_hospital_death_probability)[age]),
        pathway=two(pathway),
        assess_mean=two(assess),
        reablement_outcome=two(np.tile(outcomes, (n_cohorts, 1))),
        step_down_care_home=two(np.full(n_cohorts, services.step_down_beds.care_home_share)),
        growth=growth,
        ramp=ramp,
        capacity=capacity,
        pool_kind=np.array([kind for _, kind in SERVICE_POOLS.values()], dtype=np.int64),
        pool_mean_days=mean_days,
        pool_max_days=max_days,
        pool_initial=initial,
        pool_cost_day=np.array([getattr(services, s).cost_per_day_gbp for s in pools]),
        pool_cost_episode=np.array([getattr(services, s).cost_per_episode_gbp for s in pools]),
        pool_payer=np.array([PAYERS.index(getattr(services, s).payer) for s in pools], dtype=np.int64),
        pool_names=pools,
        escalate=services.acute_beds.when_full == "escalate",
        trim_days=scenario.costs.trim_point_days,
        warm_up_years=run.warm_up_years,
        n_years=n_years,
        crisis_types=types,
        age_band_names=list(population.age_band_names),
        age_65plus=np.array([b.min_age >= 65 for b in pop_cfg.age_bands]),
        cluster_names=list(population.cluster_names),
        forum_names=list(population.forum_names),
    )


def type_running_sums(flow: FlowParams) -> np.ndarray:
    """[2, C, K] running sums of the crisis rates over the crisis types, in type order.

    A crisis's type is the number of running sums in force now (today's moved towards the
    arm's by the ramp), bar the last, that the type uniform times the last sum reaches: each
    type is drawn in proportion to its rate, and a type of rate zero never. Both engines draw
    from these same numbers.
    """
    return np.cumsum(flow.crisis_rate, axis=2)


def ramp_table(n_years: int, warm_up_years: int, months: float, shape: str) -> np.ndarray:
    """Share of a care model's full effect in force in each month of the run.

    Nothing during warm-up; from the contract's start, a linear rise over *months* or a step
    to full effect after *months*.
    """
    table = np.zeros(int(round(n_years * 12)))
    start = warm_up_years * 12
    for m in range(start, table.shape[0]):
        elapsed = m - start + 1  # months into the contract at the month's end
        if months <= 0:
            table[m] = 1.0
        elif shape == "step":
            table[m] = 1.0 if elapsed > months else 0.0
        else:
            table[m] = min(1.0, (elapsed - 0.5) / months)
    return table


__all__ = ["FlowParams", "lower_place", "ramp_table", "type_running_sums", "DIVERSION_SERVICES", "HOME", "CARE_HOME"]
