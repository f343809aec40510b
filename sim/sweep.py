"""Parameter sweeps: many variants of one config, each run for every arm and replication.

A sweep file (YAML, validated like a config: unknown keys refused, every problem named by
its key and line) names a base config, the parameters to vary (any key path into the
config, or a set of keys to scale together), a design (grid, Latin hypercube, Sobol or
Morris), the replications, seed, arms and measures. Each point's config is
`with_changes(base, values)` and every point is validated before any task runs.

A task is one (point, replication): every chosen arm on the same people and random numbers.
Its numbers are a pure function of the point's config, the seed and the replication, so a
local process pool and a Dask cluster of any size give the same table. The client writes
each finished task to ``OUT/tasks/`` atomically; a sweep that is stopped (the client killed,
a worker lost) finishes when the same command runs again, computing only the missing tasks.
``OUT/sweep.json`` holds a hash of everything that decides the numbers; a changed sweep file
is refused there rather than mixed with old results.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import html
import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim import sensitivity
from sim.config import ConfigError, Scenario, get_path, load, with_changes
from sim.measures import MEASURES, WHOLE_CONTRACT

TASKS_DIR = "tasks"
MANIFEST = "sweep.json"
TASK_FILE = re.compile(r"^p(\d{6})-r(\d{5})\.parquet$")
FIXED_COLUMNS = ("point", "role", "arm", "replication", "measure", "value")
DEFAULT_MEASURES = ("admissions", "bed_days", "delayed_days", "care_home_admissions", "cost_total_gbp")
# Measures reported only by detail (a year's tidy rows have no whole-place value): name:detail.
BY_DETAIL = ("admissions_by_age_per_1000", "admissions_by_cluster", "admissions_by_forum", "cost_gbp",
             "pathway_share", "service_episodes", "service_occupancy", "service_waiting_days")
MAX_POINT_PROBLEMS = 10
# sim/ modules that present results but never compute them: editing them keeps finished tasks.
FRONT_ENDS = ("cli.py", "batch.py", "cluster.py", "report.py", "sensitivity.py", "summary.py", "outputs.py")
MAX_POINTS = 100_000


class SweepError(ConfigError):
    """A sweep that cannot run; `problems` lists (key path, line, message) for each."""


# --- the sweep file -------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Number = Annotated[float, Field(allow_inf_nan=False)]


class Parameter(_Strict):
    """One thing to vary: a key set to each value, or keys scaled by value / reference."""

    name: str | None = Field(None, description="Column name in the results (default: the key).")
    key: str | None = Field(None, description="Dotted key path into the config, e.g. arms.3.params.hub_size.")
    scale: list[str] | None = Field(
        None, min_length=1,
        description="Key paths (a * matches every key or item) whose numbers are multiplied by "
                    "value / reference.")
    reference: Annotated[float, Field(gt=0, allow_inf_nan=False)] = Field(
        1.0, description="With scale: the value at which the config is unchanged.")
    range: tuple[Number, Number] | None = Field(None, description="[low, high].")
    values: list[Any] | None = Field(None, min_length=1, description="The values to try, in order.")
    levels: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        None, description="Grid levels of a range (default: the design's levels).")
    integer: bool | None = Field(None, description="Round to whole numbers (default: when the config's value is one).")
    label: str = ""

    @model_validator(mode="after")
    def _one_of_each(self):
        if (self.key is None) == (self.scale is None):
            raise ValueError("give either key (a value to set) or scale (keys to multiply), not both or neither")
        if (self.range is None) == (self.values is None):
            raise ValueError("give either range: [low, high] or values: [...], not both or neither")
        if self.range is not None and not self.range[0] <= self.range[1]:
            raise ValueError(f"range must be [low, high] with low <= high, got {list(self.range)}")
        if self.scale is not None and self.name is None:
            raise ValueError("a scale parameter needs a name (the column in the results)")
        if self.scale is not None and self.values is not None and not all(_is_number(v) for v in self.values):
            raise ValueError("the values of a scale parameter must be numbers")
        return self

    @property
    def column(self) -> str:
        return self.name if self.name is not None else str(self.key)


class Design(_Strict):
    method: Literal[sensitivity.METHODS] = "grid"  # type: ignore[valid-type]
    levels: Annotated[int, Field(ge=2, le=1000)] = Field(
        3, description="Grid: levels of each range. Morris: levels of its grid (default 4 there).")
    points: Annotated[int, Field(ge=1, le=MAX_POINTS)] | None = Field(
        None, description="Latin hypercube: points. Sobol: base samples N (N x (k + 2) points). "
                          "Morris: trajectories (k + 1 points each).")
    second_order: bool = Field(False, description="Sobol: also second-order indices (2k + 2 points per N).")
    one_at_a_time: bool = Field(True, description="Add a baseline point and each parameter at its low and "
                                                  "high end (the others at baseline), for tornado charts.")
    seed: Annotated[int, Field(ge=0, lt=2**32)] | None = Field(None, description="Design seed (default: the sweep seed).")
    resamples: Annotated[int, Field(ge=10, le=100_000)] = Field(1000, description="Bootstrap resamples for intervals.")

    @model_validator(mode="after")
    def _points(self):
        if self.method in ("latin_hypercube", "sobol", "morris") and self.points is None:
            raise ValueError(f"design.points is required for {self.method}")
        return self


class SweepSpec(_Strict):
    """A whole sweep file."""

    name: str
    description: str = ""
    base: str = Field(description="Base config, relative to the sweep file.")
    set: dict[str, Any] = Field(default_factory=dict, description="Changes made to the base at every point.")
    parameters: list[Parameter] = Field(min_length=1)
    design: Design = Field(default_factory=lambda: Design.model_validate({}))
    replications: Annotated[int, Field(ge=1, le=100_000)] = 10
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = Field(None, description="Run seed (default: the base's run.seed).")
    arms: list[str] | None = Field(None, min_length=1, description="Arm names (default: every arm).")
    measures: list[str] = Field(default_factory=lambda: list(DEFAULT_MEASURES), min_length=1)
    engine: Literal["fast", "reference"] = "fast"
    uncertainty: bool = Field(True, description="Draw the uncertain parameters per replication.")

    @field_validator("measures")
    @classmethod
    def _measures(cls, measures):
        problems = []
        for i, text in enumerate(measures):
            name, _, detail = text.partition(":")
            if name not in MEASURES:
                close = difflib.get_close_matches(name, list(MEASURES), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append((f"measures.{i}", f"unknown measure {name!r}{hint}"))
            elif name in BY_DETAIL and not detail:
                problems.append((f"measures.{i}", f"{name} has a value per detail only; write {name}:DETAIL "
                                                  f"(e.g. pathway_share:pathway 0)"))
            if measures.index(text) != i:
                problems.append((f"measures.{i}", f"{text!r} is listed twice"))
        if problems:
            raise _Problems(problems)
        return measures


class _Problems(ValueError):
    """Several keyed problems found by one validator."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _pydantic_problems(exc: ValidationError, lines, data) -> list[tuple[str, int | None, str]]:
    from sim.config import _line_for

    problems = []
    for err in exc.errors():
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, _Problems):
            problems += [(path, _line_for(lines, tuple(path.split("."))), m) for path, m in inner.problems]
            continue
        loc = tuple(str(p) for p in err["loc"] if not str(p).startswith(("function-", "tagged-union")))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (not part of a sweep file; check its spelling)"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif "input" in err and not isinstance(err["input"], (dict, list)):
            message += f" (got {err['input']!r})"
        problems.append((".".join(loc), _line_for(lines, loc), message))
    return problems


def parse_spec(text: str, source: str = "sweep") -> tuple[SweepSpec, dict]:
    """Validate sweep YAML into a SweepSpec (and its key lines), or raise SweepError."""
    from sim.config import _index_lines, _read_yaml

    try:
        data, node = _read_yaml(text, source)
    except ConfigError as exc:
        raise SweepError(exc.problems, source) from None
    if not isinstance(data, dict):
        raise SweepError([("", 1, "a sweep file is a YAML mapping (name, base, parameters, design, ...)")], source)
    lines, problems = _index_lines(node)
    if problems:
        raise SweepError(problems, source)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepError(_pydantic_problems(exc, lines, data), source) from None
    return spec, lines


def load_spec(path: str | Path) -> tuple[SweepSpec, dict]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepError([("", None, f"file not found: {path}")], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError([("", None, f"cannot read {path}: {exc}")], str(path)) from None
    return parse_spec(text, str(path))


# --- points ---------------------------------------------------------------------------------


@dataclass
class Point:
    """One variant of the base config."""

    index: int
    role: str  # design, baseline, low, high (one-at-a-time points)
    values: dict[str, Any]  # parameter column -> value
    unit: tuple[float, ...] | None = None
    scenario: Scenario | None = None


@dataclass
class SweepPlan:
    """A validated sweep: its points' configs, the tasks, and the hash that names them."""

    spec: SweepSpec
    source: Path
    base: Scenario
    points: list[Point]
    design_points: list[int]  # point of each design row, in design order
    design_unit: np.ndarray    # the design on the unit hypercube (Morris needs it)
    baseline: int | None
    one_at_a_time: dict[str, tuple[int, int]]  # parameter -> (low point, high point)
    arms: list[str]
    seed: int
    spec_hash: str
    param_numeric: dict[str, bool] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [p.column for p in self.spec.parameters]

    @property
    def n_tasks(self) -> int:
        return len(self.points) * self.spec.replications

    def tasks(self) -> list[Task]:
        return [Task(p.index, r, cast(Scenario, p.scenario), tuple(self.arms), tuple(self.spec.measures), self.spec.engine,
                     self.seed, self.spec.uncertainty)
                for p in self.points for r in range(self.spec.replications)]


def _expand(data: Any, pattern: str) -> list[str]:
    """Key paths matching *pattern*, where a * part matches every key or list item."""
    paths = [("", data)]
    for part in pattern.split("."):
        nxt = []
        for prefix, node in paths:
            keys = (range(len(node)) if isinstance(node, list) else list(node)) if part == "*" else [part]
            for key in keys:
                if isinstance(node, dict) and key in node:
                    nxt.append((f"{prefix}.{key}".lstrip("."), node[key]))
                elif isinstance(node, list) and str(key).isdigit() and int(key) < len(node):
                    nxt.append((f"{prefix}.{key}".lstrip("."), node[int(key)]))
        paths = nxt
    return [p for p, _ in paths]


def _scaled(value: Any, factor: float) -> Any:
    if isinstance(value, list):
        return [_scaled(v, factor) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("not a number or a list of numbers")
    return int(round(value * factor)) if isinstance(value, int) else value * factor


def _arm_defaults(data: dict, keys: list[str]) -> list[str]:
    """Insert the default of each arm parameter named by *keys* that the config leaves out,
    so that a sweep can vary it; return the keys inserted."""
    from models import registry

    inserted = []
    for key in keys:
        m = re.fullmatch(r"arms\.(\d+)\.params\.([A-Za-z_]\w*)", key)
        if not m:
            continue
        i, name = int(m.group(1)), m.group(2)
        arms = data.get("arms", [])
        if i >= len(arms) or name in arms[i].get("params", {}):
            continue
        model = registry.kinds().get(arms[i].get("kind"))
        fields = model.Params.model_fields if model is not None else {}
        if name in fields and not fields[name].is_required():
            default = fields[name].get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = default.model_dump(mode="json")
            arms[i].setdefault("params", {})[name] = default
            inserted.append(key)
    return inserted


class _Resolved:
    """What a parameter does to a config: the keys it sets and how its values map."""

    def __init__(self, parameter: Parameter, index: int, data: dict, problems: list, lines: dict):
        self.p = parameter
        self.where = f"parameters.{index}"
        self.targets: list[tuple[str, Any]] = []  # (key path, base value)
        self.ok = True
        self.integer = bool(parameter.integer)
        from sim.config import _line_for

        line = _line_for(lines, ("parameters", str(index)))
        if parameter.key is not None:
            try:
                base_value = get_path(data, parameter.key)
            except KeyError:
                problems.append((f"{self.where}.key", line, _missing_key(data, parameter.key)))
                self.ok = False
                return
            self.targets = [(parameter.key, base_value)]
            if parameter.integer is None:
                self.integer = isinstance(base_value, int) and not isinstance(base_value, bool)
            if parameter.range is not None and isinstance(base_value, (dict, list, str, bool)):
                problems.append((f"{self.where}.range", line, f"{parameter.key} is not a single number in the "
                                 f"base config (it is {_kind(base_value)}); give values: [...] instead"))
                self.ok = False
        else:
            for j, pattern in enumerate(parameter.scale or []):
                keys = _expand(data, pattern)
                if not keys:
                    problems.append((f"{self.where}.scale.{j}", line, f"{pattern}: matches no key of the base config"))
                    self.ok = False
                for key in keys:
                    value = get_path(data, key)
                    try:
                        _scaled(value, 1.0)
                    except TypeError:
                        problems.append((f"{self.where}.scale.{j}", line,
                                         f"{key} is {_kind(value)}, not a number or a list of numbers"))
                        self.ok = False
                        continue
                    self.targets.append((key, value))

    def value(self, u: float, n_levels: int | None = None) -> Any:
        """The parameter's value at unit coordinate *u*."""
        p = self.p
        if p.values is not None:
            return p.values[min(int(math.floor(u * len(p.values))), len(p.values) - 1)]
        low, high = cast(tuple[float, float], p.range)
        x = low + u * (high - low)
        if self.integer:
            return int(round(x))
        return float(x)

    def changes(self, value: Any) -> dict[str, Any]:
        if self.p.key is not None:
            return {self.p.key: value}
        factor = float(value) / self.p.reference
        return {key: _scaled(base, factor) for key, base in self.targets}

    def baseline(self) -> Any:
        p = self.p
        current = self.targets[0][1] if p.key is not None else p.reference
        if p.values is not None:
            if current in p.values:
                return current
            numbers = [v for v in p.values if _is_number(v)]
            if _is_number(current) and len(numbers) == len(p.values) and min(numbers) <= current <= max(numbers):
                return current  # the config's own value, between the values tried
            return p.values[(len(p.values) - 1) // 2]
        low, high = cast(tuple[float, float], p.range)
        if _is_number(current) and low <= current <= high:
            return int(current) if self.integer else float(current)
        return self.value(0.5)

    def ends(self) -> tuple[Any, Any]:
        return self.value(0.0), self.value(1.0)

    @property
    def numeric(self) -> bool:
        return self.p.values is None or all(_is_number(v) for v in self.p.values)


def _missing_key(data: Any, key: str) -> str:
    """Why *key* is not in the config: the first part that is not there, and a near miss."""
    node, parts = data, key.split(".")
    for i, part in enumerate(parts):
        sofar = ".".join(parts[: i + 1])
        parent = ".".join(parts[:i]) or "the top level"
        if isinstance(node, list):
            if part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            return f"{key}: {sofar} does not exist ({parent} has items 0 to {len(node) - 1})"
        if isinstance(node, dict):
            if part in node:
                node = node[part]
                continue
            close = difflib.get_close_matches(part, [str(k) for k in node], n=1, cutoff=0.6)
            hint = f"; did you mean {'.'.join(parts[:i] + [close[0]])}?" if close else ""
            return f"{key}: no key {part!r} in {parent} of the base config{hint}"
        return f"{key}: {'.'.join(parts[:i])} is a single value, it has no key {part!r}"
    return f"{key}: not a key of the base config"


def _kind(value: Any) -> str:
    return ("a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list)
            else "text" if isinstance(value, str) else "a yes/no value" if isinstance(value, bool) else "a number")


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def plan(path: str | Path) -> SweepPlan:
    """Read a sweep file and build every point's validated config; raise SweepError (or the
    base's ConfigError) naming each problem before anything runs."""
    path = Path(path)
    spec, lines = load_spec(path)
    source = str(path)
    from sim.config import _line_for

    base_path = (path.parent / spec.base).resolve()
    base = load(base_path)  # a bad base config raises its own ConfigError, naming its keys
    problems: list[tuple[str, int | None, str]] = []

    data = base.model_dump(mode="json")
    wanted = list(spec.set) + [p.key for p in spec.parameters if p.key is not None]
    if _arm_defaults(data, wanted):
        base = _reparse(data, source)
    if spec.set:
        for key in spec.set:
            try:
                get_path(data, key)
            except KeyError:
                problems.append((f"set.{key}", _line_for(lines, ("set", key)), _missing_key(data, key)))
        if not problems:
            try:
                base = with_changes(base, dict(spec.set))
            except ConfigError as exc:
                problems += [(f"set ({p})", _line_for(lines, ("set",)), m) for p, _, m in exc.problems]
        data = base.model_dump(mode="json")

    names = [p.column for p in spec.parameters]
    for i, name in enumerate(names):
        if names.index(name) != i:
            problems.append((f"parameters.{i}.name", _line_for(lines, ("parameters", str(i))),
                             f"parameter name {name!r} is used twice"))
        if name in FIXED_COLUMNS:
            problems.append((f"parameters.{i}.name", _line_for(lines, ("parameters", str(i))),
                             f"{name!r} is a column of the results already; choose another name"))
    resolved = [_Resolved(p, i, data, problems, lines) for i, p in enumerate(spec.parameters)]

    arm_names = [a.name for a in base.arms]
    if spec.arms is not None:
        for i, name in enumerate(spec.arms):
            if name not in arm_names:
                problems.append((f"arms.{i}", _line_for(lines, ("arms", str(i))),
                                 f"no arm called {name!r} in the base config; arms are "
                                 f"{', '.join(repr(a) for a in arm_names)}"))
    arms = [a for a in arm_names if spec.arms is None or a in spec.arms]
    # Each parameter's ends on the base config, the others unchanged: the clearest message for
    # a range outside the valid values. Combinations are checked with every point below.
    for i, r in enumerate(resolved):
        if r.ok:
            problems += _end_problems(base, r, i, lines)
    if problems:
        raise SweepError(problems, source)

    # The design on the unit hypercube, then the one-at-a-time points.
    design = spec.design
    seed = spec.seed if spec.seed is not None else base.run.seed
    design_seed = design.seed if design.seed is not None else seed % 2**32
    k = len(resolved)
    if design.method == "grid":
        levels = [len(r.p.values) if r.p.values is not None else (r.p.levels or design.levels) for r in resolved]
        n_grid = math.prod(levels)
        if n_grid > MAX_POINTS:
            raise SweepError([("design.levels", _line_for(lines, ("design",)),
                               f"the grid has {n_grid:,} points; at most {MAX_POINTS:,}")], source)
        unit = sensitivity.grid_design(levels)
    elif design.method == "latin_hypercube":
        unit = sensitivity.latin_hypercube_design(k, int(design.points or 1), design_seed)
    elif design.method == "sobol":
        if sensitivity.sobol_rows(k, int(design.points or 1), design.second_order) > MAX_POINTS:
            raise SweepError([("design.points", _line_for(lines, ("design", "points")),
                               f"{design.points} base samples make too many points")], source)
        unit = sensitivity.sobol_design(names, int(design.points or 1), design_seed, design.second_order)
    else:
        unit = sensitivity.morris_design(names, int(design.points or 1), design.levels, design_seed)

    points: list[Point] = []
    by_values: dict[str, int] = {}

    def add(values: dict[str, Any], role: str, u: tuple | None) -> int:
        key = json.dumps([values[n] for n in names], sort_keys=True)
        if key in by_values:
            return by_values[key]
        points.append(Point(len(points), role, values, u))
        by_values[key] = len(points) - 1
        return len(points) - 1

    # Sobol and Morris analyses need one response per design row, so rows that map to the
    # same values (integer rounding, value lists) share a point, not a row.
    design_points = [add({n: r.value(float(u)) for n, r, u in zip(names, resolved, row, strict=True)},
                         "design", tuple(float(x) for x in row)) for row in unit]
    baseline = None
    oat: dict[str, tuple[int, int]] = {}
    if design.one_at_a_time:
        centre = {n: r.baseline() for n, r in zip(names, resolved, strict=True)}
        baseline = add(dict(centre), "baseline", None)
        for n, r in zip(names, resolved, strict=True):
            low, high = r.ends()
            oat[n] = (add({**centre, n: low}, "low", None), add({**centre, n: high}, "high", None))

    # Validate every point's config before anything runs.
    problems = []
    bad = 0
    for point in points:
        changes: dict[str, Any] = {}
        for n, r in zip(names, resolved, strict=True):
            changes.update(r.changes(point.values[n]))
        try:
            point.scenario = with_changes(base, changes)
        except ConfigError as exc:
            bad += 1
            if bad <= MAX_POINT_PROBLEMS:
                at = ", ".join(f"{n} = {_show(v)}" for n, v in point.values.items())
                problems += [(f"point {point.index} ({at})", None, f"{p}: {m}") for p, _, m in exc.problems]
    if bad:
        if bad > MAX_POINT_PROBLEMS:
            problems.append(("", None, f"... and {bad - MAX_POINT_PROBLEMS} more invalid point(s)"))
        raise SweepError(problems, source)

    digest = _spec_hash(spec, base, points, arms, seed)
    return SweepPlan(spec, path, base, points, design_points, np.asarray(unit), baseline, oat, arms, seed,
                     digest, {n: r.numeric for n, r in zip(names, resolved, strict=True)})


def _end_problems(base: Scenario, r: _Resolved, i: int, lines: dict) -> list[tuple[str, int | None, str]]:
    """Problems of the config with parameter *r* at its low and at its high end."""
    from sim.config import _line_for

    what = "range" if r.p.range is not None else "values"
    line = _line_for(lines, ("parameters", str(i), what))
    problems = []
    for end, value in zip(("low", "high"), r.ends(), strict=True):
        try:
            with_changes(base, r.changes(value))
        except ConfigError as exc:
            first = exc.problems[0]
            more = f" (and {len(exc.problems) - 1} more key(s))" if len(exc.problems) > 1 else ""
            problems.append((f"parameters.{i}.{what}", line,
                             f"{end} end {_show(value)} is not a valid value of {first[0]}: {first[2]}{more}"))
        except (KeyError, TypeError) as exc:
            problems.append((f"parameters.{i}", line, str(exc)))
    return problems


def _reparse(data: dict, source: str) -> Scenario:
    from sim.config import parse

    return parse(yaml.safe_dump(data, sort_keys=False), source=source)


def _spec_hash(spec: SweepSpec, base: Scenario, points: list[Point], arms: list[str], seed: int) -> str:
    """SHA-256 of everything that decides the task results (not names, labels or text)."""
    decisive = {
        "base_sha256": base.digest(),
        "points": [[p.values[c.column] for c in spec.parameters] for p in points],
        "point_sha256": [cast(Scenario, p.scenario).digest() for p in points],
        "replications": spec.replications,
        "seed": seed,
        "arms": arms,
        "measures": spec.measures,
        "engine": spec.engine,
        "uncertainty": spec.uncertainty,
    }
    text = json.dumps(decisive, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --- tasks ----------------------------------------------------------------------------------


@functools.cache
def code_digest() -> str:
    """SHA-256 of the caresim code that computes results (sim/ and models/, bar the front ends).

    Finished tasks are reused only with the same code, and a Dask worker running other code
    is refused, since "the same numbers" holds only for the same code.
    """
    import models
    import sim

    digest = hashlib.sha256()
    for package in (sim, models):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.glob("*.py")):
            if package is sim and path.name in FRONT_ENDS:
                continue
            digest.update(f"{package.__name__}/{path.name}\0".encode())
            digest.update(path.read_bytes().replace(b"\r\n", b"\n"))
    return digest.hexdigest()


@dataclass(frozen=True)
class Task:
    """One point in one replication; a pure function of its fields."""

    point: int
    replication: int
    scenario: Scenario
    arms: tuple[str, ...]
    measures: tuple[str, ...]
    engine: str
    seed: int
    uncertainty: bool

    @property
    def name(self) -> str:
        return f"p{self.point:06d}-r{self.replication:05d}"


def run_task(task: Task) -> pd.DataFrame:
    """The whole-contract value of each measure for each arm: rows arm, measure, value."""
    from sim.experiment import run_replication

    chosen = [a for a in task.scenario.arms if a.name in task.arms]
    tidy, _ = run_replication(task.scenario, task.replication, chosen, task.engine, task.seed, task.uncertainty)
    whole = tidy[tidy["year"] == WHOLE_CONTRACT]
    values = {(r.arm, r.measure, r.detail): r.value for r in whole.itertuples()}
    rows = []
    for arm in task.arms:
        for text in task.measures:
            name, _, detail = text.partition(":")
            rows.append((arm, text, float(values.get((arm, name, detail), math.nan))))
    frame = pd.DataFrame(rows, columns=["arm", "measure", "value"])
    frame.insert(0, "replication", np.int64(task.replication))
    frame.insert(0, "point", np.int64(task.point))
    return frame


def run_task_with_code(task: Task) -> tuple[str, pd.DataFrame]:
    """`run_task`, with the digest of the code that ran it (checked by the client)."""
    return code_digest(), run_task(task)


def _write_task(folder: Path, task: Task, frame: pd.DataFrame, spec_hash: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.outputs import atomic_write

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"caresim_sweep_sha256": spec_hash.encode(),
                                           b"caresim_code_sha256": code_digest().encode()})
    atomic_write(folder / f"{task.name}.parquet", lambda tmp: pq.write_table(table, tmp))


def _finished(folder: Path, spec_hash: str, expected_rows: int) -> tuple[set[tuple[int, int]], list[str]]:
    """Tasks already written for this sweep, and files that are not (removed)."""
    import pyarrow.parquet as pq

    done: set[tuple[int, int]] = set()
    dropped: list[str] = []
    if not folder.exists():
        return done, dropped
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".tmp"):  # a write cut short: never renamed into place
            path.unlink(missing_ok=True)
            continue
        m = TASK_FILE.match(path.name)
        if not m:
            continue
        try:
            meta = pq.read_metadata(path)
            tags = meta.metadata or {}
            ok = (tags.get(b"caresim_sweep_sha256") == spec_hash.encode() and meta.num_rows == expected_rows
                  and tags.get(b"caresim_code_sha256") == code_digest().encode())
        except Exception:  # noqa: BLE001 - any unreadable file is recomputed
            ok = False
        if ok:
            done.add((int(m.group(1)), int(m.group(2))))
        else:
            dropped.append(path.name)
            path.unlink(missing_ok=True)
    return done, dropped


# --- running --------------------------------------------------------------------------------


@dataclass
class SweepResult:
    plan: SweepPlan
    table: pd.DataFrame
    points: pd.DataFrame
    sensitivity: pd.DataFrame
    tornado: pd.DataFrame
    files: dict[str, Path]
    reused: int
    computed: int
    seconds: float


def run_sweep(sweep: SweepPlan, out: str | Path, workers: int | None = None, scheduler: str | None = None,
              fresh: bool = False, progress: Callable[[int, int], None] | None = None,
              notify: Callable[[str], None] | None = None, command: str = "",
              connect_timeout: float = 5.0) -> SweepResult:
    """Run the tasks not yet in *out* (locally, or on the Dask scheduler at *scheduler*),
    then write the table, sensitivity results and the report."""
    from sim import cluster

    started = time.time()
    client = cluster.connect(scheduler, connect_timeout) if scheduler else None
    try:
        return _run(sweep, Path(out), workers, client, fresh, progress, notify, command, started)
    finally:
        if client is not None:
            client.close()


def _run(sweep: SweepPlan, out: Path, workers, client, fresh, progress, notify, command, started) -> SweepResult:
    from sim import cluster
    from sim.outputs import write_text

    folder = out / TASKS_DIR
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        old_hash, old_code = old.get("sweep_sha256"), old.get("code_sha256")
        n_old = len(list(folder.glob("p*-r*.parquet"))) if folder.exists() else 0
        if old_hash != sweep.spec_hash and not fresh:
            raise SweepError([("", None,
                               f"{out} holds another sweep ({old.get('name', '?')!r}, hash {str(old_hash)[:12]}, "
                               f"{n_old} finished task(s)); this sweep file or its base config has changed "
                               f"(hash {sweep.spec_hash[:12]}). Run with --fresh to discard the old results, "
                               "or choose another --out")], str(sweep.source))
        if old_code != code_digest() and n_old and not fresh:
            raise SweepError([("", None,
                               f"the {n_old} finished task(s) in {out} were computed by other caresim code "
                               f"(code hash {str(old_code)[:12]}, now {code_digest()[:12]}); their numbers may "
                               "differ. Run with --fresh to discard them, or choose another --out")],
                             str(sweep.source))
    elif folder.exists() and any(folder.iterdir()) and not fresh:
        raise SweepError([("", None, f"{folder} holds task files but no {MANIFEST}; run with --fresh to discard "
                           "them, or choose another --out")], str(sweep.source))
    if fresh and folder.exists():
        for path in folder.iterdir():
            if path.is_file():
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    write_text(manifest_path, json.dumps(_manifest(sweep, complete=False, command=command), indent=2, default=str))

    tasks = sweep.tasks()
    expected_rows = len(sweep.arms) * len(sweep.spec.measures)
    done, dropped = _finished(folder, sweep.spec_hash, expected_rows)
    if dropped and notify:
        notify(f"removed {len(dropped)} task file(s) from another sweep or unreadable: {', '.join(dropped[:5])}")
    todo = [t for t in tasks if (t.point, t.replication) not in done]
    reused = len(tasks) - len(todo)
    if progress:
        progress(reused, len(tasks))
    finished = [reused]

    def on_result(task: Task, outcome: tuple[str, pd.DataFrame]) -> None:
        code, frame = outcome
        if code != code_digest():
            raise SweepError([("", None, f"a worker runs other caresim code (code hash {code[:12]}, this "
                               f"machine {code_digest()[:12]}); install the same caresim on every machine")],
                             str(sweep.source))
        _write_task(folder, task, frame, sweep.spec_hash)
        finished[0] += 1
        if progress:
            progress(finished[0], len(tasks))

    if todo:
        cluster.execute(todo, run_task_with_code, on_result, workers=workers, client=client,
                        key=lambda t: f"caresim-{sweep.spec_hash[:12]}-{t.name}", notify=notify)
    result = collect(sweep, out)
    result.reused, result.computed = reused, len(todo)
    result.seconds = round(time.time() - started, 2)
    files = write_outputs(result, out, command)
    result.files = files
    return result


def _manifest(sweep: SweepPlan, complete: bool, command: str = "", **extra) -> dict:
    import platform

    import sim

    return {
        "name": sweep.spec.name,
        "sweep_file": str(sweep.source),
        "sweep_sha256": sweep.spec_hash,
        "code_sha256": code_digest(),
        "base_config": sweep.spec.base,
        "base_config_sha256": sweep.base.digest(),
        "design": sweep.spec.design.model_dump(mode="json"),
        "parameters": [p.model_dump(mode="json", exclude_none=True) for p in sweep.spec.parameters],
        "points": len(sweep.points),
        "replications": sweep.spec.replications,
        "tasks": sweep.n_tasks,
        "seed": sweep.seed,
        "arms": sweep.arms,
        "measures": sweep.spec.measures,
        "engine": sweep.spec.engine,
        "parameter_uncertainty": sweep.spec.uncertainty,
        "complete": complete,
        "command": command,
        "caresim_version": sim.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **extra,
    }


def points_frame(sweep: SweepPlan) -> pd.DataFrame:
    """One row per point: its index, role and parameter values (lists as JSON text)."""
    rows = []
    for p in sweep.points:
        row = {"point": p.index, "role": p.role}
        row.update({n: (json.dumps(v) if isinstance(v, (list, dict)) else v) for n, v in p.values.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def collect(sweep: SweepPlan, out: str | Path) -> SweepResult:
    """Read every task file into the tidy table: point x arm x replication x measure, with
    each point's parameter values as columns; check that no task is missing or doubled."""
    folder = Path(out) / TASKS_DIR
    frames = []
    for p in sweep.points:
        for r in range(sweep.spec.replications):
            path = folder / f"p{p.index:06d}-r{r:05d}.parquet"
            if not path.exists():
                raise SweepError([("", None, f"task {path.name} has no result; run the sweep again to finish it")],
                                 str(sweep.source))
            frame = pd.read_parquet(path)
            if set(frame["point"]) != {p.index} or set(frame["replication"]) != {r}:
                raise SweepError([("", None, f"{path} holds another task's rows")], str(sweep.source))
            frames.append(frame)
    raw = pd.concat(frames, ignore_index=True)
    raw["arm"] = raw["arm"].astype(str)
    raw["measure"] = raw["measure"].astype(str)
    points = points_frame(sweep)
    arm_order = {a: i for i, a in enumerate(sweep.arms)}
    measure_order = {m: i for i, m in enumerate(sweep.spec.measures)}
    raw = raw.assign(_a=raw["arm"].map(arm_order), _m=raw["measure"].map(measure_order))
    raw = raw.sort_values(["point", "_a", "replication", "_m"], kind="stable").drop(columns=["_a", "_m"])
    table = raw.merge(points, on="point", how="left", sort=False)
    table = table[["point", "role", *sweep.columns, "arm", "replication", "measure", "value"]].reset_index(drop=True)
    expected = sweep.n_tasks * len(sweep.arms) * len(sweep.spec.measures)
    keys = table[["point", "arm", "replication", "measure"]]
    if len(table) != expected or keys.duplicated().any():
        raise SweepError([("", None, f"the results have {len(table)} rows, expected {expected} without duplicates")],
                         str(sweep.source))
    sens, tornado = analyse(sweep, table)
    return SweepResult(sweep, table, points, sens, tornado, {}, 0, 0, 0.0)


def _numeric_column(sweep: SweepPlan, column: str, values: pd.Series) -> pd.Series:
    if sweep.param_numeric.get(column, True):
        return values.astype(float)
    order = {json.dumps(v) if isinstance(v, (list, dict)) else v: i
             for i, v in enumerate(next(p for p in sweep.spec.parameters if p.column == column).values or [])}
    return values.map(order).astype(float)


def analyse(sweep: SweepPlan, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sensitivity indices per (arm, measure) and one-at-a-time swings for tornado charts."""
    design = sweep.spec.design
    names = sweep.columns
    means = {key: group for key, group in
             table.groupby(["arm", "measure", "point"], sort=True)["value"].mean().groupby(level=[0, 1])}
    points = points_frame(sweep).set_index("point")
    seed = design.seed if design.seed is not None else sweep.seed % 2**32
    sens_frames, swings = [], []
    for arm in sweep.arms:
        for measure in sweep.spec.measures:
            y_point = means[(arm, measure)].droplevel([0, 1])
            y = y_point.reindex(sweep.design_points).to_numpy()
            if design.method == "sobol":
                part = sensitivity.sobol_indices(y, names, design.second_order, design.resamples, seed)
            elif design.method == "morris":
                part = sensitivity.morris_indices(sweep.design_unit, y, names, design.levels, design.resamples, seed)
            else:
                unique = sorted(set(sweep.design_points))
                x = pd.DataFrame({n: _numeric_column(sweep, n, points.loc[unique, n]) for n in names})
                part = sensitivity.rank_correlations(x, y_point.reindex(unique).to_numpy())
            sens_frames.append(part.assign(arm=arm, measure=measure))
            if sweep.baseline is None:
                continue
            sel = table[(table["arm"] == arm) & (table["measure"] == measure)]
            by_point = {p: g.sort_values("replication")["value"].to_numpy() for p, g in sel.groupby("point")}
            for n in names:
                low, high = sweep.one_at_a_time[n]
                row = {"arm": arm, "measure": measure, "parameter": n,
                       "low_value": points.loc[low, n], "baseline_value": points.loc[sweep.baseline, n],
                       "high_value": points.loc[high, n]}
                row.update(sensitivity.swing(by_point[low], by_point[sweep.baseline], by_point[high]))
                swings.append(row)
    sens = pd.concat(sens_frames, ignore_index=True)
    sens = sens[["arm", "measure", "parameter", "method", "index", "value", "low_95", "high_95"]]
    tornado = pd.DataFrame(swings, columns=["arm", "measure", "parameter", "low_value", "baseline_value", "high_value",
                                            "at_low", "at_baseline", "at_high", "swing", "swing_low_95", "swing_high_95"])
    return sens, tornado


def write_outputs(result: SweepResult, out: str | Path, command: str = "") -> dict[str, Path]:
    """results.parquet/.csv, points.csv, sensitivity.csv, tornado.csv, report.html, sweep.json."""
    from sim.outputs import write_frame, write_text

    out = Path(out)
    files = {
        "results_parquet": out / "results.parquet",
        "results_csv": out / "results.csv",
        "points_csv": out / "points.csv",
        "sensitivity_csv": out / "sensitivity.csv",
        "tornado_csv": out / "tornado.csv",
        "report": out / "report.html",
        "manifest": out / MANIFEST,
    }
    table = result.table.copy()
    for column in result.plan.columns:  # mixed-type value lists are stored as text
        if table[column].dtype == object:
            table[column] = table[column].map(lambda v: v if isinstance(v, str) else json.dumps(v))
    write_frame(files["results_parquet"], table)
    write_frame(files["results_csv"], table)
    write_frame(files["points_csv"], result.points)
    write_frame(files["sensitivity_csv"], result.sensitivity)
    write_frame(files["tornado_csv"], result.tornado)
    write_text(files["report"], html_report(result))
    manifest = _manifest(result.plan, complete=True, command=command, seconds=result.seconds,
                         tasks_reused=result.reused, tasks_computed=result.computed,
                         files={k: v.name for k, v in files.items()})
    write_text(files["manifest"], json.dumps(manifest, indent=2, default=str))
    return files


# --- the report -----------------------------------------------------------------------------


def html_report(result: SweepResult) -> str:
    """A self-contained HTML report: tornado charts, sensitivity indices, response curves."""
    from plotly.offline import get_plotlyjs

    from sim.report import arm_colours
    from sim.summary import LABELS

    sweep = result.plan
    spec = sweep.spec
    colours = arm_colours(list(sweep.arms))
    sections = []
    for measure in spec.measures:
        name = measure.partition(":")[0]
        label = LABELS.get(name, MEASURES.get(name, ("", measure))[1]) + (
            f" ({measure.partition(':')[2]})" if ":" in measure else "")
        unit = MEASURES.get(name, ("", ""))[0]
        figures = []
        for arm in sweep.arms:
            swings = result.tornado[(result.tornado["arm"] == arm) & (result.tornado["measure"] == measure)]
            if len(swings):
                figures.append(sensitivity.tornado_chart(
                    swings, f"{label}, {arm}: one parameter at a time from the baseline", unit))
            idx = result.sensitivity[(result.sensitivity["arm"] == arm) & (result.sensitivity["measure"] == measure)]
            if spec.design.method in ("sobol", "morris") and idx["value"].notna().any():
                what = "Sobol indices (95% interval)" if spec.design.method == "sobol" else "Morris mu* and sigma"
                figures.append(sensitivity.indices_chart(idx, f"{label}, {arm}: {what}"))
        part = result.table[result.table["measure"] == measure]
        for column in sweep.columns:
            if spec.design.method in ("sobol", "morris") or len(sweep.columns) > 1:
                # Design points only: the one-at-a-time points would pile up at the baseline.
                shown = part[part["role"] == "design"] if (part["role"] == "design").any() else part
            else:
                shown = part
            figures.append(sensitivity.response_chart(shown, column, f"{label} against {column}", unit, colours))
        charts = "".join(f"<div class='chart'>{f.to_html(full_html=False, include_plotlyjs=False)}</div>"
                         for f in figures)
        sections.append(f"<h2>{html.escape(label)}</h2>{charts}")
    params = "".join(
        f"<tr><td>{html.escape(p.column)}</td><td>{html.escape(p.key or ', '.join(p.scale or []))}"
        f"{'' if p.scale is None else f' x value / {p.reference:g}'}</td>"
        f"<td>{html.escape(json.dumps(list(p.range)) if p.range is not None else json.dumps(p.values))}</td>"
        f"<td>{html.escape(p.label)}</td></tr>" for p in spec.parameters)
    sens = result.sensitivity.copy()
    sens_table = sens.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-", border=0)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>caresim sweep: {html.escape(spec.name)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}}
table{{border-collapse:collapse;font-size:0.85em}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
td:first-child,th{{text-align:left}}.chart{{margin:1em 0}}</style></head><body>
<h1>Sweep: {html.escape(spec.name)}</h1>
<p>{html.escape(spec.description)}</p>
<p>Base config {html.escape(spec.base)} ({html.escape(sweep.base.name)}, SHA-256 {sweep.base.digest()[:16]}&hellip;);
design {spec.design.method}, {len(sweep.points)} points ({len(sweep.design_points)} design rows
{'plus the baseline and each parameter at its low and high end' if sweep.baseline is not None else ''}),
{spec.replications} replications each, seed {sweep.seed}, {spec.engine} engine,
{'with' if spec.uncertainty else 'without'} parameter uncertainty; sweep hash {sweep.spec_hash[:16]}&hellip;.
Every point ran on the same simulated people and random numbers in each replication, so differences between
points are the parameters', not noise. Measures are for the whole {sweep.base.run.contract_years}-year contract.</p>
<h2>Parameters</h2><table><thead><tr><th>Name</th><th>Key</th><th>Range or values</th><th>Label</th></tr></thead>
<tbody>{params}</tbody></table>
{''.join(sections)}
<h2>Sensitivity indices</h2>{sens_table}
</body></html>"""


# --- command line ---------------------------------------------------------------------------


def add_sweep_parser(sub) -> None:
    """Add `caresim sweep` to the subparsers *sub* of the caresim command."""
    p = sub.add_parser("sweep", help="run a parameter sweep (grid, Latin hypercube, Sobol, Morris) and its "
                                     "sensitivity analysis, locally or on a Dask cluster")
    p.add_argument("sweep", help="sweep file, e.g. configs/sweeps/hub_size.yaml")
    p.add_argument("--out", help="output folder (default: out/sweep-<sweep file name>)")
    p.add_argument("--workers", type=int, help="local processes (default: all cores; ignored with --scheduler)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the tasks on this Dask scheduler (start `dask scheduler` and `dask worker`s first)")
    p.add_argument("--fresh", action="store_true", help="discard finished tasks in --out from an earlier sweep")
    p.add_argument("--check", action="store_true", help="validate the sweep and list its points; run nothing")
    p.set_defaults(func=cmd_sweep)


class _Bar:
    """A tqdm progress bar of tasks, created with the tasks already finished."""

    def __init__(self, what: str):
        self.what = what
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, initial=done, desc=self.what, unit="task", file=sys.stderr,
                            dynamic_ncols=True, smoothing=0.1)
        else:
            self.bar.update(done - self.bar.n)

    def write(self, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_sweep(args) -> int:
    if getattr(args, "workers", None) is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    sweep = plan(args.sweep)
    spec = sweep.spec
    out = Path(args.out) if args.out else Path("out") / f"sweep-{Path(args.sweep).stem}"
    print(f"{spec.name}: {spec.design.method} design, {len(sweep.points)} points x {spec.replications} replications "
          f"= {sweep.n_tasks} tasks, arms: {', '.join(sweep.arms)}; hash {sweep.spec_hash[:12]}")
    if args.check:
        with pd.option_context("display.max_rows", 200, "display.width", 200):
            print(points_frame(sweep).to_string(index=False))
        print("\nThe sweep is valid; every point's config checked. Nothing was run (--check).")
        return 0
    bar = _Bar(spec.name)
    try:
        result = run_sweep(sweep, out, workers=args.workers, scheduler=args.scheduler, fresh=args.fresh,
                           progress=bar, notify=lambda m: bar.write(f"caresim: {m}"),
                           command=" ".join(sys.argv))
    finally:
        bar.close()
    print(f"\n{result.computed} task(s) run, {result.reused} reused from {out / TASKS_DIR}/, {result.seconds:.1f} s")
    print(_sensitivity_text(result))
    print(f"\nResults written to {out}/ (results.parquet, results.csv, points.csv, sensitivity.csv, tornado.csv, "
          f"report.html, sweep.json)")
    return 0


def _sensitivity_text(result: SweepResult) -> str:
    from sim.summary import format_number

    lines = []
    tornado = result.tornado
    if len(tornado):
        lines.append("\nOne at a time (measure at the low / baseline / high end of each parameter):")
        for (arm, measure), part in tornado.groupby(["arm", "measure"], sort=False):
            lines.append(f"  {arm}, {measure}:")
            for r in part.reindex(part["swing"].abs().sort_values(ascending=False).index).itertuples():
                lines.append(f"    {r.parameter:32s} {format_number(r.at_low, measure):>12s} / "
                             f"{format_number(r.at_baseline, measure):>12s} / {format_number(r.at_high, measure):>12s}")
    method = result.plan.spec.design.method
    if method in ("sobol", "morris"):
        shown = ("S1", "ST") if method == "sobol" else ("mu_star", "sigma")
        lines.append(f"\n{'Sobol S1 / ST' if method == 'sobol' else 'Morris mu* / sigma'}:")
        sens = result.sensitivity
        for (arm, measure), part in sens.groupby(["arm", "measure"], sort=False):
            lines.append(f"  {arm}, {measure}:")
            for parameter, group in part.groupby("parameter", sort=False):
                v = group.set_index("index")["value"]
                lines.append(f"    {parameter:32s} " + " / ".join(f"{v.get(s, math.nan):.3g}" for s in shown))
    return "\n".join(lines)


__all__ = ["SweepSpec", "SweepPlan", "SweepError", "Task", "plan", "run_sweep", "run_task", "collect",
           "add_sweep_parser"]
