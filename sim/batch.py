"""Batches: several configs run one after another, one output folder each, one summary table.

Every config is validated before anything runs, so a typo in the last file does not waste
the first file's run. Each config runs every arm (as `caresim compare` does) and its folder
holds the same files. A folder whose manifest shows the same config, seed, replications,
engine and arms is reused rather than run again, so a batch that was stopped finishes where
it left off.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.config import ConfigError, Scenario, load
from sim.measures import MEASURES

# Measures in the summary across configs, in reading order.
BATCH_MEASURES = ("admissions", "admissions_per_1000", "mean_los_days", "bed_days", "occupancy",
                  "delayed_days", "care_home_admissions", "readmission_rate_30d", "deaths_in_hospital",
                  "cost_total_gbp", "present_value_gbp")
PRINTED = ("admissions", "mean_los_days", "delayed_days", "cost_total_gbp")


class BatchError(ConfigError):
    """One or more configs of a batch cannot be used; lists every problem of every file."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        super().__init__([p for e in errors for p in e.problems], source="batch")

    def format(self) -> str:
        return "\n".join(e.format() for e in self.errors)


@dataclass
class BatchItem:
    path: Path
    scenario: Scenario
    folder: Path
    reused: bool = False


def folder_names(paths: list[Path]) -> list[str]:
    """An output folder name per config: its file name, numbered where two are the same."""
    names: list[str] = []
    for path in paths:
        name, n = path.stem, 2
        while name in names:
            name, n = f"{path.stem}-{n}", n + 1
        names.append(name)
    return names


def load_all(paths: list[str | Path]) -> list[Scenario]:
    """Every config validated, or BatchError listing the problems of every bad one."""
    scenarios, errors = [], []
    for path in paths:
        try:
            scenarios.append(load(path))
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise BatchError(errors)
    return scenarios


def _matches(folder: Path, scenario: Scenario, reps: int, seed: int, engine: str, uncertainty: bool) -> bool:
    """Whether *folder* already holds this run, complete."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (manifest.get("config_sha256") == scenario.digest() and manifest.get("replications") == reps
            and manifest.get("seed") == seed and manifest.get("engine") == engine
            and manifest.get("parameter_uncertainty") == uncertainty
            and manifest.get("arms") == [a.name for a in scenario.arms]
            and all((folder / manifest.get("files", {}).get(k, "-")).exists() for k in ("tidy_parquet", "summary_csv")))


def run_batch(paths: list[str | Path], out: str | Path, reps: int | None = None, seed: int | None = None,
              workers: int | None = None, engine: str = "fast", uncertainty: bool = True,
              progress: Callable[[str, int, int], None] | None = None, command: str = "") -> pd.DataFrame:
    """Run each config (every arm) into OUT/<config name>/; return and write the summary table.

    *progress(config name, done, total)* is called as replications finish.
    """
    from sim.experiment import run_experiment
    from sim.outputs import write_frame, write_results, write_text

    files = [Path(p) for p in paths]
    scenarios = load_all(list(files))
    out = Path(out)
    rows = []
    for path, scenario, name in zip(files, scenarios, folder_names(files), strict=True):
        folder = out / name
        n_reps = scenario.run.replications if reps is None else int(reps)
        run_seed = scenario.run.seed if seed is None else int(seed)
        if _matches(folder, scenario, n_reps, run_seed, engine, uncertainty):
            tidy = pd.read_parquet(folder / "tidy.parquet")
            if progress:
                progress(name, n_reps, n_reps)
        else:
            def report(done: int, total: int, name: str = name) -> None:
                if progress:
                    progress(name, done, total)

            result = run_experiment(scenario, replications=n_reps, seed=run_seed, engine=engine, workers=workers,
                                    uncertainty=uncertainty, progress=report)
            _write_comparison(result, folder)
            write_results(result, folder, command=command)  # the manifest last: it marks the folder complete
            tidy = result.tidy
        rows.append(_summary_rows(tidy, name, path, scenario))
    summary = pd.concat(rows, ignore_index=True)
    write_frame(out / "batch_summary.csv", summary)
    write_text(out / "batch.json", json.dumps({
        "configs": [str(p) for p in files], "folders": folder_names(files), "replications": reps, "seed": seed,
        "engine": engine, "parameter_uncertainty": uncertainty, "command": command}, indent=2))
    return summary


def _write_comparison(result, folder: Path) -> None:
    """comparison.csv and report.html, as `caresim compare` writes them, where there are arms to compare."""
    from sim.outputs import write_frame, write_text
    from sim.report import html_report
    from sim.summary import compare

    scenario = result.scenario
    if len(scenario.arms) < 2:
        return
    comparator = next((a.name for a in scenario.arms if a.kind == "status_quo"), scenario.arms[0].name)
    table = compare(result.tidy, comparator, scenario.run.bcf_admissions_target)
    write_frame(folder / "comparison.csv", table)
    write_text(folder / "report.html", html_report(result, comparator, table))


def _summary_rows(tidy: pd.DataFrame, name: str, path: Path, scenario: Scenario) -> pd.DataFrame:
    from sim.summary import LABELS, summarise

    table = summarise(tidy)
    table = table[(table["detail"] == "") & table["measure"].isin(BATCH_MEASURES)].copy()
    order = {m: i for i, m in enumerate(BATCH_MEASURES)}
    arms = {a: i for i, a in enumerate(pd.unique(tidy["arm"]))}
    table = table.sort_values(["arm", "measure"], key=lambda c: c.map(arms if c.name == "arm" else order), kind="stable")
    table.insert(0, "config_file", str(path))
    table.insert(0, "config", name)
    table.insert(4, "label", table["measure"].map(lambda m: LABELS.get(m, MEASURES[m][1])))
    return table.drop(columns=["detail"]).reset_index(drop=True)


def summary_text(summary: pd.DataFrame) -> str:
    """The summary across configs as text: one block per config, one line per arm."""
    from sim.summary import format_number

    lines = []
    header = "".join(f"{m:>30s}" for m in PRINTED)
    for config, part in summary.groupby("config", sort=False):
        lines.append(f"\n{config} ({part['config_file'].iloc[0]}), whole contract, mean (95% interval):")
        lines.append(f"  {'arm':34s}{header}")
        for arm, rows in part.groupby("arm", sort=False):
            by = rows.set_index("measure")
            cells = []
            for m in PRINTED:
                if m not in by.index:
                    cells.append(f"{'-':>30s}")
                    continue
                r = by.loc[m]
                ci = "" if math.isnan(r["low_95"]) else f" ({format_number(r['low_95'], m)}-{format_number(r['high_95'], m)})"
                cells.append(f"{format_number(r['mean'], m) + ci:>30s}")
            lines.append(f"  {arm[:34]:34s}" + "".join(cells))
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------


def add_batch_parser(sub) -> None:
    """Add `caresim batch` to the subparsers *sub* of the caresim command."""
    p = sub.add_parser("batch", help="run several configs (every arm), one output folder each, and a summary "
                                     "table across them")
    p.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML configs, e.g. configs/*.yaml")
    p.add_argument("--out", default=str(Path("out") / "batch"), help="output folder (default: out/batch); "
                   "each config writes OUT/<config name>/")
    p.add_argument("--reps", type=int, help="replications (default: each config's run.replications)")
    p.add_argument("--seed", type=int, help="run seed (default: each config's run.seed)")
    p.add_argument("--workers", type=int, help="parallel processes (default: all cores)")
    p.add_argument("--engine", choices=("fast", "reference"), default="fast", help="simulation engine")
    p.add_argument("--no-uncertainty", action="store_true",
                   help="use central parameter values instead of a draw per replication")
    p.set_defaults(func=cmd_batch)


class _Bars:
    """One tqdm bar per config, on stderr."""

    def __init__(self):
        self.bar = None
        self.name = None

    def __call__(self, name: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if name != self.name:
            self.close()
            self.name = name
            self.bar = tqdm(total=total, desc=name, unit="replication", file=sys.stderr, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_batch(args) -> int:
    if args.reps is not None and args.reps < 1:
        raise ValueError("--reps must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    bars = _Bars()
    try:
        summary = run_batch(args.configs, args.out, reps=args.reps, seed=args.seed, workers=args.workers,
                            engine=args.engine, uncertainty=not args.no_uncertainty, progress=bars,
                            command=" ".join(sys.argv))
    finally:
        bars.close()
    print(summary_text(summary))
    names = ", ".join(f"{n}/" for n in pd.unique(summary["config"]))
    print(f"\nResults written to {args.out}/: batch_summary.csv and one folder per config ({names})")
    return 0
