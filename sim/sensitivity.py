"""Sensitivity designs and indices: grid, Latin hypercube, Sobol (Saltelli) and Morris.

Designs are drawn on the unit hypercube: a row is one point, a column one parameter, each
coordinate in [0, 1]. `sim.sweep` maps coordinates to parameter values (a range, or a list of
values indexed by the coordinate), so the designs here know nothing of configs. Indices are
computed from one response value per design row (the mean over replications).

- Sobol first-order (S1) and total (ST) indices with bootstrap confidence intervals, from
  Saltelli's sampling scheme (SALib ``sample.sobol`` and ``analyze.sobol``).
- Morris elementary effects: mu* (mean absolute effect, in the measure's units per step of
  the unit coordinate) and sigma (spread: interactions or non-linearity).
- One-at-a-time swings for tornado charts: each parameter at its low and high end with the
  others at their baseline, the swing paired by replication (common random numbers).
- Spearman rank correlations for grid and Latin hypercube designs.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from sim.summary import interval

METHODS = ("grid", "latin_hypercube", "sobol", "morris")


def unit_problem(names: list[str]) -> dict:
    """The SALib problem of *names* on the unit hypercube."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


# --- designs --------------------------------------------------------------------------------


def grid_design(levels: list[int]) -> np.ndarray:
    """Every combination of evenly spaced levels (0, 1/(n-1), ..., 1) of each parameter."""
    axes = [np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5]) for n in levels]
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(levels))


def latin_hypercube_design(k: int, points: int, seed: int) -> np.ndarray:
    """A scrambled Latin hypercube of *points* rows (scipy.stats.qmc)."""
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=k, rng=np.random.default_rng(seed)).random(points)


def sobol_design(names: list[str], base_samples: int, seed: int, second_order: bool = False) -> np.ndarray:
    """Saltelli's scheme: base_samples x (k + 2) rows (x (2k + 2) with second order)."""
    from SALib.sample import sobol

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib warns when N is not a power of 2
        return sobol.sample(unit_problem(names), base_samples, calc_second_order=second_order,
                            scramble=True, seed=seed)


def sobol_rows(k: int, base_samples: int, second_order: bool = False) -> int:
    return base_samples * (2 * k + 2 if second_order else k + 2)


def morris_design(names: list[str], trajectories: int, levels: int, seed: int) -> np.ndarray:
    """Morris trajectories: trajectories x (k + 1) rows on a grid of *levels* levels."""
    from SALib.sample import morris

    return morris.sample(unit_problem(names), trajectories, num_levels=levels, seed=seed)


# --- indices --------------------------------------------------------------------------------


def _rows(parameter, method, index, value, half=None, low=None, high=None):
    if half is not None and low is None:
        low, high = value - half, value + half
    return {"parameter": parameter, "method": method, "index": index, "value": float(value),
            "low_95": math.nan if low is None else float(low),
            "high_95": math.nan if high is None else float(high)}


def sobol_indices(y: np.ndarray, names: list[str], second_order: bool = False,
                  resamples: int = 1000, seed: int = 0, conf_level: float = 0.95) -> pd.DataFrame:
    """S1 and ST of each parameter with bootstrap intervals (long rows: parameter, index, ...).

    A response with no variation has no indices: its rows are nan.
    """
    from SALib.analyze import sobol

    y = np.asarray(y, dtype=float)
    rows = []
    if not np.all(np.isfinite(y)) or np.ptp(y) == 0:
        for name in names:
            rows += [_rows(name, "sobol", "S1", math.nan), _rows(name, "sobol", "ST", math.nan)]
        return pd.DataFrame(rows)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = sobol.analyze(unit_problem(names), y, calc_second_order=second_order,
                               num_resamples=resamples, conf_level=conf_level, seed=seed)
    for i, name in enumerate(names):
        rows.append(_rows(name, "sobol", "S1", result["S1"][i], result["S1_conf"][i]))
        rows.append(_rows(name, "sobol", "ST", result["ST"][i], result["ST_conf"][i]))
    return pd.DataFrame(rows)


def morris_indices(x: np.ndarray, y: np.ndarray, names: list[str], levels: int,
                   resamples: int = 1000, seed: int = 0, conf_level: float = 0.95) -> pd.DataFrame:
    """Morris mu, mu* (with a bootstrap interval) and sigma of each parameter."""
    from SALib.analyze import morris

    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)):
        return pd.DataFrame([_rows(n, "morris", i, math.nan) for n in names for i in ("mu", "mu_star", "sigma")])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = morris.analyze(unit_problem(names), np.asarray(x, dtype=float), y, num_resamples=resamples,
                                conf_level=conf_level, num_levels=levels, seed=seed)
    rows = []
    for i, name in enumerate(names):
        rows.append(_rows(name, "morris", "mu", result["mu"][i]))
        rows.append(_rows(name, "morris", "mu_star", result["mu_star"][i], result["mu_star_conf"][i]))
        rows.append(_rows(name, "morris", "sigma", result["sigma"][i]))
    return pd.DataFrame(rows)


def rank_correlations(x: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """Spearman rank correlation of the response with each parameter, over design points."""
    from scipy import stats

    rows = []
    y = np.asarray(y, dtype=float)
    for name in x.columns:
        column = np.asarray(x[name], dtype=float)
        if np.ptp(column) == 0 or np.ptp(y) == 0 or not np.all(np.isfinite(y)):
            rho = math.nan
        else:
            rho = float(stats.spearmanr(column, y).statistic)
        rows.append(_rows(name, "rank_correlation", "spearman", rho))
    return pd.DataFrame(rows)


def swing(at_low: np.ndarray, at_baseline: np.ndarray, at_high: np.ndarray) -> dict:
    """One parameter's tornado bar: means at low, baseline and high, and the high-low swing
    with its 95% interval, paired by replication."""
    at_low, at_baseline, at_high = (np.asarray(a, dtype=float) for a in (at_low, at_baseline, at_high))
    mean, lo, hi = interval(at_high - at_low)
    return {"at_low": float(np.mean(at_low)), "at_baseline": float(np.mean(at_baseline)),
            "at_high": float(np.mean(at_high)), "swing": mean, "swing_low_95": lo, "swing_high_95": hi}


# --- charts ---------------------------------------------------------------------------------


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white",
                      margin=dict(l=60, r=20, t=60, b=50), height=height)
    return fig


def tornado_chart(swings: pd.DataFrame, title: str, unit: str) -> go.Figure:
    """Horizontal bars from the baseline to the measure at each parameter's low and high end,
    largest swing on top."""
    part = swings.assign(size=swings["swing"].abs()).sort_values("size", ascending=True)
    baseline = float(part["at_baseline"].iloc[0]) if len(part) else 0.0
    labels = [f"{r.parameter} ({_short(r.low_value)} to {_short(r.high_value)})" for r in part.itertuples()]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=labels, x=part["at_low"] - baseline, base=baseline, orientation="h",
                         name="parameter at its low end", marker_color="#56B4E9"))
    fig.add_trace(go.Bar(y=labels, x=part["at_high"] - baseline, base=baseline, orientation="h",
                         name="parameter at its high end", marker_color="#D55E00"))
    fig.add_vline(x=baseline, line_color="#000000", line_width=1)
    fig.update_layout(barmode="overlay")
    return _layout(fig, title, unit, "", height=max(260, 120 + 45 * len(part)))


def indices_chart(indices: pd.DataFrame, title: str) -> go.Figure:
    """Sobol S1 and ST, or Morris mu* and sigma, one group of bars per parameter."""
    fig = go.Figure()
    shown = {"sobol": ("S1", "ST"), "morris": ("mu_star", "sigma"), "rank_correlation": ("spearman",)}
    colours = ["#0072B2", "#E69F00"]
    method = indices["method"].iloc[0] if len(indices) else "sobol"
    for colour, index in zip(colours, shown.get(method, ()), strict=False):
        part = indices[indices["index"] == index]
        has_ci = part["low_95"].notna().any()
        fig.add_trace(go.Bar(
            x=part["parameter"], y=part["value"], name=index, marker_color=colour,
            error_y=dict(type="data", symmetric=False, array=part["high_95"] - part["value"],
                         arrayminus=part["value"] - part["low_95"]) if has_ci else None))
    fig.update_layout(barmode="group")
    axis = {"sobol": "share of variance", "morris": "effect per unit step", "rank_correlation": "Spearman rho"}
    return _layout(fig, title, "Parameter", axis.get(method, ""))


def response_chart(frame: pd.DataFrame, parameter: str, title: str, unit: str,
                   colours: dict[str, str]) -> go.Figure:
    """The measure against one parameter for each arm: mean line with a 95% band where the
    parameter takes few values, the mean of each point otherwise.

    *frame* has columns arm, point, replication, value and the parameter's column.
    """
    fig = go.Figure()
    numeric = pd.api.types.is_numeric_dtype(frame[parameter])
    few = frame[parameter].nunique() <= 12
    for arm, part in frame.groupby("arm", sort=False):
        colour = colours.get(arm, "#000000")
        if few:
            rows = []
            for value, group in part.groupby(parameter, sort=True):
                # The mean over replications of each point first, so every point counts once.
                per_rep = group.groupby("replication")["value"].mean()
                mean, lo, hi = interval(per_rep)
                rows.append((value, mean, lo, hi))
            xs = [r[0] for r in rows]
            fig.add_trace(go.Scatter(x=xs + xs[::-1], y=[r[3] for r in rows] + [r[2] for r in rows][::-1],
                                     fill="toself", mode="lines", line=dict(width=0), fillcolor=_rgba(colour, 0.15),
                                     hoverinfo="skip", showlegend=False))
            fig.add_trace(go.Scatter(x=xs, y=[r[1] for r in rows], mode="lines+markers", name=str(arm),
                                     line=dict(color=colour)))
        else:
            means = part.groupby("point").agg(x=(parameter, "first"), y=("value", "mean"))
            fig.add_trace(go.Scatter(x=means["x"], y=means["y"], mode="markers", name=str(arm),
                                     marker=dict(color=colour, size=6, opacity=0.7)))
    if not numeric:
        fig.update_xaxes(type="category")
    return _layout(fig, title, parameter, unit)


def _rgba(colour: str, alpha: float) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _short(value) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:,.6g}"
    return str(value)
