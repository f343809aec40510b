"""Sweeps: the sweep file's checks, designs, sensitivity indices, the end-to-end run, resuming.

The Dask backend is tested in test_dask.py; the helpers here (tiny sweep files on
configs/small.yaml, the CLI whether or not sim/cli.py has the subcommand yet) are shared.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim import sensitivity
from sim.config import get_path, load
from sim.sweep import SweepError, code_digest, collect, parse_spec, plan, run_sweep, run_task

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "configs" / "small.yaml"
SWEEPS = ROOT / "configs" / "sweeps"
HUBS = "GP-led wellbeing hubs"


# --- helpers (also used by test_batch.py and test_dask.py) ----------------------------------


def write_sweep(folder: Path, file: str = "tiny.yaml", **fields) -> Path:
    """A sweep file on configs/small.yaml with one-year contracts; *fields* replace the defaults."""
    spec = {
        "name": "Tiny sweep",
        "base": str(SMALL),
        "set": {"run.contract_years": 1},
        "parameters": [{"key": "arms.3.params.hub_size", "values": [30000, 50000]}],
        "design": {"method": "grid"},
        "replications": 2,
        "arms": ["Status quo", HUBS],
        "measures": ["admissions", "delayed_days", "cost_total_gbp"],
    }
    spec.update(fields)
    path = folder / file
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def caresim(argv: list[str]) -> int:
    """`caresim ARGV` in this process."""
    from sim.cli import main

    return main(argv)


def caresim_command(argv: list[str]) -> list[str]:
    """The command line that runs `caresim ARGV` in a subprocess."""
    return [sys.executable, "-m", "sim.cli", *argv]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def problems_of(exc: SweepError) -> dict[str, str]:
    return {path: message for path, _, message in exc.problems}


# --- the sweep file -------------------------------------------------------------------------


def test_a_bad_sweep_file_names_every_bad_key_and_its_line(tmp_path):
    text = f"""name: Bad
base: {SMALL}
parameters:
  - key: services.reablement.capacity
    range: [10, 5]
  - name: both
    key: run.seed
    scale: [flow.care_home_multiplier]
    values: [1, 2]
  - key: run.seed
measures: [admissions, pathway_share, admisions]
replicatons: 3
design: {{method: sobol}}
"""
    with pytest.raises(SweepError) as info:
        parse_spec(text, "bad.yaml")
    found = {path: (line, message) for path, line, message in info.value.problems}
    assert "low <= high" in found["parameters.0"][1] and found["parameters.0"][0] == 4
    assert "either key" in found["parameters.1"][1]
    assert "either range" in found["parameters.2"][1]
    assert "unknown key" in found["replicatons"][1] and found["replicatons"][0] == 12
    assert "pathway_share:DETAIL" in found["measures.1"][1]
    assert "did you mean 'admissions'" in found["measures.2"][1]
    assert "design.points is required for sobol" in found["design"][1]
    assert "bad.yaml" in info.value.format()


def test_keys_that_do_not_exist_are_named_before_anything_runs(tmp_path):
    path = write_sweep(tmp_path, parameters=[
        {"key": "services.reablement.capacityy", "range": [1, 10]},
        {"key": "arms.9.params.hub_size", "range": [30000, 40000]},
        {"name": "div", "scale": ["flow.diversion.*.probabilty"], "range": [1, 2]},
    ], arms=["Status quo", "Hubs"], set={"run.contract_year": 1})
    with pytest.raises(SweepError) as info:
        plan(path)
    found = problems_of(info.value)
    assert "did you mean services.reablement.capacity?" in found["parameters.0.key"]
    assert "arms.9 does not exist" in found["parameters.1.key"]
    assert "matches no key" in found["parameters.2.scale.0"]
    assert "no arm called 'Hubs'" in found["arms.1"]
    assert "did you mean run.contract_years?" in found["set.run.contract_year"]


def test_a_range_outside_the_valid_values_is_refused_naming_the_key(tmp_path):
    path = write_sweep(tmp_path, parameters=[
        {"key": "arms.3.params.hub_size", "range": [20000, 50000]},
        {"key": "services.reablement.capacity", "range": [-3, 8]},
        {"name": "diversion_share", "scale": ["flow.diversion.*.probability"], "reference": 0.15,
         "range": [0.15, 1.0]},
    ])
    with pytest.raises(SweepError) as info:
        plan(path)
    found = info.value.problems
    messages = [m for p, _, m in found]
    assert any(p == "parameters.0.range" and "low end 20000" in m and "arms.3.params.hub_size" in m
               for p, _, m in found), messages
    assert not any(p == "parameters.0.range" and "high end" in m for p, _, m in found)
    assert any(p == "parameters.1.range" and "low end -3" in m and "services.reablement.capacity" in m
               for p, _, m in found), messages
    assert any(p == "parameters.2.range" and "high end 1.0" in m and "flow.diversion." in m
               for p, _, m in found), messages


# --- designs and points ---------------------------------------------------------------------


def test_grid_points_cover_every_combination_and_the_one_at_a_time_points(tmp_path):
    path = write_sweep(tmp_path, parameters=[
        {"key": "services.reablement.capacity", "range": [2, 10]},
        {"name": "diversion_share", "scale": ["flow.diversion.*.probability"], "reference": 0.15,
         "values": [0.15, 0.3]},
    ], design={"method": "grid", "levels": 3})
    sweep = plan(path)
    design = [sweep.points[i].values for i in sweep.design_points]
    assert [(v["services.reablement.capacity"], v["diversion_share"]) for v in design] == [
        (2, 0.15), (2, 0.3), (6, 0.15), (6, 0.3), (10, 0.15), (10, 0.3)]
    assert all(isinstance(v["services.reablement.capacity"], int) for v in design)  # the config's is an int
    # The baseline is the base config's own values (reablement 6, diversion unchanged), so the
    # one-at-a-time points are all grid points already: none added.
    assert len(sweep.points) == 6
    base = sweep.points[sweep.baseline]
    assert base.values == {"services.reablement.capacity": 6, "diversion_share": 0.15}
    low, high = sweep.one_at_a_time["diversion_share"]
    assert sweep.points[high].values == {"services.reablement.capacity": 6, "diversion_share": 0.3}
    # Scaling multiplies every diversion probability by value / reference.
    base_data = load(SMALL).model_dump(mode="json")
    changed = sweep.points[high].scenario.model_dump(mode="json")
    for kind in base_data["flow"]["diversion"]:
        before = get_path(base_data, f"flow.diversion.{kind}.probability")
        after = get_path(changed, f"flow.diversion.{kind}.probability")
        assert after == pytest.approx([2 * p for p in before])
    assert changed["services"]["reablement"]["capacity"] == 6
    assert sweep.points[high].scenario.run.contract_years == 1  # the sweep's `set`


def test_latin_hypercube_puts_one_point_in_each_stratum_of_each_parameter(tmp_path):
    path = write_sweep(tmp_path, parameters=[
        {"key": "flow.care_home_multiplier", "range": [1.0, 2.0]},
        {"key": "flow.readmission.window_days", "range": [20.0, 40.0]},
    ], design={"method": "latin_hypercube", "points": 8, "one_at_a_time": False})
    sweep = plan(path)
    assert len(sweep.points) == 8 and sweep.baseline is None
    for name, (low, high) in (("flow.care_home_multiplier", (1.0, 2.0)), ("flow.readmission.window_days", (20.0, 40.0))):
        values = np.array([p.values[name] for p in sweep.points])
        strata = np.floor((values - low) / (high - low) * 8).astype(int)
        assert sorted(strata) == list(range(8))
    again = plan(path)
    assert [p.values for p in again.points] == [p.values for p in sweep.points]  # seeded


def test_sobol_and_morris_designs_have_the_sizes_their_analyses_need(tmp_path):
    params = [{"key": "flow.care_home_multiplier", "range": [1.0, 2.0]},
              {"key": "flow.readmission.window_days", "range": [20.0, 40.0]},
              {"key": "services.reablement.capacity", "range": [2, 10]}]
    sobol = plan(write_sweep(tmp_path, "s.yaml", parameters=params,
                             design={"method": "sobol", "points": 4, "one_at_a_time": False}))
    assert len(sobol.design_points) == 4 * (3 + 2)
    morris = plan(write_sweep(tmp_path, "m.yaml", parameters=params,
                              design={"method": "morris", "points": 3, "levels": 4}))
    assert len(morris.design_points) == 3 * (3 + 1) and morris.design_unit.shape == (12, 3)
    assert morris.baseline is not None and set(morris.one_at_a_time) == {p["key"] for p in params}


def test_the_sweep_hash_changes_with_what_decides_the_numbers_only(tmp_path):
    first = plan(write_sweep(tmp_path, "a.yaml"))
    renamed = plan(write_sweep(tmp_path, "b.yaml", name="Another name", description="words"))
    more_reps = plan(write_sweep(tmp_path, "c.yaml", replications=3))
    other_base = plan(write_sweep(tmp_path, "d.yaml", set={"run.contract_years": 1, "run.warm_up_years": 0}))
    other_values = plan(write_sweep(tmp_path, "e.yaml", parameters=[
        {"key": "arms.3.params.hub_size", "values": [30000, 45000]}]))
    assert first.spec_hash == renamed.spec_hash
    assert len({first.spec_hash, more_reps.spec_hash, other_base.spec_hash, other_values.spec_hash}) == 4


# --- sensitivity indices --------------------------------------------------------------------

ISHIGAMI_S1 = (0.3139, 0.4424, 0.0)
ISHIGAMI_ST = (0.5576, 0.4424, 0.2437)


def ishigami(u: np.ndarray) -> np.ndarray:
    x = -math.pi + 2 * math.pi * u
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_indices_of_the_ishigami_function_match_the_analytic_values():
    names = ["x1", "x2", "x3"]
    u = sensitivity.sobol_design(names, 4096, seed=7)
    assert u.shape == (4096 * 5, 3)
    table = sensitivity.sobol_indices(ishigami(u), names, resamples=200, seed=7).set_index(["parameter", "index"])
    for name, s1, st in zip(names, ISHIGAMI_S1, ISHIGAMI_ST, strict=True):
        assert table.loc[(name, "S1"), "value"] == pytest.approx(s1, abs=0.03)
        assert table.loc[(name, "ST"), "value"] == pytest.approx(st, abs=0.03)
        # The 95% interval is a few hundredths wide: narrow enough to mean something.
        for index in ("S1", "ST"):
            width = table.loc[(name, index), "high_95"] - table.loc[(name, index), "low_95"]
            assert 0 < width < 0.1


def test_morris_mu_star_of_a_linear_function_is_its_slopes():
    names = ["a", "b", "c"]
    u = sensitivity.morris_design(names, 20, levels=4, seed=3)
    y = 3.0 * u[:, 0] - 1.0 * u[:, 1] + 0.0 * u[:, 2]
    table = sensitivity.morris_indices(u, y, names, levels=4, resamples=100, seed=3).set_index(["parameter", "index"])
    assert table.loc[("a", "mu_star"), "value"] == pytest.approx(3.0)
    assert table.loc[("b", "mu_star"), "value"] == pytest.approx(1.0)
    assert table.loc[("b", "mu"), "value"] == pytest.approx(-1.0)
    assert table.loc[("c", "mu_star"), "value"] == pytest.approx(0.0)
    assert table.loc[("a", "sigma"), "value"] == pytest.approx(0.0, abs=1e-9)  # no interaction


def test_a_swing_is_paired_by_replication():
    low, base, high = np.array([10.0, 20.0, 30.0]), np.array([11.0, 21.0, 31.0]), np.array([12.0, 22.0, 32.0])
    bar = sensitivity.swing(low, base, high)
    assert bar["swing"] == 2.0 and bar["swing_low_95"] == bar["swing_high_95"] == 2.0
    assert (bar["at_low"], bar["at_baseline"], bar["at_high"]) == (20.0, 21.0, 22.0)


# --- running --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny sweep run once in this process: 3 points (hub size 30k, 50k and the baseline
    40k) x 2 replications x 2 arms."""
    folder = tmp_path_factory.mktemp("tiny")
    path = write_sweep(folder)
    out = folder / "out"
    sweep = plan(path)
    result = run_sweep(sweep, out, workers=1)
    return path, sweep, out, result


def test_a_tiny_sweep_writes_a_complete_table_and_a_report(tiny):
    path, sweep, out, result = tiny
    table = result.table
    assert list(table.columns) == ["point", "role", "arms.3.params.hub_size", "arm", "replication", "measure", "value"]
    assert len(table) == 3 * 2 * 2 * 3 and not table.duplicated(["point", "arm", "replication", "measure"]).any()
    assert sorted(set(table["arms.3.params.hub_size"])) == [30000, 40000, 50000]
    assert table["value"].notna().all()
    # Hub size changes nothing for the status quo (common random numbers: identical numbers),
    # and something for the hubs arm.
    sq = table[table["arm"] == "Status quo"].pivot_table(index=["replication", "measure"], columns="point", values="value")
    assert (sq.nunique(axis=1) == 1).all()
    hubs = table[(table["arm"] == HUBS) & (table["measure"] == "cost_total_gbp")]
    assert hubs.groupby("point")["value"].mean().nunique() == 3
    # The table holds what one task computes on its own (a pure function of config, seed, replication).
    point = sweep.points[1]
    alone = run_task(next(t for t in sweep.tasks() if t.point == 1 and t.replication == 1))
    mine = table[(table["point"] == 1) & (table["replication"] == 1)]
    assert list(mine["value"]) == list(alone["value"])
    assert point.values["arms.3.params.hub_size"] == mine["arms.3.params.hub_size"].iloc[0]
    # Files: every task, the table, sensitivity, tornado, report, manifest.
    assert len(list((out / "tasks").glob("*.parquet"))) == 6
    on_disk = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(on_disk, table, check_dtype=False)
    tornado = pd.read_csv(out / "tornado.csv")
    assert set(tornado["parameter"]) == {"arms.3.params.hub_size"} and len(tornado) == 2 * 3
    sq_swing = tornado[tornado["arm"] == "Status quo"]
    assert (sq_swing["swing"] == 0).all()
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["complete"] and manifest["sweep_sha256"] == sweep.spec_hash and manifest["tasks"] == 6
    report = (out / "report.html").read_text()
    assert "<script" in report and "plotly" in report.lower() and "http" not in report.split("<script")[0]
    assert "one parameter at a time" in report and "against arms.3.params.hub_size" in report


def test_a_second_run_reuses_every_task_and_a_lost_task_is_run_again(tiny, tmp_path):
    path, sweep, out, first = tiny
    again = run_sweep(plan(path), out, workers=1)
    assert (again.reused, again.computed) == (6, 0)
    pd.testing.assert_frame_equal(again.table, first.table)
    # Copy the finished folder, lose two tasks, break one, leave a cut-short write behind.
    copy = tmp_path / "copy"
    (copy / "tasks").mkdir(parents=True)
    for f in out.glob("*.json"):
        (copy / f.name).write_bytes(f.read_bytes())
    files = sorted((out / "tasks").glob("*.parquet"))
    for f in files[2:]:
        (copy / "tasks" / f.name).write_bytes(f.read_bytes())
    (copy / "tasks" / files[2].name).write_bytes(b"PAR1 not really")
    (copy / "tasks" / f".{files[0].name}.abc.tmp").write_bytes(b"half")
    resumed = run_sweep(plan(path), copy, workers=2)
    assert (resumed.reused, resumed.computed) == (3, 3)
    pd.testing.assert_frame_equal(resumed.table, first.table)
    assert not list((copy / "tasks").glob(".*.tmp"))


def test_a_changed_sweep_is_refused_in_the_old_folder_unless_fresh(tiny, tmp_path):
    path, sweep, out, _ = tiny
    changed = plan(write_sweep(tmp_path, replications=1))
    with pytest.raises(SweepError, match="--fresh"):
        run_sweep(changed, out, workers=1)
    assert len(list((out / "tasks").glob("*.parquet"))) == 6  # nothing touched
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "sweep.json").write_bytes((out / "sweep.json").read_bytes())
    (copy / "tasks").mkdir()
    for f in (out / "tasks").glob("*.parquet"):
        (copy / "tasks" / f.name).write_bytes(f.read_bytes())
    fresh = run_sweep(changed, copy, workers=1, fresh=True)
    assert (fresh.reused, fresh.computed) == (0, 3) and len(fresh.table) == 3 * 1 * 2 * 3
    assert len(list((copy / "tasks").glob("*.parquet"))) == 3


def test_results_computed_by_other_code_are_not_reused(tiny, tmp_path):
    path, sweep, out, _ = tiny
    copy = tmp_path / "copy"
    (copy / "tasks").mkdir(parents=True)
    manifest = json.loads((out / "sweep.json").read_text())
    manifest["code_sha256"] = "0" * 64
    (copy / "sweep.json").write_text(json.dumps(manifest))
    for f in (out / "tasks").glob("*.parquet"):
        (copy / "tasks" / f.name).write_bytes(f.read_bytes())
    with pytest.raises(SweepError, match="other caresim code"):
        run_sweep(sweep, copy, workers=1)
    assert manifest["code_sha256"] != code_digest()


def test_collect_refuses_a_missing_task(tiny, tmp_path):
    path, sweep, out, _ = tiny
    copy = tmp_path / "copy"
    (copy / "tasks").mkdir(parents=True)
    for f in sorted((out / "tasks").glob("*.parquet"))[1:]:
        (copy / "tasks" / f.name).write_bytes(f.read_bytes())
    with pytest.raises(SweepError, match="has no result"):
        collect(sweep, copy)


def test_the_sweep_command_checks_and_reports_errors(tmp_path, capsys):
    good = write_sweep(tmp_path)
    assert caresim(["sweep", str(good), "--check"]) == 0
    out = capsys.readouterr().out
    assert "3 points x 2 replications = 6 tasks" in out and "Nothing was run" in out
    bad = write_sweep(tmp_path, "bad.yaml", parameters=[{"key": "arms.3.params.hub_size", "range": [30000, 90000]}])
    assert caresim(["sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "parameters.0.range" in err and "high end 90000" in err and "less than or equal to 50000" in err
    assert not (tmp_path / "o").exists()


def test_the_shipped_example_sweeps_are_valid():
    for path in sorted(SWEEPS.glob("*.yaml")):
        spec, _ = parse_spec(path.read_text(), str(path))
        assert (path.parent / spec.base).resolve().exists(), path


@pytest.mark.slow
def test_the_shipped_example_sweeps_build_every_point():
    for path in sorted(SWEEPS.glob("*.yaml")):
        sweep = plan(path)
        assert sweep.n_tasks > 0 and all(p.scenario is not None for p in sweep.points), path


# --- the client killed mid-sweep ------------------------------------------------------------


@pytest.mark.slow
def test_a_sweep_killed_mid_run_finishes_on_the_second_run_with_the_same_table(tmp_path):
    path = write_sweep(tmp_path, parameters=[{"key": "services.reablement.capacity", "values": [2, 4, 6, 8]}],
                       arms=None, replications=4, measures=["admissions", "delayed_days"])
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    command = caresim_command(["sweep", str(path), "--out", str(killed), "--workers", "2"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list((killed / "tasks").glob("*.parquet"))) < 3:
            if process.poll() is not None:
                pytest.fail(f"the sweep ended before it was killed: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)  # the client only; its pool workers die with it
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    done_when_killed = len(list((killed / "tasks").glob("*.parquet")))
    total = 4 * 4
    assert 3 <= done_when_killed < total, "the kill came too late to test resuming"
    assert not (killed / "results.parquet").exists()
    time.sleep(1.0)  # a pool worker orphaned by the kill would write nothing: only the client writes
    assert len(list((killed / "tasks").glob("*.parquet"))) == done_when_killed

    resumed = run_sweep(plan(path), killed, workers=2)
    assert resumed.reused == done_when_killed and resumed.computed == total - done_when_killed
    uninterrupted = run_sweep(plan(path), whole, workers=1)
    pd.testing.assert_frame_equal(resumed.table, uninterrupted.table, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(killed / "results.parquet"),
                                  pd.read_parquet(whole / "results.parquet"), check_exact=True)
