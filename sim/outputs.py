"""Write an experiment's results to a folder: tidy tables, daily series, manifest, config.

Every file is written to a temporary name and renamed into place, so a run that is stopped
half-way never leaves a half-written file, and nothing already saved is overwritten with
less.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from sim.config import to_yaml
from sim.experiment import ExperimentResult
from sim.summary import summarise


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path) then rename tmp_path to *path*."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes private files; results are for sharing
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    if path.suffix == ".parquet":
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def write_results(result: ExperimentResult, out: str | Path, command: str = "") -> dict[str, Path]:
    """Write tidy.parquet/.csv, summary.csv, daily.parquet, manifest.json and config.yaml."""
    out = Path(out)
    files = {
        "tidy_parquet": out / "tidy.parquet",
        "tidy_csv": out / "tidy.csv",
        "summary_csv": out / "summary.csv",
        "daily_parquet": out / "daily.parquet",
        "manifest": out / "manifest.json",
        "config": out / "config.yaml",
    }
    write_frame(files["tidy_parquet"], result.tidy)
    write_frame(files["tidy_csv"], result.tidy)
    write_frame(files["summary_csv"], summarise(result.tidy))
    write_frame(files["daily_parquet"], result.daily)
    write_text(files["config"], to_yaml(result.scenario))
    manifest = dict(result.manifest)
    manifest["command"] = command
    manifest["files"] = {k: v.name for k, v in files.items()}
    manifest["reproduce"] = (f"caresim {'compare' if len(manifest.get('arms', [])) > 1 else 'run'} "
                             f"{files['config'].name} --reps {manifest['replications']} "
                             f"--seed {manifest['seed']} --engine {manifest['engine']}")
    write_text(files["manifest"], json.dumps(manifest, indent=2, default=str))
    return files
