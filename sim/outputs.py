"""Write an experiment's results to a folder: tidy tables, daily series, manifest, config.

Every file is written to a temporary name and renamed into place, so a run that is stopped
half-way never leaves a half-written file, and nothing already saved is overwritten with
less.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
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
    elif (formats := _csv_formats(frame)) is None:
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    else:
        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                for text in csv_chunks(frame, formats=formats):
                    handle.write(text)

        atomic_write(path, write)


def _quoted(value: str) -> str:
    """A text field as the csv module (and so pandas) writes it: quoted only if it must be."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([value, ""])
    return buffer.getvalue()[:-2]


def _csv_formats(frame: pd.DataFrame) -> list | None:
    """How `csv_chunks` writes each column, or None if pandas must write one of them."""
    if frame.shape[1] == 0:
        return None
    formats: list = []
    for name in frame.columns:
        series = frame[name]
        dtype = series.dtype
        if dtype == np.float64:
            formats.append("double")
        elif dtype.kind in "iu":
            formats.append("integer")
        elif dtype.kind == "b":
            formats.append("boolean")
        elif not isinstance(dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(series):
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            if not all(isinstance(u, str) for u in uniques):
                return None
            formats.append((codes, np.array([_quoted(u) for u in uniques] + [""], dtype=object)))
        else:
            return None
    return formats


def csv_chunks(frame: pd.DataFrame, rows: int = 50_000, formats: list | None = None):
    """The text of ``frame.to_csv(index=False)``, byte for byte, in pieces of *rows* rows, in
    about half pandas' time. *formats* is `_csv_formats(frame)` if the caller has it.

    Only for columns of text, whole numbers, doubles and booleans (`_csv_formats`; the
    caller asks pandas otherwise). A replication's tidy table has a row per measure, so the
    main job's tidy.csv has hundreds of thousands of rows; pandas spends most of its time on
    them converting each value on its own.
    """
    formats = _csv_formats(frame) if formats is None else formats
    if formats is None:
        raise ValueError("a column that only pandas can write; use DataFrame.to_csv")
    yield ",".join(_quoted(str(name)) for name in frame.columns) + "\n"
    for start in range(0, len(frame), rows):
        columns = []
        for name, form in zip(frame.columns, formats, strict=True):
            if isinstance(form, tuple):
                codes, table = form
                columns.append(table[codes[start:start + rows]].tolist())  # code -1: missing
                continue
            values = frame[name].to_numpy()[start:start + rows]
            if form == "double":
                texts = list(map(repr, values.tolist()))
                if np.isnan(values).any():
                    texts = ["" if t == "nan" else t for t in texts]
            elif form == "integer":
                texts = list(map(str, values.tolist()))
            else:
                texts = ["True" if v else "False" for v in values.tolist()]
            columns.append(texts)
        yield "".join([",".join(row) + "\n" for row in zip(*columns, strict=True)])


def csv_text(frame: pd.DataFrame) -> str | None:
    """All of `csv_chunks` as one text, or None if pandas must write the frame."""
    formats = _csv_formats(frame)
    return None if formats is None else "".join(csv_chunks(frame, formats=formats))


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
    # The parquet files are written by a second thread (pyarrow lets go of Python's lock
    # while it compresses and writes) as this one writes the text files.
    with ThreadPoolExecutor(max_workers=1) as writer:
        parquet = [writer.submit(write_frame, files["tidy_parquet"], result.tidy),
                   writer.submit(write_frame, files["daily_parquet"], result.daily)]
        write_frame(files["tidy_csv"], result.tidy)
        write_frame(files["summary_csv"], summarise(result.tidy))
        write_text(files["config"], to_yaml(result.scenario))
        for done in parquet:
            done.result()  # a failed write raises here, before the manifest is written
    manifest = dict(result.manifest)
    manifest["command"] = command
    manifest["files"] = {k: v.name for k, v in files.items()}
    manifest["reproduce"] = (f"caresim {'compare' if len(manifest.get('arms', [])) > 1 else 'run'} "
                             f"{files['config'].name} --reps {manifest['replications']} "
                             f"--seed {manifest['seed']} --engine {manifest['engine']}")
    write_text(files["manifest"], json.dumps(manifest, indent=2, default=str))
    return files
