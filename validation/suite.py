"""`caresim validate`: every study of the model's validity, as one table of checks.

Studies: queueing theory, engine agreement, a peer cross-check against Ciw, calibration to
published figures, face validity and statistical adequacy. Each check gives the figure
measured, the reference, the tolerance and pass or fail. `quick` runs fewer replications and
shorter horizons (what CI runs); the full run's results are recorded in docs/validation.md.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from sim.config import load, with_changes
from sim.summary import interval

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "configs" / "small.yaml"
BNES = ROOT / "configs" / "bnes.yaml"


def _row(study: str, check: str, measured: float, reference: str, tolerance: str, passed: bool,
         note: str = "") -> dict:
    return {"study": study, "check": check, "measured": measured, "reference": reference,
            "tolerance": tolerance, "passed": bool(passed), "note": note}


# --- the studies ------------------------------------------------------------------------------


def queueing_study(quick: bool) -> list[dict]:
    from validation.queueing import (
        erlang_b_checks,
        erlang_c_checks,
        mg_infinity_checks,
        simultaneous_confidence,
    )

    reps = 10 if quick else 30
    checks = []
    for utilisation in (0.5, 0.85, 0.95):
        checks += erlang_c_checks(utilisation, replications=reps, contract_years=2 if quick else 4)
        checks += erlang_b_checks(utilisation, replications=reps, contract_years=2 if quick else 4)
    checks += mg_infinity_checks(replications=reps, contract_years=2 if quick else 4)
    confidence = simultaneous_confidence(len(checks))
    rows = []
    for c in checks:
        r: dict = c.row(confidence)
        rows.append(_row("queueing theory", f"{r['scenario']}: {r['measure']}", float(r["simulated"]),
                         f"{r['theory']:.6g} (finite source {r['finite_source']:.6g})",
                         f"{confidence * 100:.2f}% interval {r['low']:.6g} to {r['high']:.6g}", bool(r["covered"]),
                         f"{r['replications']} replications"))
    return rows


def agreement_study(quick: bool) -> list[dict]:
    from sim import engine_fast, engine_reference
    from sim.arms import lower_arm
    from sim.population import generate

    scenario = with_changes(load(SMALL), {"run.contract_years": 1 if quick else 3,
                                          "population.size": 1500 if quick else 4000})
    rows = []
    for arm in scenario.arms:
        population = generate(scenario, 11)
        flow = lower_arm(scenario, population, arm, 11, 0)
        fast_run = engine_fast.run(flow, 11, log_episodes=True)
        reference = engine_reference.run(flow, 11, log_episodes=True)
        fast_log, reference_log = fast_run.episodes, reference.episodes
        assert fast_log is not None and reference_log is not None  # both asked for the log
        same_shape = fast_log.shape == reference_log.shape
        gap = float(np.nanmax(np.abs(fast_log - reference_log))) if same_shape and len(fast_log) else math.inf
        counters = bool(np.allclose(fast_run.counters, reference.counters, rtol=1e-12, atol=1e-9))
        rows.append(_row("engine agreement", f"{arm.name}: episode trajectories", gap, "0 (identical)",
                         "largest difference <= 1e-9 days", same_shape and gap <= 1e-9 and counters,
                         f"{len(fast_log)} crises; yearly counters equal to 1e-12: {counters}"))
    return rows


def peer_study(quick: bool) -> list[dict]:
    from validation.peer import Tandem, cross_check

    rows = []
    for r in cross_check(Tandem(years=2 if quick else 4), replications=6 if quick else 16):
        ours, theirs = r["caresim"], r["ciw"]
        rows.append(_row("peer cross-check (Ciw)", f"tandem with blocking: {r['measure']}", ours[0],
                         f"Ciw {theirs[0]:.4g} ({theirs[1]:.4g} to {theirs[2]:.4g})",
                         f"|difference| <= {r['tolerance']:.3g} (Welch 95%)", r["agree"]))
    return rows


def calibration_study(quick: bool) -> list[dict]:
    from validation.calibration import calibrate

    table, mape = calibrate(load(BNES), replications=2 if quick else 8, workers=2)
    rows = [_row("calibration", r.measure, r.simulated, f"{r.target:.4g}",
                 f"{r.accepted_low:.4g} to {r.accepted_high:.4g}", r.passed, r.source)
            for r in table.itertuples()]
    rows.append(_row("calibration", "mean absolute percentage error", mape, "0", "< 25%", mape < 25.0,
                     f"{len(table)} targets"))
    return rows


def _paired(scenario, changes: dict, measure: str, reps: int) -> tuple[float, float, float]:
    from sim.experiment import run_experiment

    base = run_experiment(scenario, replications=reps, workers=2, arms=[scenario.arms[0].name])
    changed = run_experiment(with_changes(scenario, changes), replications=reps, workers=2,
                             arms=[scenario.arms[0].name])
    return interval(_whole(changed.tidy, measure) - _whole(base.tidy, measure))


def _whole(tidy: pd.DataFrame, measure: str) -> pd.Series:
    """A measure over the whole contract, one value per replication."""
    part = tidy[(tidy["year"] == 0) & (tidy["measure"] == measure) & (tidy["detail"] == "")]
    return part.set_index("replication")["value"]


def face_validity_study(quick: bool) -> list[dict]:
    scenario = load(SMALL)
    reps = 4 if quick else 10
    capacities = scenario.services
    cases: list[tuple[str, dict, str, int]] = [
        ("more step-down beds, fewer delayed days", {"services.step_down_beds.capacity": capacities.step_down_beds.capacity * 3
                                                     if isinstance(capacities.step_down_beds.capacity, int) else 6,
                                                     "services.care_homes.capacity": 60}, "delayed_days", -1),
        ("higher diversion, fewer admissions",
         {f"flow.diversion.{k}.probability": [min(1.0, p * 2) for p in d.probability] for k, d in scenario.flow.diversion.items()}
         | {f"services.{s}.capacity": 4 for s in ("urgent_community_response", "virtual_ward", "step_up_beds", "mental_health_crisis_beds")},
         "admissions", -1),
        ("longer stays, higher occupancy", {"flow.length_of_stay.mean_days": [m * 1.3 for m in scenario.flow.length_of_stay.mean_days]},
         "bed_days", +1),
        ("more acute beds, fewer trolley waits", {"services.acute_beds.capacity": 12}, "trolley_waits", -1),
    ]
    rows = []
    for name, changes, measure, sign in cases:
        mean, lo, hi = _paired(scenario, changes, measure, reps)
        passed = sign * mean > 0
        rows.append(_row("face validity", name, mean, f"change in {measure} {'< 0' if sign < 0 else '> 0'}",
                         "direction of the paired mean difference", passed,
                         f"paired 95% interval {lo:.4g} to {hi:.4g}, {reps} replications"))
    return rows


def mser5(series: np.ndarray) -> int:
    """MSER-5 truncation point (White 1997): the batch count to drop that minimises the
    marginal standard error of the remaining batch means; returned in observations."""
    n_batches = len(series) // 5
    batches = series[: n_batches * 5].reshape(n_batches, 5).mean(axis=1)
    best, best_d = math.inf, 0
    for d in range(n_batches // 2):
        rest = batches[d:]
        stat = rest.var() / (len(rest) - 1) if len(rest) > 1 else math.inf
        if stat < best:
            best, best_d = stat, d
    return best_d * 5


def adequacy_study(quick: bool) -> list[dict]:
    from sim.experiment import run_experiment
    from sim.flow import DAYS_PER_YEAR

    scenario = load(BNES)
    reps = 4 if quick else 20
    result = run_experiment(scenario, replications=reps, workers=2, arms=[scenario.arms[0].name])
    rows = []
    for measure in ("admissions", "mean_los_days", "delayed_days", "cost_total_gbp"):
        values = _whole(result.tidy, measure)
        mean, lo, hi = interval(values)
        relative = (hi - lo) / 2 / mean
        needed = math.ceil(reps * (relative / 0.01) ** 2)
        rows.append(_row("statistical adequacy", f"{measure}: 95% half-width / mean", relative, "<= 5%",
                         f"{reps} replications", relative <= 0.05,
                         f"about {needed} replications give +-1%"))
    # Warm-up: MSER-5 on the daily acute occupancy of a whole run, warm-up year included.
    from sim import engine_fast
    from sim.arms import lower_arm
    from sim.population import generate
    from sim.randomness import replication_seed

    # Demand growth makes occupancy trend upwards by design; the warm-up question is how long
    # the start-up bias lasts, so it is asked of the same place without demand growth.
    stationary = with_changes(scenario, {"flow.demand_growth_per_year": [1.0] * len(scenario.population.age_bands)})
    seed = replication_seed(scenario.run.seed, 0)
    population = generate(stationary, seed)
    run = engine_fast.run(lower_arm(stationary, population, stationary.arms[0], stationary.run.seed, 0), seed)
    truncation = mser5(run.daily_occupancy[:, 0] + run.daily_occupancy[:, 1])
    warm_up_days = scenario.run.warm_up_years * DAYS_PER_YEAR
    rows.append(_row("statistical adequacy", "warm-up: MSER-5 truncation of daily acute occupancy, no demand growth (days)",
                     truncation, f"<= warm-up of {warm_up_days:.0f} days", "MSER-5, batches of 5 days",
                     truncation <= warm_up_days))
    return rows


STUDIES: dict[str, Callable[[bool], list[dict]]] = {
    "queueing": queueing_study,
    "agreement": agreement_study,
    "peer": peer_study,
    "calibration": calibration_study,
    "face": face_validity_study,
    "adequacy": adequacy_study,
}


def run_validation(quick: bool = True, studies: list[str] | None = None,
                   progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run the studies and return one row per check."""
    rows = []
    for name in studies or list(STUDIES):
        started = time.time()
        if progress:
            progress(name)
        found = STUDIES[name](quick)
        for r in found:
            r["seconds"] = round(time.time() - started, 1)
        rows += found
    return pd.DataFrame(rows)


def write_validation(table: pd.DataFrame, out: Path, quick: bool) -> None:
    """Write validation.json and validation.html to *out*."""
    from sim.outputs import write_text

    out.mkdir(parents=True, exist_ok=True)
    payload = {"quick": quick, "passed": int(table["passed"].sum()), "failed": int((~table["passed"]).sum()),
               "checks": json.loads(table.to_json(orient="records"))}
    write_text(out / "validation.json", json.dumps(payload, indent=2))
    body = "".join(
        f"<tr class='{'pass' if r.passed else 'fail'}'><td>{html.escape(r.study)}</td><td>{html.escape(r.check)}</td>"
        f"<td>{r.measured:.6g}</td><td>{html.escape(str(r.reference))}</td><td>{html.escape(str(r.tolerance))}</td>"
        f"<td>{'pass' if r.passed else 'FAIL'}</td><td>{html.escape(str(r.note))}</td></tr>"
        for r in table.itertuples())
    write_text(out / "validation.html", f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>caresim validation</title><style>body{{font-family:system-ui,sans-serif;margin:1em}}
table{{border-collapse:collapse;font-size:0.85em}}td,th{{border:1px solid #ccc;padding:3px 6px}}
.fail{{background:#fdd}}</style></head><body><h1>caresim validation{' (quick)' if quick else ''}</h1>
<p>{payload['passed']} checks passed, {payload['failed']} failed.</p>
<table><thead><tr><th>Study</th><th>Check</th><th>Measured</th><th>Reference</th><th>Tolerance</th>
<th>Result</th><th>Note</th></tr></thead><tbody>{body}</tbody></table></body></html>""")


def format_table(table: pd.DataFrame) -> str:
    lines = [f"{'study':24s} {'check':62s} {'measured':>12s}  {'reference':28s} {'tolerance':34s} result"]
    for r in table.itertuples():
        lines.append(f"{r.study[:24]:24s} {r.check[:62]:62s} {r.measured:>12.5g}  {str(r.reference)[:28]:28s} "
                     f"{str(r.tolerance)[:34]:34s} {'pass' if r.passed else 'FAIL'}")
    lines.append(f"\nvalidation: {int(table['passed'].sum())} passed, {int((~table['passed']).sum())} failed")
    return "\n".join(lines)
