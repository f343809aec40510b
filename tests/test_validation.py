"""caresim validate and the STRESS-DES report."""

import json

import numpy as np
import pytest

from sim.cli import main
from sim.config import load, with_changes
from validation.stress import stress_report
from validation.suite import mser5


def test_validate_runs_studies_writes_json_and_html(tmp_path, capsys):
    code = main(["validate", "--quick", "--only", "agreement,face", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "validation.json").read_text())
    assert code == (0 if data["failed"] == 0 else 1)
    studies = {c["study"] for c in data["checks"]}
    assert studies == {"engine agreement", "face validity"}
    assert len(data["checks"]) == 5 + 4  # one agreement check per arm, four face-validity checks
    assert all(c["passed"] for c in data["checks"]), [c for c in data["checks"] if not c["passed"]]
    assert "<table>" in (tmp_path / "validation.html").read_text()
    assert f"validation: {data['passed']} passed, {data['failed']} failed" in out


def test_validate_refuses_an_unknown_study(capsys):
    assert main(["validate", "--only", "nonsense"]) == 2
    assert "unknown study" in capsys.readouterr().err


def test_mser5_finds_the_end_of_an_initial_transient():
    rng = np.random.default_rng(3)
    series = np.concatenate([np.linspace(0.0, 10.0, 200), 10.0 + rng.normal(0, 1, 2000)])
    cut = mser5(series)
    assert 150 <= cut <= 260
    assert mser5(10.0 + rng.normal(0, 1, 2000)) <= 100


def test_stress_report_is_generated_from_the_config():
    scenario = load("configs/bnes.yaml")
    text = stress_report(scenario, "configs/bnes.yaml")
    for section in ("## 1. Objectives", "## 2. Logic", "## 3. Data", "## 4. Experimentation",
                    "## 5. Implementation", "## 6. Code access", "2.5.3 Resources", "3.1 Data sources"):
        assert section in text
    for arm in scenario.arms:
        assert arm.name in text
    assert f"{scenario.population.size:,} people" in text
    assert scenario.sources["costs.admission"] in text
    changed = with_changes(scenario, {"services.acute_beds.capacity": 123, "run.contract_years": 5})
    other = stress_report(changed, "x.yaml")
    assert "| acute beds | 123 |" in other and "5 contract years" in other
    assert "| acute beds | 123 |" not in text


@pytest.mark.slow
def test_validate_quick_passes_on_main(tmp_path):
    """What CI runs: every study, quick. A failed check fails this test."""
    code = main(["validate", "--quick", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "validation.json").read_text())
    failed = [c for c in data["checks"] if not c["passed"]]
    assert code == 0 and not failed, failed
