"""Load and validate a caresim YAML config into frozen, typed objects.

YAML is read with ``yaml.safe_load`` only. Validation happens once, here, at the edge: unknown
keys are refused, every value is range-checked, and one load reports *every* problem with its
key path and YAML line number (`ConfigError`). Everything downstream works on the frozen
`Scenario` and never sees a raw dict.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

PAYERS = ("nhs", "council", "pooled")
CRISIS_KINDS = ("fall_frailty", "mental_health", "care_breakdown", "acute_illness")
RISK_TIERS = ("low", "moderate", "high", "very_high")
DIVERSION_SERVICES = (
    "urgent_community_response",
    "virtual_ward",
    "step_up_beds",
    "mental_health_crisis_beds",
)
SHARE_TOLERANCE = 1e-6
MAX_UPLOAD_BYTES = 1_000_000
MAX_CAPACITY = 100_000_000
MAX_AGE = 150
MAX_MULTIPLIER = 50.0  # the bound sim/arms.py truncates the place's uncertain multipliers to


class ConfigError(ValueError):
    """A config that cannot be used; `problems` lists (key path, line, message) for each."""

    def __init__(self, problems: list[tuple[str, int | None, str]], source: str = "config"):
        self.problems = problems
        self.source = source
        super().__init__(self.format())

    def format(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        for path, line, message in self.problems:
            where = f"line {line}: " if line else ""
            lines.append(f"  - {where}{path or '(top level)'}: {message}")
        return "\n".join(lines)


class Frozen(BaseModel):
    """Base of every config object: immutable, unknown keys refused, numbers finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


def _not_yes_no(value: Any) -> Any:
    # YAML 1.1 reads yes/no/on/off/true/false as booleans, which pydantic would take as 1 and 0.
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} (or yes/no, on/off) is not a number")
    return value


# The check wraps the constrained number (it comes last) so that the JSON Schema keeps minimum
# and maximum.
NotYesNo = BeforeValidator(_not_yes_no)
Float = Annotated[float, NotYesNo]
Int = Annotated[int, NotYesNo]
Probability = Annotated[float, Field(ge=0.0, le=1.0), NotYesNo]
NonNegative = Annotated[float, Field(ge=0.0), NotYesNo]
Positive = Annotated[float, Field(gt=0.0), NotYesNo]


# --- uncertain parameters -------------------------------------------------------------------


class Fixed(Frozen):
    """A parameter known exactly."""

    dist: Literal["fixed"]
    value: Float


class Uniform(Frozen):
    dist: Literal["uniform"]
    low: Float
    high: Float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low <= self.high:
            raise ValueError("low must be <= high")
        return self


class Triangular(Frozen):
    dist: Literal["triangular"]
    low: Float
    mode: Float
    high: Float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low <= self.mode <= self.high:
            raise ValueError("need low <= mode <= high")
        return self


class Beta(Frozen):
    """Beta(alpha, beta), optionally scaled to [low, high]."""

    dist: Literal["beta"]
    alpha: Positive
    beta: Positive
    low: Float = 0.0
    high: Float = 1.0

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError("low must be < high")
        return self


class LogNormal(Frozen):
    """Lognormal given by its median and the log-scale standard deviation."""

    dist: Literal["lognormal"]
    median: Positive
    sigma: NonNegative


class Normal(Frozen):
    """Normal, truncated to [low, high] where given (and to the parameter's own bounds)."""

    dist: Literal["normal"]
    mean: Float
    sd: NonNegative
    low: Float | None = None
    high: Float | None = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError("low must be < high")
        return self


Distribution = Annotated[
    Fixed | Uniform | Triangular | Beta | LogNormal | Normal, Field(discriminator="dist")
]
Uncertain = Float | Distribution


def support(value: Uncertain) -> tuple[float, float]:
    """Smallest and largest value an uncertain parameter can take."""
    if isinstance(value, (int, float)):
        return float(value), float(value)
    if isinstance(value, Fixed):
        return value.value, value.value
    if isinstance(value, (Uniform, Triangular, Beta)):
        return value.low, value.high
    if isinstance(value, LogNormal):
        return 0.0, math.inf
    low = -math.inf if value.low is None else value.low
    high = math.inf if value.high is None else value.high
    return low, high


def central(value: Uncertain) -> float:
    """A central value of an uncertain parameter (its mean where simple, else its median)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Fixed):
        return value.value
    if isinstance(value, Uniform):
        return 0.5 * (value.low + value.high)
    if isinstance(value, Triangular):
        return (value.low + value.mode + value.high) / 3.0
    if isinstance(value, Beta):
        return value.low + (value.high - value.low) * value.alpha / (value.alpha + value.beta)
    if isinstance(value, LogNormal):
        return value.median
    return value.mean


def check_bounds(value: Uncertain, low: float, high: float, what: str) -> None:
    """Raise ValueError when *value* can fall outside [low, high]."""
    lo, hi = support(value)
    if isinstance(value, Normal):
        # A normal is truncated to the parameter's own bounds where it gives none itself; its
        # centre and the bounds it does give must lie inside.
        lo = value.low if value.low is not None else value.mean
        hi = value.high if value.high is not None else value.mean
    if lo < low or hi > high:
        raise ValueError(f"{what} must lie in [{low}, {high}], got values in [{lo}, {hi}]")


# --- the place ------------------------------------------------------------------------------


class AgeBand(Frozen):
    name: str
    min_age: Annotated[int, Field(ge=0, le=MAX_AGE), NotYesNo]
    max_age: Annotated[int, Field(ge=0, le=MAX_AGE), NotYesNo] | None = Field(
        description="Oldest age in the band; empty for the open top band."
    )
    share: Probability = Field(description="Share of the population in this band.")


class Condition(Frozen):
    """A long-term condition: prevalence by age band and its effect on crises."""

    prevalence: list[Probability] = Field(description="Share with the condition, by age band.")
    crisis_multiplier: Annotated[float, Field(ge=1.0), NotYesNo] = Field(
        description="Crisis hazard of a person with the condition relative to one without; "
        "the excess is that condition's exacerbations."
    )
    risk_tier_odds: list[Positive] = Field(
        default=[1.0, 1.0, 1.0, 1.0],
        description="Relative odds of the condition by risk tier (low to very high).",
    )


class Cluster(Frozen):
    """A GP practice cluster, with the shares of its people in each area forum."""

    name: str
    share: Probability
    forums: dict[str, Probability]
    deprivation_shares: list[Probability] = Field(
        description="Share of the cluster's people in each deprivation quintile (1 = most deprived)."
    )


class Population(Frozen):
    size: Annotated[int, Field(ge=1, le=80_000_000), NotYesNo]
    age_bands: list[AgeBand] = Field(min_length=1, max_length=15)  # cohort keys hold 4 bits
    risk_shares: dict[str, list[Probability]] = Field(
        description="Share in each risk tier (low, moderate, high, very high), by age band name."
    )
    conditions: dict[str, Condition]
    clusters: list[Cluster] = Field(min_length=1, max_length=63)  # cohort keys hold 6 bits
    care_home_share: list[Probability] = Field(description="Share living in a care home, by age band.")

    @model_validator(mode="after")
    def _consistent(self):
        problems: list[tuple[str, str]] = []
        bands = sorted(self.age_bands, key=lambda b: b.min_age)
        if bands != list(self.age_bands):
            problems.append(("population.age_bands", "age bands must be listed youngest first"))
        forums = {name for cluster in self.clusters for name in cluster.forums}
        if len(forums) > 63:
            problems.append(("population.clusters", f"at most 63 area forums, got {len(forums)}"))
        names = [b.name for b in self.age_bands]
        for i, name in enumerate(names):
            if names.index(name) != i:
                problems.append((f"population.age_bands.{i}.name", f"age band name {name!r} is used twice"))
        expected = 0
        for i, band in enumerate(bands):
            if band.min_age != expected:
                problems.append(
                    (f"population.age_bands.{i}.min_age",
                     f"age bands must cover all ages without gaps or overlaps: expected {expected}, got {band.min_age}")
                )
            last = i == len(bands) - 1
            if band.max_age is None and not last:
                problems.append((f"population.age_bands.{i}.max_age", "only the last band may be open"))
            if last and band.max_age is not None:
                problems.append((f"population.age_bands.{i}.max_age", "the last band must be open (no max_age) to cover all ages"))
            if band.max_age is not None:
                if band.max_age < band.min_age:
                    problems.append((f"population.age_bands.{i}.max_age", "max_age must be >= min_age"))
                expected = band.max_age + 1
        _sum_to_one(problems, "population.age_bands", [b.share for b in self.age_bands])
        _sum_to_one(problems, "population.clusters", [c.share for c in self.clusters])

        for name in names:
            if name not in self.risk_shares:
                problems.append((f"population.risk_shares.{name}", "missing risk shares for this age band"))
        for name, shares in self.risk_shares.items():
            if name not in names:
                problems.append((f"population.risk_shares.{name}", "not an age band name"))
            elif len(shares) != len(RISK_TIERS):
                problems.append((f"population.risk_shares.{name}", f"need {len(RISK_TIERS)} shares (low, moderate, high, very high)"))
            else:
                _sum_to_one(problems, f"population.risk_shares.{name}", shares)
        for cname, cond in self.conditions.items():
            _length(problems, f"population.conditions.{cname}.risk_tier_odds", cond.risk_tier_odds, len(RISK_TIERS))
        if len(self.conditions) > 8:
            problems.append(("population.conditions", "at most 8 long-term conditions"))
        for i, cl in enumerate(self.clusters):
            _sum_to_one(problems, f"population.clusters.{i}.forums", list(cl.forums.values()))
            if _length(problems, f"population.clusters.{i}.deprivation_shares", cl.deprivation_shares, 5):
                _sum_to_one(problems, f"population.clusters.{i}.deprivation_shares", cl.deprivation_shares)
        return _raise_if(problems, self)


# --- the flow -------------------------------------------------------------------------------


class EndOfLife(Frozen):
    window_days: Positive = Field(description="Length of the end-of-life period before death, days.")
    crisis_multiplier: Annotated[float, Field(ge=1.0), NotYesNo]
    found_share: Probability = Field(description="Share of people in their end-of-life window known to services (found).")
    found_crisis_multiplier: Uncertain = Field(description="Crisis multiplier for those found, relative.")
    terminal_admission_death: Probability = Field(
        description="Chance an admission in the end-of-life period ends in death in hospital."
    )
    found_terminal_admission_death: Uncertain

    @field_validator("found_crisis_multiplier")
    @classmethod
    def _multiplier(cls, v):
        check_bounds(v, 0.0, MAX_MULTIPLIER, "a crisis multiplier")
        return v

    @field_validator("found_terminal_admission_death")
    @classmethod
    def _probability(cls, v):
        check_bounds(v, 0.0, 1.0, "a probability")
        return v


class Readmission(Frozen):
    window_days: Positive
    crisis_multiplier: Uncertain = Field(description="Crisis hazard after discharge, relative.")

    @field_validator("crisis_multiplier")
    @classmethod
    def _multiplier(cls, v):
        check_bounds(v, 0.0, MAX_MULTIPLIER, "a crisis multiplier")
        return v


class Diversion(Frozen):
    service: Literal[DIVERSION_SERVICES] | None = Field(  # type: ignore[valid-type]
        description="Community service that can take this crisis instead of hospital."
    )
    probability: list[Probability] = Field(description="Chance divertible, by risk tier.")


class LengthOfStay(Frozen):
    distribution: Literal["lognormal", "mixed_exponential"]
    mean_days: list[Positive] = Field(description="Mean clinical stay until medically fit, by age band.")
    crisis_type_multiplier: dict[str, Positive] = Field(default_factory=dict)
    lognormal_sigma: Positive = 1.0
    short_stay_share: Annotated[float, Field(ge=0.0, lt=1.0), NotYesNo] = Field(
        0.6, description="Harrison-Millard: share in the short-stay compartment."
    )
    short_to_mean_ratio: Annotated[float, Field(gt=0.0, lt=1.0), NotYesNo] = Field(
        0.25, description="Harrison-Millard: short-stay mean as a share of the overall mean."
    )


class Pathways(Frozen):
    shares: list[list[Probability]] = Field(
        description="Discharge pathway 0/1/2/3 shares, one row per age band."
    )
    care_home_resident_return_home: Probability = Field(
        1.0, description="Share of care-home residents discharged straight back (pathway 0)."
    )
    assessment_days: list[NonNegative] = Field(
        description="Mean assessment delay for pathways 0-3, days (exponential)."
    )

    @field_validator("assessment_days")
    @classmethod
    def _four(cls, v):
        if len(v) != 4:
            raise ValueError("need four values, for pathways 0, 1, 2 and 3")
        return v

    @model_validator(mode="after")
    def _rows(self):
        problems: list[tuple[str, str]] = []
        for a, row in enumerate(self.shares):
            if _length(problems, f"flow.pathways.shares.{a}", row, 4):
                _sum_to_one(problems, f"flow.pathways.shares.{a}", row)
        return _raise_if(problems, self)


class Flow(Frozen):
    crisis_rate_per_year: list[NonNegative] = Field(
        description="Average crises per person-year, by age band (before demand growth)."
    )
    risk_multiplier: list[Positive]
    deprivation_multiplier: list[Positive]
    care_home_multiplier: Positive
    crisis_type_shares: dict[str, list[Probability]] = Field(
        description="Split of crises not due to a condition, by type; one list per type, by age band."
    )
    demand_growth_per_year: list[Positive] = Field(description="Yearly multiplier by age band.")
    mortality_per_year: list[Probability]
    mortality_risk_multiplier: list[Positive]
    care_home_mortality_per_year: Probability = Field(description="Yearly mortality of care-home residents, whatever their age.")
    end_of_life: EndOfLife
    readmission: Readmission
    diversion: dict[str, Diversion]
    ed_admission_probability: list[Probability] = Field(description="By age band.")
    ed_admission_type_multiplier: dict[str, NonNegative] = Field(default_factory=dict)
    length_of_stay: LengthOfStay
    in_hospital_death_probability: list[Probability] = Field(description="By age band.")
    pathways: Pathways

    @model_validator(mode="after")
    def _consistent(self):
        """Checks that need the flow section only (those by age band need the population)."""
        problems: list[tuple[str, str]] = []
        _length(problems, "flow.risk_multiplier", self.risk_multiplier, len(RISK_TIERS))
        _length(problems, "flow.mortality_risk_multiplier", self.mortality_risk_multiplier, len(RISK_TIERS))
        _length(problems, "flow.deprivation_multiplier", self.deprivation_multiplier, 5)
        for kind in CRISIS_KINDS:
            if kind not in self.crisis_type_shares:
                problems.append((f"flow.crisis_type_shares.{kind}", "missing: every crisis type needs its shares by age band"))
        for kind in self.crisis_type_shares:
            if kind not in CRISIS_KINDS:
                problems.append((f"flow.crisis_type_shares.{kind}", f"unknown crisis type; use one of {', '.join(CRISIS_KINDS)}"))
        for kind, div in self.diversion.items():
            _length(problems, f"flow.diversion.{kind}.probability", div.probability, len(RISK_TIERS))
        return _raise_if(problems, self)


# --- services and costs ---------------------------------------------------------------------


Places = Annotated[int, Field(ge=0, le=MAX_CAPACITY), NotYesNo]
Capacity = Places | Annotated[list[Places], Field(min_length=1)]


class Service(Frozen):
    """A capacity-limited service. Capacity is one number or one per contract year."""

    capacity: Capacity
    mean_days: Positive | None = None
    max_days: Positive | None = None
    initial_occupied: Probability = Field(0.0, description="Share of places filled at the start.")
    cost_per_day_gbp: NonNegative = 0.0
    cost_per_episode_gbp: NonNegative = 0.0
    payer: Literal[PAYERS] = "nhs"  # type: ignore[valid-type]


class AcuteBeds(Service):
    when_full: Literal["escalate", "wait"] = "escalate"


class Reablement(Service):
    outcomes: dict[Literal["independent", "home_care", "care_home"], Probability]


class StepDown(Service):
    care_home_share: Probability


class Services(Frozen):
    acute_beds: AcuteBeds
    escalation_beds: Service
    urgent_community_response: Service
    virtual_ward: Service
    step_up_beds: Service
    mental_health_crisis_beds: Service
    step_down_beds: StepDown
    reablement: Reablement
    home_care: Service
    care_homes: Service

    @model_validator(mode="after")
    def _consistent(self):
        problems: list[tuple[str, str]] = []
        for sname in ("urgent_community_response", "virtual_ward", "step_up_beds",
                      "mental_health_crisis_beds", "step_down_beds", "reablement", "home_care"):
            if getattr(self, sname).mean_days is None:
                problems.append((f"services.{sname}.mean_days", "required for this service"))
        _sum_to_one(problems, "services.reablement.outcomes", list(self.reablement.outcomes.values()))
        return _raise_if(problems, self)


class Cost(Frozen):
    gbp: NonNegative
    payer: Literal[PAYERS]  # type: ignore[valid-type]


class Costs(Frozen):
    admission: Cost
    excess_bed_day: Cost
    trim_point_days: NonNegative
    emergency_attendance: Cost
    delayed_day: Cost


class Arm(Frozen):
    name: str
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    description: str = ""


class RunSettings(Frozen):
    warm_up_years: Annotated[int, Field(ge=0, le=10), NotYesNo] = 1
    contract_years: Annotated[int, Field(ge=1, le=30), NotYesNo] = 7
    start_year: Annotated[int, Field(ge=1900, le=2200), NotYesNo] = 2017
    replications: Annotated[int, Field(ge=1, le=100_000), NotYesNo] = 20
    seed: Annotated[int, Field(ge=0, lt=2**63), NotYesNo] = 20170401
    discount_rate: Annotated[float, Field(ge=0.0, le=0.2), NotYesNo] = 0.035
    bcf_admissions_target: Probability = 0.035


class Scenario(Frozen):
    """A whole config: the place, its flow, services, costs, arms and run settings."""

    name: str
    description: str = ""
    run: RunSettings = RunSettings()
    population: Population
    flow: Flow
    services: Services
    costs: Costs
    arms: list[Arm] = Field(default_factory=lambda: [Arm(name="Status quo", kind="status_quo")], min_length=1)
    sources: dict[str, str] = Field(
        default_factory=dict, description="Where each number comes from: key path -> source."
    )

    # --- cross-field checks: each raises with a path so the message names the key. Checks
    # within one section live on that section's class, so that they run (and report) even
    # when another section has problems of its own.

    @field_validator("arms")
    @classmethod
    def _distinct_names(cls, arms):
        names = [arm.name for arm in arms]
        problems = [(f"arms.{i}.name", f"arm name {name!r} is used twice")
                    for i, name in enumerate(names) if names.index(name) != i]
        return _raise_if(problems, arms)

    @model_validator(mode="after")
    def _consistent(self):
        problems: list[tuple[str, str]] = []
        pop, flow = self.population, self.flow
        n_age = len(pop.age_bands)

        for cname, cond in pop.conditions.items():
            _length(problems, f"population.conditions.{cname}.prevalence", cond.prevalence, n_age)
        _length(problems, "population.care_home_share", pop.care_home_share, n_age)
        for key in ("crisis_rate_per_year", "demand_growth_per_year", "mortality_per_year",
                    "ed_admission_probability", "in_hospital_death_probability"):
            _length(problems, f"flow.{key}", getattr(flow, key), n_age)
        _length(problems, "flow.length_of_stay.mean_days", flow.length_of_stay.mean_days, n_age)
        for kind, shares in flow.crisis_type_shares.items():
            if kind in CRISIS_KINDS:
                _length(problems, f"flow.crisis_type_shares.{kind}", shares, n_age)
        if all(len(v) == n_age for v in flow.crisis_type_shares.values()):
            for a in range(n_age):
                _sum_to_one(problems, f"flow.crisis_type_shares (age band {pop.age_bands[a].name})",
                            [v[a] for v in flow.crisis_type_shares.values()])
        crisis_types = set(crisis_type_names(self))
        for key, table in (("flow.diversion", flow.diversion),
                           ("flow.ed_admission_type_multiplier", flow.ed_admission_type_multiplier),
                           ("flow.length_of_stay.crisis_type_multiplier", flow.length_of_stay.crisis_type_multiplier)):
            for kind in table:
                if kind not in crisis_types:
                    problems.append((f"{key}.{kind}", f"unknown crisis type; use one of {', '.join(sorted(crisis_types))}"))
        _length(problems, "flow.pathways.shares", flow.pathways.shares, n_age)

        years = self.run.contract_years
        for sname in Services.model_fields:
            service = getattr(self.services, sname)
            if isinstance(service.capacity, list) and len(service.capacity) != years:
                problems.append((f"services.{sname}.capacity",
                                 f"a list of capacities needs one per contract year ({years}), got {len(service.capacity)}"))
        return _raise_if(problems, self)

    def digest(self) -> str:
        """SHA-256 of the config's canonical JSON: the config hash in every manifest."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def n_years(self) -> int:
        return self.run.warm_up_years + self.run.contract_years


class _CrossFieldErrors(ValueError):
    def __init__(self, problems):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


def _raise_if(problems: list[tuple[str, str]], value):
    """Raise the collected cross-field problems, or pass *value* through."""
    if problems:
        raise _CrossFieldErrors(problems)
    return value


def _sum_to_one(problems, path, values) -> None:
    total = float(sum(values))
    if not values:
        problems.append((path, "no shares given; they must sum to 1"))
    elif abs(total - 1.0) > SHARE_TOLERANCE:
        problems.append((path, f"shares must sum to 1, they sum to {total:.6g}"))


def _length(problems, path, values, n) -> bool:
    if len(values) != n:
        problems.append((path, f"need {n} values, got {len(values)}"))
        return False
    return True


def crisis_type_names(scenario: Scenario) -> list[str]:
    """Crisis types in engine order: one exacerbation per condition, then the other kinds."""
    return [f"exacerbation_{c}" for c in scenario.population.conditions] + list(CRISIS_KINDS)


# --- loading --------------------------------------------------------------------------------


# libyaml's parser where PyYAML was built with it: ten times faster, same nodes and marks.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_C_READER = _BaseLoader is not yaml.SafeLoader  # libyaml counts reader positions in bytes


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader whose value errors (a date like 2017-02-30, ``!!int abc``) name their line."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:  # PyYAML's constructors raise ValueError, AttributeError, ...
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value ({exc})", node.start_mark
            ) from None


MAX_NESTING = 200
_FLOW_BRACKETS = re.compile(r"[\[\]{}]")
_BLOCK_INDENT = re.compile(r"^(?:[ ?]|-(?= |$))*", re.M)  # indentation and "- " indicators


def _nesting_bound(text: str) -> int:
    """An upper bound on how deeply the YAML in *text* nests lists and mappings.

    Flow style nests one level per open bracket; block style one level per column of
    indentation (or per ``- `` on one line) at most. libyaml's composer recurses in C and
    crashes the process on very deep nesting, so depth is bounded before it runs.
    """
    depth = flow = 0
    for match in _FLOW_BRACKETS.finditer(text):
        flow += 1 if match.group() in "[{" else -1
        depth = max(depth, flow)
    block = max((len(m.group()) for m in _BLOCK_INDENT.finditer(text)), default=0)
    return depth + block


def _read_yaml(text: str, source: str) -> tuple[Any, Any]:
    """The data and the node tree of one YAML document, or ConfigError naming the line."""
    if _nesting_bound(text) > MAX_NESTING:
        raise ConfigError([("", None, f"not a caresim config: lists or mappings nested more than "
                                      f"{MAX_NESTING} deep")], source)
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses unprintable characters here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        if _C_READER:
            line = text.encode("utf-8", errors="replace").count(b"\n", 0, exc.position) + 1
        else:
            line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError([("", line, f"not a text file: character #x{code:04x} cannot appear in YAML")],
                          source) from None
    except UnicodeError:
        raise ConfigError([("", None, "not a text file (not valid Unicode text); a caresim config is YAML")],
                          source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = None
        if mark is not None:  # an error at the end of the text is on its last line
            last_line = max(1, len(text.splitlines()))
            line = min(mark.line + 1, last_line)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([("", line, f"not valid YAML: {problem}")], source) from None
    except RecursionError:
        raise ConfigError([("", None, "not a caresim config: lists or mappings nested too deeply")],
                          source) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def _index_lines(root) -> tuple[dict[tuple, int], list[tuple[str, int | None, str]]]:
    """Map every key path of a YAML node tree to its 1-based line; report duplicate keys.

    Walks without recursion and enters each node once: a value shared through a YAML alias
    is indexed where its anchor is (errors under the alias name the alias's key line), and a
    recursive alias is reported instead of followed.
    """
    lines: dict[tuple, int] = {}
    problems: list[tuple[str, int | None, str]] = []
    entered: set[int] = set()
    open_nodes: set[int] = set()
    stack: list[tuple[Any, Any]] = [(root, ())]  # (node, key path), or (None, id) on leaving
    while stack:
        node, path = stack.pop()
        if node is None:  # leaving the node whose id is path
            open_nodes.discard(path)
            continue
        line = node.start_mark.line + 1
        if id(node) in open_nodes:
            problems.append((".".join(path), lines.get(path, line),
                             "a YAML alias here refers to a value that contains it (recursive)"))
            continue
        lines.setdefault(path, line)
        if id(node) in entered:
            continue
        entered.add(id(node))
        open_nodes.add(id(node))
        stack.append((None, id(node)))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                key_line = key_node.start_mark.line + 1
                if key == "<<":  # a YAML merge key: the merged keys belong to this mapping
                    stack.append((value_node, path))
                    continue
                if key in seen:
                    problems.append((".".join(path + (key,)), key_line,
                                     f"key given twice in the same mapping (lines {seen[key]} and {key_line}); "
                                     "YAML would silently keep only the last"))
                seen[key] = key_line
                lines[path + (key,)] = key_line
                stack.append((value_node, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, path + (str(i),)))
    return lines, problems


def _line_for(lines: dict[tuple, int], path: tuple) -> int | None:
    """Line of *path*, or of its nearest ancestor that the YAML has (a missing key's parent)."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _line_for_dotted(lines: dict[tuple, int], dotted: str) -> int | None:
    """Line of a dotted key path as written in messages (key names may contain dots)."""
    joined = {".".join(key): line for key, line in lines.items()}
    path = dotted.split(" (")[0]
    while path:
        if path in joined:
            return joined[path]
        path = path.rpartition(".")[0]
    return lines.get(())


_ABSENT = object()


def _key_in(mapping: dict, part: Any) -> Any:
    if isinstance(part, (str, int)) and part in mapping:
        return part
    for key in mapping:
        if str(key) == str(part):
            return key
    return _ABSENT


def _clean_loc(loc: tuple, data: Any, keep_last: bool) -> tuple[tuple, tuple | None]:
    """The key path of a pydantic error location, and the union branch it came from.

    Pydantic puts union-branch labels (``float``, ``tagged-union[...]``, ``list[...]``) and
    distribution tags in the location. They are told apart from keys by walking the data:
    a part that is not a key (or index) of the value reached so far is a label. Returns the
    path and, where a label was met, (path up to the union, first label, value there).
    """
    out: list[str] = []
    node = data
    branch = None
    for i, part in enumerate(loc):
        if isinstance(node, dict):
            key = _key_in(node, part)
            if key is not _ABSENT:
                out.append(str(part))
                node = node[key]
                continue
        elif (isinstance(node, list) and isinstance(part, int) and not isinstance(part, bool)
              and 0 <= part < len(node)):
            out.append(str(part))
            node = node[part]
            continue
        if i == len(loc) - 1 and keep_last:
            out.append(str(part))
            continue
        if branch is None and part != "[key]":
            branch = (tuple(out), str(part), node)
    return tuple(out), branch


def _kind_of_value(value: Any) -> str:
    return "mapping" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


def _kind_of_branch(label: str) -> str:
    if label.startswith("tagged-union") or label[:1].isupper():
        return "mapping"
    return "list" if label.startswith(("list[", "constrained-list", "tuple[")) else "scalar"


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _models_in(tp: Any) -> list[type[BaseModel]]:
    tp = _strip_annotated(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _models_in(arg)]
    return []


def _keys_at(path: tuple) -> set[str]:
    """Key names allowed in the mapping at *path* of a config (empty where not a config class)."""
    tp: Any = Scenario
    for part in path:
        models = _models_in(tp)
        if models:
            fields = [m.model_fields[part].annotation for m in models if part in m.model_fields]
            if not fields:
                return set()
            tp = fields[0]
            continue
        tp = _strip_annotated(tp)
        origin = typing.get_origin(tp)
        if origin is list:
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return set()
    return {name for m in _models_in(tp) for name in m.model_fields}


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:
        text = "(a value nested too deeply to show)"
    return text if len(text) <= 60 else text[:57] + "..."


_DISTRIBUTION_HINT = ("or a distribution, a mapping such as {dist: uniform, low: 0.5, high: 0.9} "
                      "(dist: fixed, uniform, triangular, beta, lognormal or normal)")


def _messages(error: ValidationError, data: Any, lines: dict[tuple, int]) -> list[tuple[str, int | None, str]]:
    """One (key path, line, message) per problem in a pydantic error, in words for a config."""
    cross: list[tuple[str, int | None, str]] = []
    entries: list[dict] = []
    for err in error.errors():
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _CrossFieldErrors):
            cross.extend((path, _line_for_dotted(lines, path), message) for path, message in ctx_error.problems)
            continue
        path, branch = _clean_loc(err["loc"], data, keep_last=err["type"] == "missing")
        entries.append({"path": path, "branch": branch, "err": err})

    # A value for a union (a number or a distribution; a capacity or a list of them) fails
    # every branch; keep the branch that matches what was written.
    groups: dict[tuple, list[dict]] = {}
    for entry in entries:
        if entry["branch"] is not None:
            groups.setdefault(entry["branch"][0], []).append(entry)
    dropped: set[int] = set()
    hinted: set[int] = set()
    for group in groups.values():
        labels = {e["branch"][1] for e in group}
        if len(labels) < 2:
            continue
        written = _kind_of_value(group[0]["branch"][2])
        keep = [e for e in group if _kind_of_branch(e["branch"][1]) == written]
        if not keep:
            keep = [e for e in group if _kind_of_branch(e["branch"][1]) == "scalar"] or group[:1]
        if written != "mapping" and any(label.startswith("tagged-union") for label in labels):
            hinted.update(id(e) for e in keep)
        dropped.update(id(e) for e in group if all(e is not k for k in keep))
    entries = [e for e in entries if id(e) not in dropped]

    missing = {e["path"]: e for e in entries if e["err"]["type"] == "missing"}
    problems: list[tuple[str, int | None, str]] = []
    for entry in entries:
        err, path = entry["err"], entry["path"]
        kind, message = err["type"], err["msg"]
        if kind == "missing":
            message = "required key is missing"
        elif kind == "extra_forbidden":
            parent, key = path[:-1], path[-1] if path else ""
            siblings = [p[-1] for p in missing if p[:-1] == parent]
            candidates = sorted(set(siblings) | _keys_at(parent))
            best = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
            if best and best[0] in siblings:
                missing.pop(parent + (best[0],)).update(merged=True)
                message = f"unknown key; did you mean {best[0]!r}? (a required key, missing)"
            elif best:
                message = f"unknown key; did you mean {best[0]!r}?"
            else:
                message = "unknown key (not part of the config; check its spelling)"
        elif kind == "union_tag_invalid":
            ctx = err.get("ctx") or {}
            message = f"unknown distribution {ctx.get('tag')!r}; use one of {ctx.get('expected_tags')}"
        elif kind == "union_tag_not_found":
            message = "a distribution needs a 'dist' key: fixed, uniform, triangular, beta, lognormal or normal"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = "should be a mapping of keys (key: value)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if id(entry) in hinted:
            message += " " + _DISTRIBUTION_HINT
        if (kind not in ("missing", "extra_forbidden") and "input" in err
                and not isinstance(err["input"], (dict, list))):
            message += f" (got {_short(err['input'])})"
        entry["message"] = message
    for entry in entries:
        if not entry.get("merged"):
            problems.append((".".join(entry["path"]), _line_for(lines, entry["path"]), entry["message"]))
    # Cross-field problems come from validators that only ran on valid parts; no duplicates.
    seen: set[tuple] = set()
    out = []
    for problem in problems + cross:
        if (problem[0], problem[2]) not in seen:
            seen.add((problem[0], problem[2]))
            out.append(problem)
    return out


class _ArmsOnly:
    """The arms of a config whose other parts have problems, for the care models to check."""

    def __init__(self, arms: list[Arm]):
        self.arms = arms


def _arm_problems(arms: Any, lines: dict[tuple, int], scenario: Scenario | None = None) -> list[tuple[str, int | None, str]]:
    from models.registry import validate_arms  # care models check their own parameters

    target = scenario if scenario is not None else _ArmsOnly(arms)
    return [(p, _line_for_dotted(lines, p), m) for p, m in validate_arms(target)]


def _decode(data: bytes | bytearray, source: str) -> str:
    if len(data) > MAX_UPLOAD_BYTES:
        raise ConfigError([("", None, f"file is larger than {MAX_UPLOAD_BYTES // 1000} kB; not a caresim config")], source)
    if b"\x00" in data:
        raise ConfigError([("", None, "not a text file (it holds binary data); a caresim config is YAML")], source)
    try:
        return bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError([("", line, "not a text file (not UTF-8 text); a caresim config is YAML")], source) from None


def parse(text: str | bytes, source: str = "config") -> Scenario:
    """Validate YAML *text* (or the bytes of an upload) into a Scenario, or raise ConfigError.

    The error lists every problem found, each with its key path and YAML line.
    """
    if isinstance(text, (bytes, bytearray)):
        text = _decode(text, source)
    if not isinstance(text, str):
        raise ConfigError([("", None, f"expected YAML text, got {type(text).__name__}")], source)
    if len(text) > MAX_UPLOAD_BYTES or len(text.encode("utf-8", errors="replace")) > MAX_UPLOAD_BYTES:
        raise ConfigError([("", None, f"file is larger than {MAX_UPLOAD_BYTES // 1000} kB; not a caresim config")], source)
    data, node = _read_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError([("", 1, "a caresim config is a YAML mapping of keys (name, population, flow, ...)")], source)
    lines, problems = _index_lines(node)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems += _messages(exc, data, lines)
        if not any(path == "arms" or path.startswith("arms.") for path, _, _ in problems):
            try:
                arms = TypeAdapter(list[Arm]).validate_python(data.get("arms", []))
            except ValidationError:
                arms = []
            problems += _arm_problems(arms, lines)
        raise ConfigError(problems, source) from None
    problems += _arm_problems(scenario.arms, lines, scenario)
    if problems:
        raise ConfigError(problems, source)
    return scenario


def load(path: str | Path) -> Scenario:
    """Read and validate the YAML config at *path*."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise ConfigError([("", None, f"file is larger than {MAX_UPLOAD_BYTES // 1000} kB; not a caresim config")],
                              str(path))
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([("", None, f"file not found: {path}")], str(path)) from None
    except OSError as exc:
        raise ConfigError([("", None, f"cannot read {path}: {exc.strerror or exc}")], str(path)) from None
    return parse(data, source=str(path))


def to_yaml(scenario: Scenario) -> str:
    """Write a Scenario as YAML that loads back to an equal Scenario."""
    return yaml.safe_dump(scenario.model_dump(mode="json", exclude_none=False), sort_keys=False, allow_unicode=True)


def with_changes(scenario: Scenario, changes: dict[str, Any]) -> Scenario:
    """A new validated Scenario with the dotted key paths in *changes* set to new values."""
    data = scenario.model_dump(mode="json")
    for path, value in changes.items():
        set_path(data, path, value)
    return parse(yaml.safe_dump(data, sort_keys=False), source="changed config")


def set_path(data: dict, path: str, value: Any) -> None:
    """Set a dotted key path (list indices as numbers) inside nested dicts and lists."""
    parts = path.split(".")
    target: Any = data
    for i, part in enumerate(parts[:-1]):
        target = _step(target, part, ".".join(parts[: i + 1]))
    last = parts[-1]
    if isinstance(target, list):
        index = int(last)
        if not 0 <= index < len(target):
            raise KeyError(f"{path}: index {index} is out of range")
        target[index] = value
    elif isinstance(target, dict):
        if last not in target:
            raise KeyError(f"{path}: no such key in the config")
        target[last] = value
    else:
        raise KeyError(f"{path}: cannot set a key inside a single value")


def get_path(data: Any, path: str) -> Any:
    """Read a dotted key path from nested dicts and lists."""
    target = data
    for i, part in enumerate(path.split(".")):
        target = _step(target, part, ".".join(path.split(".")[: i + 1]))
    return target


def _step(target, part, sofar):
    if isinstance(target, list):
        try:
            return target[int(part)]
        except (ValueError, IndexError):
            raise KeyError(f"{sofar}: no such list item") from None
    if isinstance(target, dict):
        if part not in target:
            raise KeyError(f"{sofar}: no such key in the config")
        return target[part]
    raise KeyError(f"{sofar}: no such key in the config")


def json_schema() -> dict:
    """JSON Schema of the config, for editors that check and complete YAML."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "caresim config"
    return schema
