"""`caresim batch`: several configs, one folder each, one summary table across them."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_sweep import SMALL, caresim  # tests/ is on the path (pytest rootdir mode)

from sim.batch import BatchError, folder_names, run_batch
from sim.config import load, to_yaml, with_changes
from sim.experiment import run_experiment
from sim.summary import summarise


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """Two one-year places with the same file name in different folders: 4,000 and 3,000 people."""
    folder = tmp_path_factory.mktemp("configs")
    short = with_changes(load(SMALL), {"run.contract_years": 1})
    smaller = with_changes(short, {"population.size": 3000, "name": "Smaller place"})
    paths = []
    for sub, scenario in (("a", short), ("b", smaller)):
        (folder / sub).mkdir()
        (folder / sub / "place.yaml").write_text(to_yaml(scenario), encoding="utf-8")
        paths.append(folder / sub / "place.yaml")
    return paths


@pytest.fixture(scope="module")
def batch(configs, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "out"
    code = caresim(["batch", *map(str, configs), "--out", str(out), "--reps", "2", "--seed", "11", "--workers", "2"])
    return out, code


def test_each_config_gets_its_own_complete_folder(batch, configs):
    out, code = batch
    assert code == 0
    assert folder_names(configs) == ["place", "place-2"]
    for name in ("place", "place-2"):
        files = {p.name for p in (out / name).iterdir()}
        assert {"tidy.parquet", "tidy.csv", "summary.csv", "daily.parquet", "manifest.json", "config.yaml",
                "comparison.csv", "report.html"} <= files
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert manifest["replications"] == 2 and manifest["seed"] == 11 and len(manifest["arms"]) == 5


def test_a_folder_holds_what_the_experiment_computes_on_its_own(batch, configs):
    out, _ = batch
    scenario = load(configs[1])
    alone = run_experiment(scenario, replications=2, seed=11, workers=1)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "place-2" / "tidy.parquet"), alone.tidy, check_dtype=False)


def test_the_summary_table_covers_every_config_and_arm_and_matches_each_folder(batch, capsys):
    out, _ = batch
    summary = pd.read_csv(out / "batch_summary.csv")
    assert list(dict.fromkeys(summary["config"])) == ["place", "place-2"]
    assert summary.groupby("config")["arm"].nunique().tolist() == [5, 5]
    for name in ("place", "place-2"):
        own = summarise(pd.read_parquet(out / name / "tidy.parquet")).set_index(["arm", "measure", "detail"])
        for row in summary[summary["config"] == name].itertuples():
            assert row.mean == pytest.approx(own.loc[(row.arm, row.measure, ""), "mean"])
    admissions = summary[(summary["measure"] == "admissions") & (summary["arm"] == "Status quo")].set_index("config")
    assert admissions.loc["place-2", "mean"] < admissions.loc["place", "mean"]  # fewer people, fewer admissions


def test_a_second_run_reuses_finished_folders_and_reruns_changed_ones(batch, configs, capsys):
    out, _ = batch
    stamp = {n: (out / n / "tidy.parquet").stat().st_mtime_ns for n in ("place", "place-2")}
    run_batch(configs, out, reps=2, seed=11, workers=1)
    assert {n: (out / n / "tidy.parquet").stat().st_mtime_ns for n in stamp} == stamp
    summary = run_batch(configs[:1], out, reps=3, seed=11, workers=1)
    assert (out / "place" / "tidy.parquet").stat().st_mtime_ns != stamp["place"]
    assert set(summary["replications"]) == {3}


def test_every_bad_config_is_named_before_anything_runs(tmp_path, configs, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text(configs[0].read_text().replace("contract_years: 1", "contract_years: -1"), encoding="utf-8")
    with pytest.raises(BatchError) as info:
        run_batch([configs[0], broken, tmp_path / "missing.yaml"], tmp_path / "out")
    text = info.value.format()
    assert "run.contract_years" in text and "missing.yaml" in text and "file not found" in text
    assert not (tmp_path / "out").exists()
    assert caresim(["batch", str(broken), "--out", str(tmp_path / "out")]) == 2
    assert "run.contract_years" in capsys.readouterr().err
