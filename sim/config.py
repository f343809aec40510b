"""Load and validate a caresim YAML config into frozen, typed objects.

YAML is read with ``yaml.safe_load`` only. Validation happens once, here, at the edge: unknown
keys are refused, every value is range-checked, and one load reports *every* problem with its
key path and YAML line number (`ConfigError`). Everything downstream works on the frozen
`Scenario` and never sees a raw dict.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
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
    """Base of every config object: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


# --- uncertain parameters -------------------------------------------------------------------


class Fixed(Frozen):
    """A parameter known exactly."""

    dist: Literal["fixed"]
    value: float


class Uniform(Frozen):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low <= self.high:
            raise ValueError("low must be <= high")
        return self


class Triangular(Frozen):
    dist: Literal["triangular"]
    low: float
    mode: float
    high: float

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
    low: float = 0.0
    high: float = 1.0

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
    mean: float
    sd: NonNegative
    low: float | None = None
    high: float | None = None


Distribution = Annotated[
    Fixed | Uniform | Triangular | Beta | LogNormal | Normal, Field(discriminator="dist")
]
Uncertain = float | Distribution


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
    if isinstance(value, Normal) and (value.low is None or value.high is None):
        # A normal is truncated to the parameter's own bounds; only its centre must be inside.
        lo = hi = value.mean
    if lo < low or hi > high:
        raise ValueError(f"{what} must lie in [{low}, {high}], got values in [{lo}, {hi}]")


# --- the place ------------------------------------------------------------------------------


class AgeBand(Frozen):
    name: str
    min_age: Annotated[int, Field(ge=0)]
    max_age: Annotated[int, Field(ge=0)] | None = Field(
        description="Oldest age in the band; empty for the open top band."
    )
    share: Probability = Field(description="Share of the population in this band.")


class Condition(Frozen):
    """A long-term condition: prevalence by age band and its effect on crises."""

    prevalence: list[Probability] = Field(description="Share with the condition, by age band.")
    crisis_multiplier: Annotated[float, Field(ge=1.0)] = Field(
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
    size: Annotated[int, Field(ge=1, le=80_000_000)]
    age_bands: list[AgeBand]
    risk_shares: dict[str, list[Probability]] = Field(
        description="Share in each risk tier (low, moderate, high, very high), by age band name."
    )
    conditions: dict[str, Condition]
    clusters: list[Cluster]
    care_home_share: list[Probability] = Field(description="Share living in a care home, by age band.")


# --- the flow -------------------------------------------------------------------------------


class EndOfLife(Frozen):
    window_days: Positive = Field(description="Length of the end-of-life period before death, days.")
    crisis_multiplier: Annotated[float, Field(ge=1.0)]
    found_share: Probability = Field(description="Share of people in their last year known to services.")
    found_crisis_multiplier: Uncertain = Field(description="Crisis multiplier for those found, relative.")
    terminal_admission_death: Probability = Field(
        description="Chance an admission in the end-of-life period ends in death in hospital."
    )
    found_terminal_admission_death: Uncertain


class Readmission(Frozen):
    window_days: Positive
    crisis_multiplier: Uncertain = Field(description="Crisis hazard after discharge, relative.")


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
    short_stay_share: Probability = Field(
        0.6, description="Harrison-Millard: share in the short-stay compartment."
    )
    short_to_mean_ratio: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
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
    care_home_mortality_multiplier: Positive
    end_of_life: EndOfLife
    readmission: Readmission
    diversion: dict[str, Diversion]
    ed_admission_probability: list[Probability] = Field(description="By age band.")
    ed_admission_type_multiplier: dict[str, NonNegative] = Field(default_factory=dict)
    length_of_stay: LengthOfStay
    in_hospital_death_probability: list[Probability] = Field(description="By age band.")
    pathways: Pathways


# --- services and costs ---------------------------------------------------------------------


Capacity = Annotated[int, Field(ge=0)] | list[Annotated[int, Field(ge=0)]]


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
    warm_up_years: Annotated[int, Field(ge=0, le=10)] = 1
    contract_years: Annotated[int, Field(ge=1, le=30)] = 7
    start_year: int = 2017
    replications: Annotated[int, Field(ge=1, le=100_000)] = 20
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 20170401
    discount_rate: Annotated[float, Field(ge=0.0, le=0.2)] = 0.035
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
    arms: list[Arm] = Field(default_factory=lambda: [Arm(name="Status quo", kind="status_quo")])
    sources: dict[str, str] = Field(
        default_factory=dict, description="Where each number comes from: key path -> source."
    )

    # --- cross-field checks: each raises with a path so the message names the key ---

    @model_validator(mode="after")
    def _consistent(self):
        problems: list[tuple[str, str]] = []
        pop, flow = self.population, self.flow
        n_age = len(pop.age_bands)

        bands = sorted(pop.age_bands, key=lambda b: b.min_age)
        if bands != list(pop.age_bands):
            problems.append(("population.age_bands", "age bands must be listed youngest first"))
        expected = 0
        for i, band in enumerate(bands):
            if band.min_age != expected:
                problems.append(
                    (f"population.age_bands.{i}.min_age",
                     f"age bands must cover all ages without gaps: expected {expected}, got {band.min_age}")
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
        _sum_to_one(problems, "population.age_bands", [b.share for b in pop.age_bands])
        _sum_to_one(problems, "population.clusters", [c.share for c in pop.clusters])

        for name in [b.name for b in pop.age_bands]:
            if name not in pop.risk_shares:
                problems.append((f"population.risk_shares.{name}", "missing risk shares for this age band"))
        for name, shares in pop.risk_shares.items():
            if name not in [b.name for b in pop.age_bands]:
                problems.append((f"population.risk_shares.{name}", "not an age band name"))
            elif len(shares) != len(RISK_TIERS):
                problems.append((f"population.risk_shares.{name}", f"need {len(RISK_TIERS)} shares (low, moderate, high, very high)"))
            else:
                _sum_to_one(problems, f"population.risk_shares.{name}", shares)
        for cname, cond in pop.conditions.items():
            _length(problems, f"population.conditions.{cname}.prevalence", cond.prevalence, n_age)
            _length(problems, f"population.conditions.{cname}.risk_tier_odds", cond.risk_tier_odds, 4)
        if len(pop.conditions) > 8:
            problems.append(("population.conditions", "at most 8 long-term conditions"))
        for i, cl in enumerate(pop.clusters):
            _sum_to_one(problems, f"population.clusters.{i}.forums", list(cl.forums.values()))
            if _length(problems, f"population.clusters.{i}.deprivation_shares", cl.deprivation_shares, 5):
                _sum_to_one(problems, f"population.clusters.{i}.deprivation_shares", cl.deprivation_shares)
        _length(problems, "population.care_home_share", pop.care_home_share, n_age)

        for key in ("crisis_rate_per_year", "demand_growth_per_year", "mortality_per_year",
                    "ed_admission_probability", "in_hospital_death_probability"):
            _length(problems, f"flow.{key}", getattr(flow, key), n_age)
        _length(problems, "flow.length_of_stay.mean_days", flow.length_of_stay.mean_days, n_age)
        _length(problems, "flow.risk_multiplier", flow.risk_multiplier, 4)
        _length(problems, "flow.mortality_risk_multiplier", flow.mortality_risk_multiplier, 4)
        _length(problems, "flow.deprivation_multiplier", flow.deprivation_multiplier, 5)
        for kind in CRISIS_KINDS:
            if kind not in flow.crisis_type_shares:
                problems.append((f"flow.crisis_type_shares.{kind}", "missing"))
        for kind in flow.crisis_type_shares:
            if kind not in CRISIS_KINDS:
                problems.append((f"flow.crisis_type_shares.{kind}", f"unknown crisis type; use one of {', '.join(CRISIS_KINDS)}"))
            else:
                _length(problems, f"flow.crisis_type_shares.{kind}", flow.crisis_type_shares[kind], n_age)
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
        for kind, div in flow.diversion.items():
            _length(problems, f"flow.diversion.{kind}.probability", div.probability, 4)
        _length(problems, "flow.pathways.shares", flow.pathways.shares, n_age)
        for a, row in enumerate(flow.pathways.shares):
            if _length(problems, f"flow.pathways.shares.{a}", row, 4):
                _sum_to_one(problems, f"flow.pathways.shares.{a}", row)

        years = self.run.contract_years
        for sname in Services.model_fields:
            service = getattr(self.services, sname)
            if isinstance(service.capacity, list) and len(service.capacity) != years:
                problems.append((f"services.{sname}.capacity",
                                 f"a list of capacities needs one per contract year ({years}), got {len(service.capacity)}"))
        for sname in ("urgent_community_response", "virtual_ward", "step_up_beds",
                      "mental_health_crisis_beds", "step_down_beds", "reablement", "home_care"):
            if getattr(self.services, sname).mean_days is None:
                problems.append((f"services.{sname}.mean_days", "required for this service"))
        _sum_to_one(problems, "services.reablement.outcomes", list(self.services.reablement.outcomes.values()))

        names = [arm.name for arm in self.arms]
        for i, name in enumerate(names):
            if names.index(name) != i:
                problems.append((f"arms.{i}.name", f"arm name {name!r} is used twice"))
        if problems:
            raise _CrossFieldErrors(problems)
        return self

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


def _sum_to_one(problems, path, values) -> None:
    total = float(sum(values))
    if values and abs(total - 1.0) > SHARE_TOLERANCE:
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


def _line_index(node, path=(), index=None) -> dict[tuple, int]:
    """Map every key path in a composed YAML node tree to its 1-based line number."""
    if index is None:
        index = {}
    index[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            index[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), index)
            index[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (str(i),), index)
    return index


def _line_for(lines: dict[tuple, int], path: tuple) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


_BRANCH_LABELS = {"float", "int", "fixed", "uniform", "triangular", "beta", "lognormal", "normal"}


def _clean_loc(loc) -> tuple:
    """Drop pydantic's union-branch labels (like 'float' or 'uniform') from an error location."""
    out = []
    for part in loc:
        if isinstance(part, str) and (
            part in _BRANCH_LABELS or part.startswith(("constrained-", "function-", "list[", "tagged-union"))
        ):
            continue
        out.append(str(part))
    return tuple(out)


def _messages(error: ValidationError, lines: dict[tuple, int]) -> list[tuple[str, int | None, str]]:
    problems: dict[tuple[str, str], int | None] = {}
    for err in error.errors():
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _CrossFieldErrors):
            for path, message in ctx_error.problems:
                key = tuple(path.split(" ")[0].split("."))
                problems[(path, message)] = _line_for(lines, key)
            continue
        loc = _clean_loc(err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key (not part of the config; check its spelling)"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if "input" in err and err["type"] not in ("missing", "extra_forbidden") and not isinstance(err["input"], (dict, list)):
            message += f" (got {err['input']!r})"
        problems[(".".join(loc), message)] = _line_for(lines, loc)
    # A bad value for an uncertain parameter fails every branch of the union; keep the
    # number branch's message only when no distribution branch explains it better.
    return [(path, line, message) for (path, message), line in problems.items()]


def parse(text: str, source: str = "config") -> Scenario:
    """Validate YAML *text* into a Scenario, or raise ConfigError listing every problem."""
    if len(text.encode("utf-8", errors="replace")) > MAX_UPLOAD_BYTES:
        raise ConfigError([("", None, f"file is larger than {MAX_UPLOAD_BYTES // 1000} kB; not a caresim config")], source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([("", line, f"not valid YAML: {problem}")], source) from None
    if not isinstance(data, dict):
        raise ConfigError([("", 1, "a caresim config is a YAML mapping of keys (name, population, flow, ...)")], source)
    lines = _line_index(node) if node is not None else {}
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_messages(exc, lines), source) from None
    from models.registry import validate_arms  # care models check their own parameters

    arm_problems = validate_arms(scenario)
    if arm_problems:
        raise ConfigError([(p, _line_for(lines, tuple(p.split("."))), m) for p, m in arm_problems], source)
    return scenario


def load(path: str | Path) -> Scenario:
    """Read and validate the YAML config at *path*."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([("", None, f"file not found: {path}")], str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError([("", None, "not a text file; a caresim config is YAML")], str(path)) from None
    return parse(text, source=str(path))


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
