"""The `caresim` command: run, compare, schema, population, batch, sweep, validate, report."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from sim.config import ConfigError, Scenario, json_schema, load

# Measures in the summary printed by `caresim run`, in reading order.
RUN_SUMMARY = (
    ("admissions", "", "Emergency admissions"),
    ("admissions_per_1000", "", "Emergency admissions per 1,000 a year"),
    ("diverted", "", "Crises diverted to community services"),
    ("ed_attendances", "", "Emergency department attendances"),
    ("bed_days", "", "Acute bed days"),
    ("mean_los_days", "", "Mean length of stay, days"),
    ("median_los_days", "", "Median length of stay, days"),
    ("occupancy", "", "Mean acute bed occupancy"),
    ("days_above_92pct", "", "Days with occupancy above 92%"),
    ("trolley_waits", "", "Patients who waited for a bed"),
    ("delayed_days", "", "Delayed days (medically fit, still in bed)"),
    ("delayed_patients_per_day", "", "Delayed patients a day"),
    ("pathway_share", "pathway 0", "Discharges on pathway 0 (home)"),
    ("pathway_share", "pathway 1", "Discharges on pathway 1 (reablement)"),
    ("pathway_share", "pathway 2", "Discharges on pathway 2 (step-down bed)"),
    ("pathway_share", "pathway 3", "Discharges on pathway 3 (care home)"),
    ("care_home_admissions", "", "Permanent care-home admissions"),
    ("care_home_admissions_per_100k_65plus", "", "  per 100,000 aged 65+ a year"),
    ("home_91_days_share", "", "At home 91 days after reablement"),
    ("readmission_rate_30d", "", "30-day readmission rate"),
    ("deaths", "", "Deaths"),
    ("hospital_death_share", "", "Share of deaths in hospital"),
    ("cost_nhs_gbp", "", "Cost to the NHS, GBP"),
    ("cost_council_gbp", "", "Cost to the council, GBP"),
    ("cost_pooled_gbp", "", "Cost to the pooled budget, GBP"),
    ("cost_total_gbp", "", "Total cost, GBP"),
    ("present_value_gbp", "", "Present value (discounted), GBP"),
)


class _Progress:
    """A tqdm progress bar on stderr, counting replications."""

    def __init__(self, total: int, what: str, unit: str = "replication"):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _load(path: str) -> Scenario:
    return load(path)


def _experiment(args, scenario: Scenario, arms, what: str):
    from sim.experiment import run_experiment

    reps = args.reps or scenario.run.replications
    progress = _Progress(reps, what)
    try:
        return run_experiment(scenario, replications=reps, seed=args.seed, engine=args.engine,
                              workers=args.workers, arms=arms, progress=progress,
                              uncertainty=not args.no_uncertainty)
    finally:
        progress.close()


def _out_dir(args, scenario_path: str, kind: str) -> Path:
    if args.out:
        return Path(args.out)
    return Path("out") / f"{Path(scenario_path).stem}-{kind}"


def cmd_run(args) -> int:
    from sim.outputs import write_results
    from sim.summary import format_number, summarise

    scenario = _load(args.config)
    comparator = next((a for a in scenario.arms if a.kind == "status_quo"), scenario.arms[0])
    result = _experiment(args, scenario, [comparator.name], f"{scenario.name}: {comparator.name}")
    out = _out_dir(args, args.config, "run")
    write_results(result, out, command=" ".join(sys.argv))
    table = summarise(result.tidy).set_index(["measure", "detail"])
    years = f"{scenario.run.start_year}-{scenario.run.start_year + scenario.run.contract_years - 1}"
    print(f"\n{scenario.name}: {comparator.name}, whole contract ({scenario.run.contract_years} years, {years}),"
          f" {result.manifest['replications']} replications, seed {result.manifest['seed']}, {args.engine} engine")
    print(f"{'measure':44s} {'mean':>12s}   95% interval")
    for measure, detail, label in RUN_SUMMARY:
        if (measure, detail) not in table.index:
            continue
        row = table.loc[(measure, detail)]
        interval = ("" if math.isnan(row["low_95"]) else
                    f"{format_number(row['low_95'], measure)} to {format_number(row['high_95'], measure)}")
        print(f"{label:44s} {format_number(row['mean'], measure):>12s}   {interval}")
    print(f"\nResults written to {out}/ (tidy.parquet, tidy.csv, summary.csv, daily.parquet, manifest.json, config.yaml)")
    return 0


def cmd_compare(args) -> int:
    from sim.outputs import write_results, write_text
    from sim.report import comparison_text, html_report
    from sim.summary import compare

    scenario = _load(args.config)
    if len(scenario.arms) < 2:
        print(f"{args.config}: only one arm; add care models under `arms:` to compare", file=sys.stderr)
        return 2
    result = _experiment(args, scenario, None, f"{scenario.name}: {len(scenario.arms)} arms")
    out = _out_dir(args, args.config, "compare")
    files = write_results(result, out, command=" ".join(sys.argv))
    comparator = next((a.name for a in scenario.arms if a.kind == "status_quo"), scenario.arms[0].name)
    table = compare(result.tidy, comparator, scenario.run.bcf_admissions_target)
    from sim.outputs import write_frame

    write_frame(out / "comparison.csv", table)
    write_text(out / "report.html", html_report(result, comparator, table))
    print(f"\n{scenario.name}: {len(scenario.arms)} arms, whole contract ({scenario.run.contract_years} years from "
          f"{scenario.run.start_year}), {result.manifest['replications']} replications, seed {result.manifest['seed']}")
    print(comparison_text(table, comparator))
    print(f"\nResults written to {out}/ (report.html, comparison.csv, {', '.join(p.name for p in files.values())})")
    return 0


def cmd_schema(args) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_population(args) -> int:
    import pandas as pd

    from sim.population import generate
    from sim.randomness import replication_seed

    scenario = _load(args.config)
    seed = args.seed if args.seed is not None else scenario.run.seed
    # The population of replication 0 of a run with this seed, as the experiments draw it.
    population = generate(scenario, replication_seed(seed, args.replication))
    by = tuple(b.strip() for b in args.by.split(","))
    with pd.option_context("display.max_rows", 500, "display.width", 200):
        print(population.summary(by))
    return 0


def cmd_validate(args) -> int:
    from validation.suite import STUDIES, format_table, run_validation, write_validation

    studies = args.only.split(",") if args.only else list(STUDIES)
    unknown = [s for s in studies if s not in STUDIES]
    if unknown:
        print(f"caresim: unknown study {', '.join(unknown)}; use {', '.join(STUDIES)}", file=sys.stderr)
        return 2
    progress = _Progress(len(studies), "validation", unit="study")
    done = []

    def step(name):
        done.append(name)
        progress.bar.set_postfix_str(name)
        progress(len(done) - 1, len(studies))

    try:
        table = run_validation(quick=args.quick, studies=studies, progress=step)
        progress(len(studies), len(studies))
    finally:
        progress.close()
    out = Path(args.out) if args.out else Path("out") / "validation"
    write_validation(table, out, args.quick)
    print(format_table(table))
    print(f"Written to {out}/validation.html and validation.json")
    return 0 if table["passed"].all() else 1


def cmd_report(args) -> int:
    from sim.outputs import write_text
    from validation.stress import stress_report

    scenario = _load(args.config)
    if not args.stress:
        print("caresim report: say which report, e.g. --stress", file=sys.stderr)
        return 2
    text = stress_report(scenario, args.config)
    if args.out:
        write_text(Path(args.out), text)
        print(f"STRESS-DES report written to {args.out}")
    else:
        print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caresim", description=(
        "Compare ways of organising community health and social care: emergency admissions, "
        "length of stay, delays and cost, with honest uncertainty."))
    sub = parser.add_subparsers(dest="command", required=True)

    def experiment_options(p):
        p.add_argument("config", help="YAML config, e.g. configs/bnes.yaml")
        p.add_argument("--reps", type=int, help="replications (default: the config's run.replications)")
        p.add_argument("--seed", type=int, help="run seed (default: the config's run.seed)")
        p.add_argument("--out", help="output folder (default: out/<config>-<command>)")
        p.add_argument("--engine", choices=("fast", "reference"), default="fast",
                       help="simulation engine: fast (numba, default) or reference (SimPy)")
        p.add_argument("--workers", type=int, help="parallel processes (default: all cores)")
        p.add_argument("--no-uncertainty", action="store_true",
                       help="use central parameter values instead of a draw per replication")

    p = sub.add_parser("run", help="run today's services (the status quo arm) and summarise")
    experiment_options(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("compare", help="run every arm on the same people and compare with the status quo")
    experiment_options(p)
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("schema", help="print the JSON Schema of the config (for editors)")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("population", help="print the synthetic population by stratum")
    p.add_argument("config")
    p.add_argument("--seed", type=int, help="run seed (default: the config's run.seed)")
    p.add_argument("--replication", type=int, default=0, help="which replication's population (default 0)")
    p.add_argument("--by", default="age_band,risk", help="comma-separated: age_band, risk, cluster, forum, "
                   "deprivation_quintile, residence")
    p.set_defaults(func=cmd_population)
    from sim.batch import add_batch_parser
    from sim.sweep import add_sweep_parser

    add_batch_parser(sub)
    add_sweep_parser(sub)
    p = sub.add_parser("validate", help="run the validation studies and print each check")
    p.add_argument("--quick", action="store_true", help="fewer replications and shorter runs (what CI runs)")
    p.add_argument("--out", help="folder for validation.html and validation.json (default out/validation)")
    p.add_argument("--only", help="comma-separated studies: queueing, agreement, peer, calibration, face, adequacy")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("report", help="write a report about a config (--stress: the STRESS-DES checklist)")
    p.add_argument("config")
    p.add_argument("--stress", action="store_true", help="the STRESS-DES reporting checklist (Monks et al. 2019)")
    p.add_argument("--out", help="file to write (Markdown); default: print")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "reps", None) is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    if getattr(args, "workers", None) is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        return args.func(args)
    except ConfigError as exc:
        print(exc.format(), file=sys.stderr)
        return 2
    except (ValueError, KeyError) as exc:
        print(f"caresim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("caresim: interrupted; files already written are complete", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
