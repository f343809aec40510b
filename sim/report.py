"""The comparison as charts (plotly) and a self-contained HTML report.

The chart functions are shared by the HTML report and the Streamlit app. Colours are the
Okabe-Ito palette, which colour-blind readers can tell apart.
"""

from __future__ import annotations

import functools
import html
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from sim.experiment import ExperimentResult
from sim.measures import WHOLE_CONTRACT
from sim.summary import compare, format_number, interval

PALETTE = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442"]


def arm_colours(arms: list[str]) -> dict[str, str]:
    return {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(arms)}


def _hex_to_rgba(colour: str, alpha: float) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


@functools.cache
def _template():
    """plotly's "plotly_white", looked up once (each lookup by name copies it)."""
    import plotly.io as pio

    return pio.templates["plotly_white"]


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    # The template is plotly's own and already checked: it is set as plotly sets a figure's
    # default template (`BaseFigure._initialize_layout_template`), without checking its
    # thousands of values again for every figure (12 ms a figure).
    fig.layout._validate = False
    try:
        fig.layout.template = _template()
    finally:
        fig.layout._validate = fig._validate
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, legend_title_text="Arm",
                      margin=dict(l=60, r=20, t=60, b=50), height=420)
    return fig


def differences_chart(table: pd.DataFrame, measure: str, comparator: str) -> go.Figure:
    """Difference from the comparator of one measure, with 95% intervals, one bar per arm."""
    part = table[(table["measure"] == measure) & (table["arm"] != comparator)]
    colours = arm_colours(list(pd.unique(table["arm"])))
    fig = go.Figure(go.Bar(
        x=part["arm"], y=part["difference"],
        marker_color=[colours[a] for a in part["arm"]],
        error_y=dict(type="data", symmetric=False,
                     array=part["difference_high_95"] - part["difference"],
                     arrayminus=part["difference"] - part["difference_low_95"]),
    ))
    label = part["label"].iloc[0] if len(part) else measure
    return _layout(fig, f"{label}: difference from {comparator} (95% interval)", "Arm", f"Difference in {label.lower()}")


def trajectory_chart(tidy: pd.DataFrame, measure: str, label: str, detail: str = "") -> go.Figure:
    """A measure per contract year for each arm: mean line with its 95% band."""
    part = tidy[(tidy["measure"] == measure) & (tidy["detail"] == detail) & (tidy["year"] != WHOLE_CONTRACT)]
    arms = list(pd.unique(tidy["arm"]))
    colours = arm_colours(arms)
    fig = go.Figure()
    for arm in arms:
        rows = [(year, *interval(g["value"])) for year, g in part[part["arm"] == arm].groupby("year")]
        if not rows:
            continue
        years, mean, lo, hi = zip(*rows, strict=True)
        if not any(math.isnan(v) for v in lo):
            fig.add_trace(go.Scatter(x=list(years) + list(years)[::-1], y=list(hi) + list(lo)[::-1],
                                     fill="toself", fillcolor=_hex_to_rgba(colours[arm], 0.15), mode="lines",
                                     line=dict(width=0), hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=years, y=mean, name=arm, mode="lines+markers", line=dict(color=colours[arm])))
    fig.update_xaxes(dtick=1)
    return _layout(fig, f"{label} by contract year (mean and 95% band)", "Contract year", label)


def cost_by_payer_chart(tidy: pd.DataFrame) -> go.Figure:
    """Mean cost over the contract to each payer, stacked, one bar per arm."""
    part = tidy[(tidy["year"] == WHOLE_CONTRACT) & tidy["measure"].isin(["cost_nhs_gbp", "cost_council_gbp", "cost_pooled_gbp"])]
    means = part.groupby(["arm", "measure"], sort=False)["value"].mean().unstack()
    arms = list(pd.unique(tidy["arm"]))
    fig = go.Figure()
    for measure, name, colour in (("cost_nhs_gbp", "NHS", "#0072B2"), ("cost_council_gbp", "Council", "#E69F00"),
                                  ("cost_pooled_gbp", "Pooled budget", "#009E73")):
        if measure in means:
            fig.add_trace(go.Bar(x=arms, y=[means.loc[a, measure] / 1e6 for a in arms], name=name, marker_color=colour))
    fig.update_layout(barmode="stack")
    _layout(fig, "Cost over the contract by payer (mean, GBP million)", "Arm", "GBP million")
    fig.update_layout(legend_title_text="Payer")
    return fig


def cost_effectiveness_chart(tidy: pd.DataFrame, comparator: str) -> go.Figure:
    """Extra cost against admissions avoided, one dot per replication, for each arm."""
    part = tidy[(tidy["year"] == WHOLE_CONTRACT) & (tidy["detail"] == "") & tidy["measure"].isin(["admissions", "cost_total_gbp"])]
    table = part.pivot_table(index=["arm", "replication"], columns="measure", values="value", sort=False)
    base = table.loc[comparator]
    every_arm = list(pd.unique(tidy["arm"]))
    arms = [a for a in every_arm if a != comparator]
    colours = arm_colours(every_arm)
    fig = go.Figure()
    for arm in arms:
        values = table.loc[arm].reindex(base.index)
        fig.add_trace(go.Scatter(x=base["admissions"] - values["admissions"],
                                 y=(values["cost_total_gbp"] - base["cost_total_gbp"]) / 1e6,
                                 mode="markers", name=arm, marker=dict(color=colours[arm], size=8, opacity=0.7)))
    fig.add_hline(y=0, line_color="grey", line_width=1)
    fig.add_vline(x=0, line_color="grey", line_width=1)
    return _layout(fig, f"Cost-effectiveness plane against {comparator} (one dot per replication)",
                   "Admissions avoided over the contract", "Extra cost over the contract (GBP million)")


def occupancy_chart(daily: pd.DataFrame, column: str = "acute_beds_occupied", label: str = "Acute beds occupied") -> go.Figure:
    """A daily series, mean over replications, for each arm (weekly means for readability)."""
    arms = list(pd.unique(daily["arm"]))
    colours = arm_colours(arms)
    fig = go.Figure()
    for arm in arms:
        part = daily[daily["arm"] == arm].groupby("day")[column].mean()
        weekly = part.groupby(part.index // 7).mean()
        fig.add_trace(go.Scatter(x=weekly.index * 7, y=weekly.values, name=arm, mode="lines", line=dict(color=colours[arm])))
    return _layout(fig, f"{label} (mean over replications, weekly)", "Day of the contract", label)


def pathway_chart(tidy: pd.DataFrame) -> go.Figure:
    """Discharge pathway mix for each arm."""
    part = tidy[(tidy["year"] == WHOLE_CONTRACT) & (tidy["measure"] == "pathway_share")]
    means = part.groupby(["arm", "detail"], sort=False)["value"].mean().unstack()
    arms = list(pd.unique(tidy["arm"]))
    names = {"pathway 0": "0: home", "pathway 1": "1: reablement", "pathway 2": "2: step-down bed", "pathway 3": "3: care home"}
    fig = go.Figure()
    for i, (detail, name) in enumerate(names.items()):
        if detail in means:
            fig.add_trace(go.Bar(x=arms, y=[means.loc[a, detail] * 100 for a in arms], name=name,
                                 marker_color=PALETTE[(i + 1) % len(PALETTE)]))
    fig.update_layout(barmode="stack")
    _layout(fig, "Discharge pathway mix (%)", "Arm", "% of discharges")
    fig.update_layout(legend_title_text="Pathway")
    return fig


def locality_chart(tidy: pd.DataFrame, measure: str = "admissions_by_cluster", title: str = "GP cluster") -> go.Figure:
    """Admissions over the contract per locality, one group of bars per arm."""
    part = tidy[(tidy["year"] == WHOLE_CONTRACT) & (tidy["measure"] == measure)]
    means = part.groupby(["detail", "arm"], sort=False)["value"].mean().unstack()
    arms = list(pd.unique(tidy["arm"]))
    colours = arm_colours(arms)
    fig = go.Figure()
    for arm in arms:
        if arm in means:
            fig.add_trace(go.Bar(x=list(means.index), y=means[arm], name=arm, marker_color=colours[arm]))
    fig.update_layout(barmode="group")
    return _layout(fig, f"Emergency admissions over the contract by {title[0].lower() + title[1:] if not title[:2].isupper() else title} (mean)", title, "Admissions")


def best_chart(table: pd.DataFrame) -> go.Figure:
    """Chance that each arm is best on each measure (heat map)."""
    part = table[~table["chance_best"].isna()]
    pivot = part.pivot_table(index="label", columns="arm", values="chance_best", sort=False)
    fig = go.Figure(go.Heatmap(z=pivot.values * 100, x=list(pivot.columns), y=list(pivot.index),
                               colorscale="Cividis", zmin=0, zmax=100, colorbar=dict(title="%"),
                               text=[[f"{v * 100:.0f}%" for v in row] for row in pivot.values], texttemplate="%{text}"))
    _layout(fig, "Chance each arm is best on each measure (%)", "Arm", "Measure")
    fig.update_layout(height=480)
    return fig


def comparison_text(table: pd.DataFrame, comparator: str) -> str:
    """The comparison as plain text: one block per arm."""
    lines = []
    for arm, part in table.groupby("arm", sort=False):
        first = part.iloc[0]
        head = f"== {arm} =="
        if arm != comparator:
            head += (f"  chance saves money {first['chance_saves_money'] * 100:.0f}%,"
                     f" chance meets the BCF admissions target {first['chance_meets_bcf_target'] * 100:.0f}%")
        lines.append(head)
        lines.append(f"  {'measure':34s} {'mean':>10s} {'95% interval':>23s} {'vs ' + comparator[:12]:>14s} {'95% interval':>23s} {'P(best)':>8s}")
        for _, row in part.iterrows():
            m = row["measure"]
            interval_text = f"{format_number(row['low_95'], m)} to {format_number(row['high_95'], m)}"
            if arm == comparator:
                diff_text, diff_interval = "", ""
            else:
                diff_text = format_number(row["difference"], m)
                diff_interval = f"{format_number(row['difference_low_95'], m)} to {format_number(row['difference_high_95'], m)}"
            best = "" if math.isnan(row["chance_best"]) else f"{row['chance_best'] * 100:.0f}%"
            mean_text = format_number(row["mean"], m)
            if m == "cost_per_admission_avoided_gbp" and row["mean"] < 0:
                mean_text = "saves money"
            lines.append(f"  {row['label']:34s} {mean_text:>10s} {interval_text:>23s} "
                         f"{diff_text:>14s} {diff_interval:>23s} {best:>8s}")
    return "\n".join(lines)


def comparison_table_html(table: pd.DataFrame, comparator: str) -> str:
    rows = []
    for _, row in table.iterrows():
        m = row["measure"]
        diff = "" if row["arm"] == comparator else (
            f"{format_number(row['difference'], m)} ({format_number(row['difference_low_95'], m)} to "
            f"{format_number(row['difference_high_95'], m)})")
        best = "" if math.isnan(row["chance_best"]) else f"{row['chance_best'] * 100:.0f}%"
        rows.append(f"<tr><td>{html.escape(row['arm'])}</td><td>{html.escape(row['label'])}</td>"
                    f"<td>{format_number(row['mean'], m)}</td><td>{format_number(row['low_95'], m)} to "
                    f"{format_number(row['high_95'], m)}</td><td>{diff}</td><td>{best}</td></tr>")
    return ("<table><thead><tr><th>Arm</th><th>Measure</th><th>Mean</th><th>95% interval</th>"
            f"<th>Difference from {html.escape(comparator)} (95% interval)</th><th>Chance best</th></tr></thead>"
            "<tbody>" + "".join(rows) + "</tbody></table>")


def html_report(result: ExperimentResult, comparator: str | None = None,
                table: pd.DataFrame | None = None) -> str:
    """A self-contained HTML report of a comparison (plotly.js inlined; no network needed).

    *table* is `sim.summary.compare`'s table for this comparator, if the caller has it.
    """
    scenario = result.scenario
    comparator = comparator or result.arms[0]
    if table is None:
        table = compare(result.tidy, comparator, scenario.run.bcf_admissions_target)
    figures = [
        differences_chart(table, "admissions", comparator),
        differences_chart(table, "cost_total_gbp", comparator),
        trajectory_chart(result.tidy, "admissions", "Emergency admissions"),
        trajectory_chart(result.tidy, "delayed_days", "Delayed days"),
        trajectory_chart(result.tidy, "cost_total_gbp", "Total cost (GBP)"),
        cost_by_payer_chart(result.tidy),
        cost_effectiveness_chart(result.tidy, comparator),
        occupancy_chart(result.daily),
        pathway_chart(result.tidy),
        locality_chart(result.tidy, "admissions_by_cluster", "GP cluster"),
        locality_chart(result.tidy, "admissions_by_forum", "Area forum"),
        best_chart(table),
    ]
    chances = table.drop_duplicates("arm")[["arm", "chance_saves_money", "chance_meets_bcf_target"]]
    chance_rows = "".join(
        f"<tr><td>{html.escape(r.arm)}</td><td>{'' if r.arm == comparator else f'{r.chance_saves_money * 100:.0f}%'}</td>"
        f"<td>{r.chance_meets_bcf_target * 100:.0f}%</td></tr>" for r in chances.itertuples())
    m = result.manifest
    charts = "".join(f"<div class='chart'>{fig.to_html(full_html=False, include_plotlyjs=False)}</div>" for fig in figures)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>caresim comparison: {html.escape(scenario.name)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}}
table{{border-collapse:collapse;font-size:0.9em}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,td:nth-child(2),th{{text-align:left}}.chart{{margin:1em 0}}</style></head><body>
<h1>Care model comparison: {html.escape(scenario.name)}</h1>
<p>{html.escape(scenario.description)}</p>
<p>{m.get('replications')} replications, seed {m.get('seed')}, {m.get('engine')} engine, config SHA-256
{m.get('config_sha256', '')[:16]}&hellip;, caresim {m.get('caresim_version')}. Each arm ran on the same simulated people
and random numbers in each replication; differences are paired by replication. Figures are for the whole
{scenario.run.contract_years}-year contract from {scenario.run.start_year} unless said otherwise; costs are undiscounted except the present
value ({scenario.run.discount_rate * 100:.1f}% a year).</p>
<h2>Chances</h2>
<table><thead><tr><th>Arm</th><th>Chance of saving money</th><th>Chance of meeting the Better Care Fund target
({scenario.run.bcf_admissions_target * 100:.1f}% fewer admissions)</th></tr></thead><tbody>{chance_rows}</tbody></table>
<h2>Measures</h2>{comparison_table_html(table, comparator)}
<h2>Charts</h2>{charts}
</body></html>"""
