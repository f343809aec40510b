"""The caresim command as a planner uses it: real files, real exit codes, readable errors."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent


def caresim(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def _short_config(tmp_path, small_text_changes=()):
    text = (ROOT / "configs" / "small.yaml").read_text()
    text = text.replace("contract_years: 3", "contract_years: 2")
    for old, new in small_text_changes:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "place.yaml"
    path.write_text(text)
    return path


def test_run_writes_tables_manifest_and_a_readable_summary(tmp_path):
    config = _short_config(tmp_path)
    out = tmp_path / "out"
    done = caresim("run", str(config), "--reps", "3", "--seed", "5", "--out", str(out), "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "Emergency admissions" in done.stdout and "95% interval" in done.stdout
    for name in ("tidy.parquet", "tidy.csv", "summary.csv", "daily.parquet", "manifest.json", "config.yaml"):
        assert (out / name).stat().st_size > 0
    tidy = pd.read_parquet(out / "tidy.parquet")
    assert list(tidy.columns) == ["arm", "replication", "year", "measure", "detail", "value"]
    assert sorted(tidy["replication"].unique()) == [0, 1, 2]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["replications"] == 3 and manifest["engine"] == "fast"
    assert len(manifest["config_sha256"]) == 64
    # The printed mean admissions is the tidy table's mean.
    mean = tidy.query("year == 0 and measure == 'admissions'")["value"].mean()
    line = next(x for x in done.stdout.splitlines() if x.startswith("Emergency admissions "))
    assert f"{mean:,.0f}" in line


def test_the_manifest_reproduces_the_run(tmp_path):
    config = _short_config(tmp_path)
    first, second = tmp_path / "a", tmp_path / "b"
    assert caresim("run", str(config), "--reps", "2", "--out", str(first), "--workers", "1").returncode == 0
    # Re-run from the copy of the config and the seed the manifest recorded.
    manifest = json.loads((first / "manifest.json").read_text())
    done = caresim("run", str(first / "config.yaml"), "--reps", str(manifest["replications"]),
                   "--seed", str(manifest["seed"]), "--out", str(second), "--workers", "1")
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(first / "tidy.parquet"), pd.read_parquet(second / "tidy.parquet"))


@pytest.mark.parametrize("change, expected", [
    (("    window_days: 30", "    window_days: -3"), "flow.readmission.window_days"),
    (("  acute_beds: {capacity: 7", "  acute_beds: {capacity: -5"), "services.acute_beds.capacity"),
    (("  discount_rate: 0.035", "  discount_rate: 0.035\n  replicatons: 4"), "run.replicatons"),
])
def test_bad_config_exits_2_with_keyed_message_and_no_traceback(tmp_path, change, expected):
    config = _short_config(tmp_path, [change])
    done = caresim("run", str(config), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert expected in done.stderr and "line " in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_run_leaves_earlier_results_untouched(tmp_path):
    config = _short_config(tmp_path)
    out = tmp_path / "out"
    assert caresim("run", str(config), "--reps", "2", "--out", str(out), "--workers", "1").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = _short_config(tmp_path, [("  acute_beds: {capacity: 7", "  acute_beds: {capacity: -5")])
    assert caresim("run", str(bad), "--out", str(out)).returncode == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_missing_file_and_bad_options(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["run", "configs/small.yaml", "--reps", "0"])
    assert exc.value.code == 2


def test_schema_is_json_schema_of_the_config(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["type"] == "object"
    assert {"population", "flow", "services", "costs"} <= set(schema["properties"])
    assert set(schema["required"]) >= {"name", "population", "flow", "services", "costs"}


def test_population_summary_counts_everyone(capsys):
    assert main(["population", "configs/small.yaml", "--by", "age_band"]) == 0
    out = capsys.readouterr().out
    counts = [int(line.split()[1]) for line in out.splitlines()[2:] if line.strip()]
    assert sum(counts) == 4000


def test_compare_prints_every_arm_and_writes_the_report(tmp_path):
    config = _short_config(tmp_path)
    out = tmp_path / "cmp"
    done = caresim("compare", str(config), "--reps", "2", "--out", str(out), "--workers", "2")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "comparison.csv")
    arms = list(dict.fromkeys(table["arm"]))
    assert len(arms) == 5
    for arm in arms:
        assert f"== {arm} ==" in done.stdout
    report = (out / "report.html").read_text()
    assert report.startswith("<!DOCTYPE html>") and "Cost-effectiveness plane" in report
    assert "<script src=" not in report  # self-contained: plotly.js is inlined, nothing fetched
