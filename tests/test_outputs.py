"""Result files: the fast CSV writer writes what pandas writes, byte for byte."""

import numpy as np
import pandas as pd
import pytest

from sim.outputs import csv_text, write_frame


def _tricky() -> pd.DataFrame:
    return pd.DataFrame({
        "arm": ["Status quo", "a, b", 'say "hi"', "", None, "two\nlines", " lead", "crème"],
        "replication": np.array([0, 1, 2, -3, 4, 5, 6, 2**40], dtype=np.int64),
        "value": [1.0, np.nan, -0.0, np.inf, 1e-300, 123456789012345.0, 0.1 + 0.2, -np.inf],
        "flag": [True, False, True, True, False, True, False, True],
    })


def test_csv_text_matches_pandas_on_awkward_values():
    frame = _tricky()
    assert csv_text(frame) == frame.to_csv(index=False)


def test_csv_text_matches_pandas_on_object_columns_and_empty_frames():
    frame = _tricky().fillna({"arm": "none"}).astype({"arm": object})
    assert frame["arm"].dtype == object
    assert csv_text(frame) == frame.to_csv(index=False)
    empty = _tricky().iloc[:0]
    assert csv_text(empty) == empty.to_csv(index=False)


@pytest.mark.parametrize("column", [
    pd.Categorical(["x", "y"]),                 # categories: pandas writes them
    np.array([0.1, 0.2], dtype=np.float32),     # float32 prints differently from a double
    [1, "mixed"],                               # mixed objects
])
def test_csv_text_leaves_other_columns_to_pandas(column, tmp_path):
    frame = pd.DataFrame({"c": column})
    assert csv_text(frame) is None
    write_frame(tmp_path / "x.csv", frame)  # still written, by pandas
    assert (tmp_path / "x.csv").read_text(encoding="utf-8") == frame.to_csv(index=False)


def test_write_frame_writes_the_fast_text(tmp_path):
    frame = _tricky()
    write_frame(tmp_path / "t.csv", frame)
    assert (tmp_path / "t.csv").read_bytes() == frame.to_csv(index=False).encode("utf-8")


def test_csv_chunks_split_rows_but_not_the_text():
    from sim.outputs import csv_chunks

    frame = pd.concat([_tricky()] * 5, ignore_index=True)
    pieces = list(csv_chunks(frame, rows=3))
    assert len(pieces) == 1 + -(-len(frame) // 3)  # the header, then every 3 rows
    assert "".join(pieces) == frame.to_csv(index=False)
