"""caresim in a browser: compare the care models on a place, and change the place without YAML.

A thin front end: widgets, charts and session state. Every number comes from the packaged
model (`sim/`, `models/`); inputs are applied with `sim.config.with_changes`, so the config's
own validation decides what is allowed. Page text lives in `app_pages/`.

Run with ``streamlit run app.py``. ``CARESIM_APP_CONFIG`` names another starting config
(the tests use configs/small.yaml); ``CARESIM_APP_WORKERS`` the number of worker processes.
"""

from __future__ import annotations

import html
import math
import os
import types
import typing
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from models.registry import kinds
from sim import report
from sim.config import (
    MAX_UPLOAD_BYTES,
    ConfigError,
    Scenario,
    central,
    crisis_type_names,
    parse,
    support,
    to_yaml,
    with_changes,
)
from sim.experiment import run_experiment
from sim.measures import MEASURES
from sim.summary import compare, format_number, summarise

HERE = Path(__file__).resolve().parent
PAGES = HERE / "app_pages"
CONFIG_PATH = HERE / os.environ.get("CARESIM_APP_CONFIG", "configs/bnes.yaml")
DEFAULT_REPLICATIONS = 5
MAX_REPLICATIONS = 500
WORKERS = max(1, int(os.environ.get("CARESIM_APP_WORKERS", min(2, os.cpu_count() or 1))))
UPLOAD_MB = max(1, math.ceil(MAX_UPLOAD_BYTES / 1_000_000))

# The cards on the comparison tab: measure, label, unit, which direction is better.
CARDS = (
    ("admissions", "Admissions", "emergency admissions over the contract", "lower"),
    ("admissions_avoided", "Admissions avoided", "fewer admissions than the status quo", "higher"),
    ("mean_los_days", "Mean stay", "days in an acute bed per admission", "lower"),
    ("delayed_days", "Delayed days", "bed days after medically fit", "lower"),
    ("cost_total_gbp", "Total cost", "GBP over the contract, undiscounted", "lower"),
    ("present_value_gbp", "Present value", "GBP, discounted", "lower"),
)

# Inputs of the place: key path, label, unit, meaning.
PLACE = (
    ("population.size", "People in the place", "people",
     "Residents the synthetic population is made of."),
    ("services.acute_beds.capacity", "Acute beds", "beds",
     "General and acute beds for the place's emergency admissions."),
    ("services.escalation_beds.capacity", "Escalation beds", "beds",
     "Extra beds opened, at extra cost, when every acute bed is full."),
)
COMMUNITY = (
    ("urgent_community_response", "Urgent community response", "people at once",
     "A crisis team that sees people at home within hours."),
    ("virtual_ward", "Virtual ward", "places", "Hospital-level care at home."),
    ("step_up_beds", "Step-up community beds", "beds", "A community bed instead of a hospital bed."),
    ("mental_health_crisis_beds", "Mental-health crisis beds", "beds",
     "A crisis bed instead of admission for a mental-health crisis."),
)
DOWNSTREAM = (
    ("step_down_beds", "Step-down beds", "beds", "Discharge pathway 2: a community bed after hospital."),
    ("reablement", "Reablement", "people at once",
     "Discharge pathway 1: up to six weeks of support at home to regain independence."),
    ("home_care", "Home-care packages", "packages", "Long-term care at home."),
    ("care_homes", "Care-home places", "places", "Permanent places; discharge pathway 3."),
)
UNIT_COSTS = (
    ("costs.admission.gbp", "Emergency admission", "GBP each", "Cost of a non-elective episode, before excess bed days."),
    ("costs.excess_bed_day.gbp", "Excess bed day", "GBP a day", "Each acute bed day past the trim point."),
    ("costs.emergency_attendance.gbp", "Emergency department attendance", "GBP each", "Each ED attendance."),
    ("costs.delayed_day.gbp", "Delayed day", "GBP a day", "Each day in an acute bed after being medically fit."),
)
CRISIS_WORDS = {
    "fall_frailty": "falls and frailty",
    "mental_health": "mental-health crisis",
    "care_breakdown": "breakdown of care at home",
    "acute_illness": "acute illness",
}
# Distributions an effect size can have: their parts and what each part means.
DISTRIBUTIONS = {
    "single value": (),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "beta": ("alpha", "beta", "low", "high"),
    "lognormal": ("median", "sigma"),
    "normal": ("mean", "sd", "low", "high"),
    "fixed": ("value",),
}
DISTRIBUTION_WORDS = {
    "single value": "a single value (no uncertainty)",
    "uniform": "uniform: any value between low and high",
    "triangular": "triangular: low, most likely, high",
    "beta": "beta", "lognormal": "lognormal", "normal": "normal", "fixed": "fixed",
}
PART_WORDS = {"low": "low", "mode": "most likely", "high": "high", "alpha": "alpha", "beta": "beta",
              "median": "median", "sigma": "log-scale spread", "mean": "mean", "sd": "standard deviation",
              "value": "value"}

state = st.session_state


# --- loading, running and caching ----------------------------------------------------------


@st.cache_data(show_spinner=False)
def _default_config_text(path: str) -> bytes:
    return Path(path).read_bytes()


def _load_default() -> Scenario:
    return parse(_default_config_text(str(CONFIG_PATH)), source=str(CONFIG_PATH.relative_to(HERE)
                                                                    if CONFIG_PATH.is_relative_to(HERE)
                                                                    else CONFIG_PATH))


def comparator_of(scenario: Scenario) -> str:
    """The arm the others are compared with: the status quo where there is one."""
    return next((a.name for a in scenario.arms if a.kind == "status_quo"), scenario.arms[0].name)


@st.cache_data(show_spinner=False, max_entries=24)
def compute(config_digest: str, replications: int, seed: int, uncertainty: bool,
            _scenario: Scenario, _ran: list):
    """Every arm of *_scenario* and its comparison table, cached by the config's digest.

    The progress bar is made in here, so that a cache hit replays its final state; *_ran*
    is appended to only when the function really runs.
    """
    _ran.append(True)
    bar = st.progress(0.0, text="Starting...")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Replication {done} of {total} done")

    result = run_experiment(_scenario, replications=replications, seed=seed, workers=WORKERS,
                            uncertainty=uncertainty, progress=progress)
    bar.progress(1.0, text=f"Done: {replications} replications of {len(_scenario.arms)} arms")
    table = compare(result.tidy, comparator_of(_scenario), _scenario.run.bcf_admissions_target)
    return result, table


def run_key(scenario: Scenario) -> tuple:
    return (scenario.digest(), int(state.replications), scenario.run.seed, bool(state.uncertainty))


def run_now(scenario: Scenario, where) -> None:
    """Run (or fetch from the cache) the comparison of *scenario* and keep it on screen."""
    key = run_key(scenario)
    ran: list[bool] = []
    with where:
        try:
            result, table = compute(*key, _scenario=scenario, _ran=ran)
        except Exception as exc:  # a model or engine failure: say so, keep what is on screen
            st.error(f"The run failed: {exc}")
            return
        if not ran:
            st.caption("From the cache: these inputs have been run before.")
    state.shown = {"key": key, "result": result, "table": table}


# --- inputs --------------------------------------------------------------------------------


def source_of(scenario: Scenario, path: str) -> str:
    """The source the config gives for *path*, or for the nearest key above it."""
    parts = path.split(".")
    while parts:
        found = scenario.sources.get(".".join(parts))
        if found:
            return found
        parts.pop()
    return "not given in this config"


def wkey(path: str, *parts: str) -> str:
    """Widget key: a fresh set of widgets for every newly loaded config."""
    return "|".join((str(state.generation), path, *parts))


def note(scenario: Scenario, path: str, meaning: str, unit: str) -> None:
    text = f"{meaning}" + (f" Unit: {unit}." if unit else "")
    st.caption(f"{text}  \nSource: {source_of(scenario, path)}")


def _step(value: float) -> float:
    if value == 0:
        return 0.01
    return 10.0 ** (math.floor(math.log10(abs(value))) - 1) if abs(value) >= 1 else 0.01 if abs(value) >= 0.1 else 0.001


def _format(step: float) -> str:
    return f"%.{max(0, -math.floor(math.log10(step)) + 1)}f" if step < 1 else "%.0f"


def number(label: str, value: float | int, key: str, *, integer: bool = False,
           low: float | None = None, high: float | None = None, step: float | None = None,
           fmt: str | None = None) -> float | int:
    """A number box (or a slider for a bounded whole number); returns the value shown."""
    if integer:
        low_i = None if low is None else int(low)
        high_i = None if high is None else int(high)
        if low_i is not None and high_i is not None and 10 <= high_i - low_i <= 100_000:
            return st.slider(label, low_i, high_i, int(value), step=int(step or max(1, (high_i - low_i) // 20)), key=key)
        return st.number_input(label, min_value=low_i, max_value=high_i, value=int(value),
                               step=int(step or max(1, 10 ** (len(str(abs(int(value)))) - 2))), key=key)
    step = float(step or _step(float(value)))
    return st.number_input(label, min_value=None if low is None else float(low),
                           max_value=None if high is None else float(high), value=float(value),
                           step=step, format=fmt or _format(step), key=key)


class Inputs:
    """Collects the changes the widgets make to the base config, and where to show problems."""

    def __init__(self, base: Scenario):
        self.base = base
        self.data = base.model_dump(mode="json")
        self.changes: dict[str, Any] = {}
        self.problems: list[tuple[str, int | None, str]] = []
        self.slots: dict[str, Any] = {}
        self.arm_params: dict[int, dict[str, Any]] = {}

    def value(self, path: str) -> Any:
        target: Any = self.data
        for part in path.split("."):
            target = target[int(part)] if isinstance(target, list) else target[part]
        return target

    def slot(self, path: str) -> None:
        self.slots[path] = st.empty()

    def set(self, path: str, new: Any) -> None:
        if new != self.value(path):
            self.changes[path] = new

    # One row: the widget on the left, meaning, unit and source on the right.
    def row(self, path: str, label: str, unit: str, meaning: str, *, integer: bool = False,
            low: float | None = None, high: float | None = None, step: float | None = None,
            scale: float = 1.0, fmt: str | None = None) -> None:
        left, right = st.columns([2, 3], vertical_alignment="center")
        with right:
            note(self.base, path, meaning, unit)
        with left:
            base = self.value(path)
            if isinstance(base, list):  # one capacity per contract year
                text = st.text_input(f"{label} ({unit}), one per contract year",
                                     ", ".join(str(v) for v in base), key=wkey(path))
                try:
                    values = [int(v) for v in text.replace(";", ",").split(",") if v.strip()]
                except ValueError:
                    self.problems.append((path, None, "give whole numbers separated by commas"))
                else:
                    self.set(path, values)
            else:
                shown = number(f"{label} ({unit})", base * scale if not integer else base, wkey(path),
                               integer=integer, low=low, high=high, step=step, fmt=fmt)
                if shown != (base * scale if not integer else base):
                    self.changes[path] = int(shown) if integer else shown / scale
            self.slot(path)

    def choice(self, path: str, label: str, options: dict[str, str], meaning: str) -> None:
        left, right = st.columns([2, 3], vertical_alignment="center")
        with right:
            note(self.base, path, meaning, "")
        with left:
            base = self.value(path)
            picked = st.selectbox(label, list(options), index=list(options).index(base),
                                  format_func=options.get, key=wkey(path))
            self.set(path, picked)
            self.slot(path)

    # --- a care model's parameters, from its schema ----------------------------------------

    def arm(self, i: int, scenario: Scenario) -> None:
        arm = scenario.arms[i]
        model = kinds()[arm.kind]
        fields = model.Params.model_fields
        st.markdown(f"**{html.escape(getattr(model, 'title', arm.kind))}** (`{arm.kind}`)")
        if arm.description:
            st.caption(arm.description)
        if not fields:
            st.info("This arm has no parameters of its own: it runs the place as set on the "
                    "**Change the place** tab.")
            return
        params = self.data["arms"][i]["params"]
        shared = _common_fields()
        own = [n for n in fields if n not in shared]
        common = [n for n in fields if n in shared]
        for title, names in (("What it does and what it costs", own),
                             ("Implementation (every model has these)", common)):
            if not names:
                continue
            st.markdown(f"##### {title}")
            for name in names:
                info = fields[name]
                base = params[name] if name in params else _jsonable(info.get_default(call_default_factory=True))
                new = self.param(i, name, info, base, scenario)
                if new != base:
                    self.arm_params.setdefault(i, dict(params))[name] = new

    def param(self, i: int, name: str, info, base: Any, scenario: Scenario) -> Any:
        path = f"arms.{i}.params.{name}"
        label = name.replace("_", " ").capitalize().replace("gbp", "GBP").replace("Gbp", "GBP")
        meaning = info.description or ""
        bounds = getattr(kinds()[scenario.arms[i].kind].Params, "bounds", {}).get(name)
        left, right = st.columns([2, 3], vertical_alignment="top")
        with right:
            note(scenario, path, meaning, "")
        with left:
            new = self._param_widget(path, label, info, base, bounds, scenario)
            self.slot(path)
        return new

    def _param_widget(self, path, label, info, base, bounds, scenario) -> Any:
        annotation = info.annotation
        low, high = _limits(info.metadata)
        if _is_uncertain(annotation):
            return self.uncertain(path, label, base, bounds)
        if typing.get_origin(annotation) is typing.Literal:
            options = list(typing.get_args(annotation))
            return st.selectbox(label, options, index=options.index(base) if base in options else 0,
                                key=wkey(path))
        if annotation is bool:
            return st.checkbox(label, value=bool(base), key=wkey(path))
        if annotation is int:
            shown = number(label, base, wkey(path), integer=True, low=low, high=high)
            return base if shown == base else shown
        if annotation is float:
            shown = number(label, base, wkey(path), low=low, high=high)
            return base if shown == base else shown
        origin = typing.get_origin(annotation)
        if origin is list and typing.get_args(annotation) == (str,):
            known = crisis_type_names(scenario)
            options = known + [v for v in base if v not in known]
            picked = st.multiselect(label, options, default=list(base), format_func=_crisis_words,
                                    key=wkey(path))
            return base if picked == list(base) else picked
        if origin is dict and isinstance(base, dict):
            st.markdown(label)
            out = dict(base)
            for k, v in base.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    shown = number(f"{k.replace('_', ' ')}", v, wkey(path, k), integer=isinstance(v, int), low=0)
                    if shown != v:
                        out[k] = shown
            return base if out == base else out
        st.text_input(label, str(base), disabled=True, key=wkey(path),
                      help="Change this one in the YAML and upload it.")
        return base

    def uncertain(self, path: str, label: str, base: Any, bounds) -> Any:
        """An effect size: a single value or a distribution, each part a number box."""
        current = base.get("dist") if isinstance(base, dict) else "single value"
        options = ["single value", "uniform", "triangular"]
        if current not in options:
            options.append(current)
        kind = st.selectbox(f"{label}: uncertainty", options, index=options.index(current),
                            format_func=DISTRIBUTION_WORDS.get, key=wkey(path, "dist"))
        low, high = bounds if bounds else (None, None)
        low = None if low is None or math.isinf(low) else low
        high = None if high is None or math.isinf(high) else high
        if kind == current:
            start = base
        else:
            start = _convert(base, kind)
        if kind == "single value":
            shown = number(label, start, wkey(path, kind), low=low, high=high)
            return base if kind == current and shown == base else shown
        parts = DISTRIBUTIONS[kind]
        columns = st.columns(len(parts))
        out = dict(start)
        changed = kind != current
        for column, part in zip(columns, parts, strict=True):
            with column:
                value = start.get(part)
                bounded = part in ("low", "mode", "high", "value", "median", "mean")
                if value is None:
                    shown = st.number_input(PART_WORDS[part], value=None, key=wkey(path, kind, part),
                                            format="%.4f", placeholder="none")
                else:
                    shown = number(PART_WORDS[part], value, wkey(path, kind, part),
                                   low=low if bounded else 0.0, high=high if bounded else None,
                                   step=_step(max(abs(float(v)) for v in start.values()
                                                  if isinstance(v, (int, float)) and not isinstance(v, bool)) or 1.0))
                if shown != value:
                    out[part] = shown
                    changed = True
        return out if changed else base


def _common_fields() -> set[str]:
    try:
        from models.common import CommonParams
    except ImportError:
        return set()
    return set(CommonParams.model_fields)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def _limits(metadata) -> tuple[float | None, float | None]:
    low = high = None
    for item in metadata:
        low = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else low
        high = getattr(item, "le", None) if getattr(item, "le", None) is not None else high
    return low, high


def _is_uncertain(annotation) -> bool:
    """Whether a schema type is a number or a distribution (the config's Uncertain)."""
    from sim.config import Fixed

    def flat(tp):
        while typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            return [x for arg in typing.get_args(tp) for x in flat(arg)]
        return [tp]

    return Fixed in flat(annotation)


def _convert(base: Any, kind: str) -> Any:
    """A starting point for a new kind of distribution, from the value the config has."""
    if isinstance(base, dict):
        middle = central(_as_uncertain(base))
        lo, hi = support(_as_uncertain(base))
    else:
        middle = float(base)
        lo = hi = middle
    lo = middle if math.isinf(lo) else lo
    hi = middle if math.isinf(hi) else hi
    if kind == "single value":
        return middle
    if kind == "uniform":
        return {"dist": "uniform", "low": lo, "high": hi}
    return {"dist": "triangular", "low": lo, "mode": min(max(middle, lo), hi), "high": hi}


def _as_uncertain(value: dict):
    from pydantic import TypeAdapter

    from sim.config import Uncertain

    return TypeAdapter(Uncertain).validate_python(value)


def _crisis_words(name: str) -> str:
    if name.startswith("exacerbation_"):
        condition = name.removeprefix("exacerbation_").replace("_", " ")
        return ("COPD" if condition == "copd" else condition) + " flare-up"
    return CRISIS_WORDS.get(name, name.replace("_", " "))


def place_inputs(inputs: Inputs, base: Scenario) -> None:
    st.markdown("#### The place")
    for path, label, unit, meaning in PLACE:
        inputs.row(path, label, unit, meaning, integer=True, low=1 if path == "population.size" else 0)
    inputs.choice("services.acute_beds.when_full", "When every acute bed is full",
                  {"escalate": "open an escalation bed (extra cost)", "wait": "the patient waits for a bed"},
                  "What happens to an admission when no acute bed is free.")
    st.markdown("#### Community services that can take a crisis instead of hospital")
    takes: dict[str, list[str]] = {}
    for crisis, diversion in base.flow.diversion.items():
        if diversion.service:
            takes.setdefault(diversion.service, []).append(_crisis_words(crisis))
    for name, label, unit, meaning in COMMUNITY:
        crises = ", ".join(takes.get(name, [])) or "no crisis type in this config"
        inputs.row(f"services.{name}.capacity", label, unit, f"{meaning} Takes: {crises}.", integer=True, low=0)
    st.markdown("#### Services people are discharged to")
    for name, label, unit, meaning in DOWNSTREAM:
        inputs.row(f"services.{name}.capacity", label, unit, meaning, integer=True, low=0)
    st.markdown("#### Contract and money")
    inputs.row("run.contract_years", "Contract years", "years",
               "Years of the contract counted in the results (after the warm-up year).",
               integer=True, low=1, high=30)
    inputs.row("run.discount_rate", "Discount rate", "% a year",
               "Rate the present value discounts each later year's cost by.",
               low=0.0, high=20.0, step=0.1, scale=100.0, fmt="%.2f")
    inputs.row("run.bcf_admissions_target", "Better Care Fund target", "% fewer emergency admissions",
               "Admissions cut a model must reach to count as meeting the target.",
               low=0.0, high=100.0, step=0.5, scale=100.0, fmt="%.2f")
    inputs.row("run.seed", "Random seed", "a whole number",
               "Any number; the same seed gives the same results.", integer=True, low=0, step=1)
    with st.expander("Unit costs"):
        for path, label, unit, meaning in UNIT_COSTS:
            inputs.row(path, label, unit, meaning, low=0.0, step=1.0, fmt="%.2f")


def apply_inputs(inputs: Inputs) -> Scenario | None:
    """The base config with the widgets' changes, or None with the problems kept in *inputs*."""
    changes = dict(inputs.changes)
    for i, params in inputs.arm_params.items():
        changes[f"arms.{i}.params"] = params
    if inputs.problems:
        return None
    if not changes:
        return inputs.base
    try:
        return with_changes(inputs.base, changes)
    except ConfigError as exc:
        inputs.problems.extend(exc.problems)
    except (KeyError, ValueError) as exc:
        inputs.problems.append(("", None, str(exc)))
    return None


def show_problems(inputs: Inputs) -> list[tuple[str, str]]:
    """Put each problem under its widget; return those no widget owns."""
    owned: dict[str, list[str]] = {}
    loose = []
    for path, _line, message in inputs.problems:
        owner = max((p for p in inputs.slots if path == p or path.startswith(p + ".")), key=len, default=None)
        if owner is None:
            loose.append((path, message))
        else:
            owned.setdefault(owner, []).append(f"`{path}`: {message}")
    for owner, messages in owned.items():
        inputs.slots[owner].error("  \n".join(messages))
    return loose


# --- results -------------------------------------------------------------------------------


def money(value: float) -> str:
    text = format_number(value)
    if text == "-":
        return text
    return ("-£" + text[1:]) if text.startswith("-") else "£" + text


def fmt(value: float, measure: str) -> str:
    return money(value) if measure.endswith("_gbp") else format_number(value, measure)


def signed(value: float, measure: str) -> str:
    text = fmt(value, measure)
    return text if text.startswith("-") or text == "-" or value == 0 else "+" + text


def cards(table: pd.DataFrame, comparator: str, colours: dict[str, str]) -> None:
    arms = list(pd.unique(table["arm"]))
    columns = st.columns(len(arms))
    for i, (arm, column) in enumerate(zip(arms, columns, strict=True)):
        part = table[table["arm"] == arm].set_index("measure")
        with column.container(border=True, key=f"card_{i}"):
            st.markdown(f"<span style='color:{colours[arm]};font-size:1.3em'>&#9632;</span> "
                        f"<b>{html.escape(arm)}</b>", unsafe_allow_html=True)
            first = part.iloc[0]
            if arm == comparator:
                st.caption("The comparator: today's services.")
            else:
                st.caption(f"Saves money in {first['chance_saves_money'] * 100:.0f}% of runs; "
                           f"meets the BCF target in {first['chance_meets_bcf_target'] * 100:.0f}%.")
            for measure, label, unit, better in CARDS:
                if measure not in part.index:
                    continue
                row = part.loc[measure]
                if arm == comparator and measure == "admissions_avoided":
                    st.metric(label, "-", help="The comparator avoids none by definition.")
                    st.caption(f"{unit}  \nnone: this is the comparator")
                    continue
                delta = None if arm == comparator else signed(row["difference"], measure)
                st.metric(label, fmt(row["mean"], measure), delta=delta,
                          delta_color="inverse" if better == "lower" else "normal",
                          help=MEASURES.get(measure, ("", label))[1] if measure in MEASURES else
                          "Admissions of the status quo minus this arm's, in the same runs.")
                lines = [unit]
                if not math.isnan(row["low_95"]):
                    lines.append(f"95% interval {fmt(row['low_95'], measure)} to {fmt(row['high_95'], measure)}")
                if arm != comparator and not math.isnan(row["difference_low_95"]):
                    lines.append(f"difference {signed(row['difference_low_95'], measure)} to "
                                 f"{signed(row['difference_high_95'], measure)}")
                if not math.isnan(row["chance_best"]):
                    lines.append(f"best in {row['chance_best'] * 100:.0f}% of runs")
                st.caption("  \n".join(lines))


def table_for_people(table: pd.DataFrame, comparator: str) -> pd.DataFrame:
    rows = []
    for r in table.itertuples():
        rows.append({
            "Arm": r.arm, "Measure": r.label, "Mean": fmt(r.mean, r.measure),
            "95% interval": f"{fmt(r.low_95, r.measure)} to {fmt(r.high_95, r.measure)}",
            f"Difference from {comparator}": "" if r.arm == comparator else signed(r.difference, r.measure),
            "Difference 95% interval": "" if r.arm == comparator else
            f"{signed(r.difference_low_95, r.measure)} to {signed(r.difference_high_95, r.measure)}",
            "Chance best": "" if math.isnan(r.chance_best) else f"{r.chance_best * 100:.0f}%",
        })
    return pd.DataFrame(rows)


def chart(key: str, build, *args, variant: str = "") -> None:
    """A plotly chart, built once per result on screen and *variant* (reruns reuse it)."""
    memo = state.setdefault("figures", {})
    name = (state.shown["key"], key, variant)
    if name not in memo:
        fig = build(*args)
        # Bands without corner dots; whole contract years.
        fig.update_traces(mode="lines", selector=dict(fill="toself"))
        if fig.layout.xaxis.title.text == "Contract year":
            fig.update_xaxes(dtick=1)
        if len(memo) > 64:
            memo.clear()
        memo[name] = fig
    st.plotly_chart(memo[name], width="stretch", key=key, config={"displaylogo": False})


def results(tabs: dict, shown: dict, current_key: tuple | None) -> None:
    result, table = shown["result"], shown["table"]
    scenario = result.scenario
    comparator = comparator_of(scenario)
    colours = report.arm_colours(result.arms)
    reps = shown["key"][1]
    with tabs["Comparison"]:
        st.markdown(f"**{html.escape(scenario.name)}**: {scenario.population.size:,} people, "
                    f"{scenario.run.contract_years}-year contract from {scenario.run.start_year}, "
                    f"{reps} replications, seed {scenario.run.seed}"
                    f"{'' if shown['key'][3] else ', central effect sizes (no parameter draws)'}.")
        if current_key is not None and current_key != shown["key"]:
            st.warning("These results are from before the inputs changed. Press **Run** to update them.")
        st.caption(f"Arrows give the difference from {html.escape(comparator)}; green where it is better, red "
                   "where it is worse. Each number has its 95% interval beneath it.")
        cards(table, comparator, colours)
        with st.expander("Every measure as a table"):
            st.dataframe(table_for_people(table, comparator), hide_index=True)
    tidy, daily = result.tidy, result.daily
    with tabs["Over the years"]:
        chart("traj_admissions", report.trajectory_chart, tidy, "admissions", "Emergency admissions")
        chart("traj_los", report.trajectory_chart, tidy, "mean_los_days", "Mean length of stay (days)")
        chart("traj_delayed", report.trajectory_chart, tidy, "delayed_days", "Delayed days")
        chart("traj_cost", report.trajectory_chart, tidy, "cost_total_gbp", "Total cost (GBP)")
        plain = [m for m in MEASURES if m in set(tidy.loc[tidy["detail"] == "", "measure"])]
        picked = st.selectbox("Another measure", plain, index=plain.index("occupancy") if "occupancy" in plain else 0,
                              format_func=lambda m: f"{MEASURES[m][1]} ({MEASURES[m][0]})", key="traj_pick")
        chart("traj_pick_chart", report.trajectory_chart, tidy, picked,
              f"{MEASURES[picked][1]} ({MEASURES[picked][0]})", variant=picked)
    with tabs["Money"]:
        chart("payer", report.cost_by_payer_chart, tidy)
        chart("ce_plane", report.cost_effectiveness_chart, tidy, comparator)
        st.caption("Each dot is one replication. Right of the vertical line: admissions avoided; below the "
                   "horizontal line: money saved. Dots low and to the right are better and cheaper.")
        chart("diff_cost", report.differences_chart, table, "cost_total_gbp", comparator)
        chart("diff_admissions", report.differences_chart, table, "admissions", comparator)
        lines = tidy[(tidy["year"] == 0) & (tidy["measure"] == "cost_gbp")]
        by_line = lines.groupby(["detail", "arm"], sort=False)["value"].mean().unstack()[result.arms]
        st.markdown("**Cost by service line over the contract (mean, GBP)**")
        st.dataframe(by_line.map(money).rename_axis("Service line"))
    with tabs["Hospital and discharge"]:
        series = ["acute_beds_occupied", "delayed_patients"] + [
            c for c in daily.columns if c.endswith(("_occupied", "_waiting")) and c != "acute_beds_occupied"]
        picked = st.selectbox("Daily series", series, format_func=_series_words, key="daily_pick")
        chart("occupancy", report.occupancy_chart, daily, picked, _series_words(picked), variant=picked)
        chart("pathways", report.pathway_chart, tidy)
    with tabs["Localities"]:
        for measure, title in (("admissions_by_cluster", "GP cluster"), ("admissions_by_forum", "Area forum")):
            chart(measure, report.locality_chart, tidy, measure, title)
            part = tidy[(tidy["year"] == 0) & (tidy["measure"] == measure)]
            means = part.groupby(["detail", "arm"], sort=False)["value"].mean().unstack()[result.arms]
            change = means.sub(means[comparator], axis=0).div(means[comparator], axis=0).drop(columns=comparator)
            st.markdown(f"**Change in emergency admissions from {html.escape(comparator)} by {title.lower()} "
                        "(mean over the contract)**")
            st.dataframe(change.map(lambda v: f"{v * 100:+.1f}%").rename_axis(title))
    with tabs["Chances"]:
        chances = table.drop_duplicates("arm")
        st.dataframe(pd.DataFrame({
            "Arm": chances["arm"],
            "Chance it saves money": [("" if a == comparator else f"{v * 100:.0f}%")
                                      for a, v in zip(chances["arm"], chances["chance_saves_money"], strict=True)],
            f"Chance it meets the BCF target ({scenario.run.bcf_admissions_target * 100:.1f}% fewer admissions)":
                [f"{v * 100:.0f}%" for v in chances["chance_meets_bcf_target"]],
            "Admissions cut (mean)": [f"{v * 100:.1f}%" for v in chances["admissions_reduction_mean"]],
        }), hide_index=True)
        chart("best", report.best_chart, table)
        st.caption(f"Shares of the {reps} replications. Few replications give rough chances.")


def _series_words(column: str) -> str:
    if column == "delayed_patients":
        return "Medically fit patients still in acute beds"
    name, _, what = column.rpartition("_")
    words = name.replace("_", " ")
    return f"{words[:1].upper()}{words[1:]}: {'places in use' if what == 'occupied' else 'people waiting'}"


def validation_table(shown: dict) -> pd.DataFrame | None:
    try:
        from validation.calibration import load_targets
    except ImportError:
        return None
    result = shown["result"]
    means = summarise(result.tidy[result.tidy["arm"] == comparator_of(result.scenario)])
    rows = []
    for t in load_targets():
        found = means[(means["measure"] == t.measure) & (means["detail"] == t.detail)]
        value = float(found["mean"].iloc[0]) if len(found) else math.nan
        rows.append({"Measure": MEASURES.get(t.measure, ("", t.measure))[1] + (f" ({t.detail})" if t.detail else ""),
                     "Published figure": format_number(t.value, t.measure),
                     "Accepted range": f"{format_number(t.low, t.measure)} to {format_number(t.high, t.measure)}",
                     "Status quo on screen": format_number(value, t.measure),
                     "Within range": "" if math.isnan(value) else ("yes" if t.low <= value <= t.high else "no"),
                     "Source": t.source})
    return pd.DataFrame(rows)


def about(scenario: Scenario) -> None:
    st.markdown((PAGES / "about.md").read_text(encoding="utf-8"))
    st.markdown("### The care models in this config")
    for i, arm in enumerate(scenario.arms):
        model = kinds().get(arm.kind)
        st.markdown(f"**{html.escape(arm.name)}** ({html.escape(getattr(model, 'title', arm.kind))}). "
                    f"{html.escape(arm.description)}  \n*Source:* {html.escape(source_of(scenario, f'arms.{i}'))}")
    st.markdown("### Validation: the status quo against published figures")
    shown = state.get("shown")
    if shown:
        table = validation_table(shown)
        if table is not None:
            st.caption(f"For the results on screen ({html.escape(shown['result'].scenario.name)}); the targets are "
                       "for the default place, so other places need not meet them.")
            st.dataframe(table, hide_index=True)
    else:
        st.caption("Run the comparison to see this table.")
    st.markdown("### Sources of every number in this config")
    st.dataframe(pd.DataFrame({"Key": list(scenario.sources), "Source": list(scenario.sources.values())}),
                 hide_index=True)


# --- the page ------------------------------------------------------------------------------


def upload(sidebar) -> None:
    """Read an uploaded config; a bad one keeps its problems and leaves the base alone."""
    uploaded = sidebar.file_uploader("Upload a config (YAML)", type=["yaml", "yml"], key="upload",
                                     max_upload_size=UPLOAD_MB,
                                     help=f"A caresim config, at most {MAX_UPLOAD_BYTES // 1000:,} kB.")
    if uploaded is None:
        state.upload_id = None
        state.upload_error = None
        return
    if uploaded.file_id == state.upload_id:
        return
    state.upload_id = uploaded.file_id
    try:
        scenario = parse(uploaded.getvalue(), source=uploaded.name)
    except ConfigError as exc:
        state.upload_error = exc
        return
    state.upload_error = None
    state.base = scenario
    state.base_name = uploaded.name
    state.generation += 1


def back_to_default() -> None:
    state.base = _load_default()
    state.base_name = str(CONFIG_PATH.name)
    state.generation += 1


def main() -> None:
    st.set_page_config(page_title="caresim: compare care models", layout="wide")
    if "base" not in state:
        try:
            state.base = _load_default()
        except (ConfigError, OSError) as exc:
            st.error(exc.format() if isinstance(exc, ConfigError) else str(exc))
            st.stop()
        state.base_name = CONFIG_PATH.name
        state.generation = 0
        state.upload_id = None
        state.upload_error = None
        state.shown = None
    sidebar = st.sidebar
    sidebar.title("caresim")
    sidebar.caption("Compare ways of organising community health and care.")
    run_box = sidebar.container()
    sidebar.markdown("### Config")
    upload(sidebar)
    base: Scenario = state.base
    sidebar.caption(f"Starting from **{html.escape(state.base_name)}**: {html.escape(base.name)}.")
    sidebar.button("Back to the default place", on_click=back_to_default, key="reset")

    st.title("Care model comparison")
    st.markdown((PAGES / "intro.md").read_text(encoding="utf-8"))
    names = ["Comparison", "Over the years", "Money", "Hospital and discharge", "Localities", "Chances",
             "Change the place", "Change the care models", "About the model"]
    tabs = dict(zip(names, st.tabs(names), strict=True))

    inputs = Inputs(base)
    with tabs["Change the place"]:
        top_place = st.container()
        place_inputs(inputs, base)
    with tabs["Change the care models"]:
        top_models = st.container()
        first = next((a.name for a in base.arms if a.name != comparator_of(base)), base.arms[0].name)
        arm_tabs = st.tabs([arm.name for arm in base.arms], default=first, key=f"arm_tabs_{state.generation}")
        for i, arm_tab in enumerate(arm_tabs):
            with arm_tab:
                inputs.arm(i, base)
    scenario = apply_inputs(inputs)
    loose = show_problems(inputs)
    if inputs.problems:
        message = (f"{len(inputs.problems)} problem(s) in the inputs; **Run** is off until they are fixed. "
                   "Each is shown next to its input.")
        extra = "".join(f"\n- `{p or '(config)'}`: {m}" for p, m in loose)
        for box in (top_place, top_models):
            box.error(message + extra)

    with run_box:
        st.number_input("Replications (runs of every arm)", 1, MAX_REPLICATIONS, DEFAULT_REPLICATIONS, 1,
                        key="replications", help="More replications give narrower intervals but take longer.")
        st.checkbox("Draw effect sizes from their ranges", True, key="uncertainty",
                    help="On: each replication draws every uncertain parameter (probabilistic sensitivity "
                         "analysis). Off: the central value of each.")
        bad_upload: ConfigError | None = state.upload_error
        blocked = bad_upload is not None or scenario is None
        pressed = st.button("Run", type="primary", disabled=blocked, key="run", width="stretch")
        if bad_upload is not None:
            st.error("The uploaded config can't be used, so **Run** is off. Fix it and upload it again, or "
                     "remove it.\n\n" + "\n".join(
                         f"- `{p or '(file)'}`" + (f" (line {line})" if line else "") + f": {m}"
                         for p, line, m in bad_upload.problems))
        elif scenario is None:
            st.error("Some inputs have problems, so **Run** is off: see the **Change** tabs.")
        progress_box = st.container()
        if scenario is not None and not blocked and (pressed or state.shown is None):
            waiting = tabs["Comparison"].empty()
            waiting.info(f"Running {len(scenario.arms)} arms x {int(state.replications)} replications of "
                         f"{scenario.name}. The bar in the side bar shows how far it has got.")
            run_now(scenario, progress_box)
            waiting.empty()
        if state.shown and scenario is not None and run_key(scenario) != state.shown["key"]:
            st.warning("The inputs have changed: press **Run** to update the results.")

    shown = state.shown
    current_key = run_key(scenario) if scenario is not None else None
    if shown:
        results(tabs, shown, current_key)
    else:
        for name in names[:6]:
            tabs[name].info("No results yet: press **Run** in the side bar.")
    with tabs["About the model"]:
        about(base)

    sidebar.markdown("### Downloads")
    state.scenario = scenario
    state.current_yaml = to_yaml(scenario) if scenario is not None else None
    sidebar.download_button("This config (YAML)", state.current_yaml or "", file_name="caresim-config.yaml",
                            mime="application/x-yaml", disabled=scenario is None, on_click="ignore",
                            key="download_config", width="stretch",
                            help="The config with your changes; upload it again to carry on where you left off.")
    if shown:
        result = shown["result"]
        sidebar.download_button("Results (CSV)", lambda: result.tidy.to_csv(index=False), file_name="caresim-results.csv",
                                mime="text/csv", on_click="ignore", key="download_csv", width="stretch",
                                help="One row per arm, replication, year (0 = whole contract), measure and detail.")
        sidebar.download_button("Comparison table (CSV)", lambda: shown["table"].to_csv(index=False),
                                file_name="caresim-comparison.csv", mime="text/csv", on_click="ignore",
                                key="download_table", width="stretch")
        sidebar.download_button("Report (HTML)", lambda: report.html_report(result), file_name="caresim-report.html",
                                mime="text/html", on_click="ignore", key="download_report", width="stretch",
                                help="Every chart and table in one file that opens in any browser, offline.")


main()
