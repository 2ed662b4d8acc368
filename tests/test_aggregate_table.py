"""summary.csv writing: both renderers read back alike, cached lines are reused, never mixed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmsweep.aggregate import table


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "job_id": ["cnn-1", "cnn-2", "fc-3"],
            "split": ['odd, "quoted" name', "main", None],
            "filters": pd.array([64, None, 128], dtype="Int64"),
            "learning_rate": [1e-5, 0.001, np.nan],
            "test_pearson": [0.912345678, np.nan, 0.5],
            "early_stopped": [True, False, True],
            "epochs_run": np.array([3, 40, 12]),
        }
    )


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"filters": "Int64"})


def test_both_renderers_read_back_the_same_table(frame: pd.DataFrame, tmp_path: Path) -> None:
    arrow = table._render_arrow(frame)
    assert arrow is not None and len(arrow) == len(frame)
    lines = {"arrow": arrow, "python": table._render_python(frame)}
    header = ",".join(frame.columns)
    tables = {}
    for name, rendered in lines.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(header + "\n" + "\n".join(rendered) + "\n")
        tables[name] = read(path)
    pd.testing.assert_frame_equal(tables["arrow"], tables["python"])
    assert tables["python"].at[0, "split"] == 'odd, "quoted" name'
    assert tables["python"]["learning_rate"].iloc[0] == 1e-5
    assert pd.isna(tables["python"]["filters"].iloc[1])


def test_a_line_break_in_a_value_falls_back_to_python(frame: pd.DataFrame, tmp_path) -> None:
    frame.loc[1, "split"] = "two\nlines"
    assert table._render_arrow(frame) is None
    cache = table.write_csv(frame, tmp_path / "s.csv", row_keys=["a", "b", "c"])
    assert cache["renderer"] == "python"
    assert read(tmp_path / "s.csv").at[1, "split"] == "two\nlines"


def test_cached_lines_are_reused_and_renderers_never_mixed(frame, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    first = table.write_csv(frame, path, row_keys=["a", "b", "c"])
    assert first["renderer"] == "arrow"
    fake = {**first, "lines": {**first["lines"], "a": "cached,line"}}
    table.write_csv(frame, path, row_keys=["a", "b", "c"], cache=fake)
    assert path.read_text().splitlines()[1] == "cached,line"  # reused, not rendered again
    # a new row that arrow cannot render: every line is rendered in Python again
    more = pd.concat([frame, frame.iloc[[0]].assign(job_id="x", split="a\nb")])
    again = table.write_csv(more, path, row_keys=["a", "b", "c", "d"], cache=fake)
    assert again["renderer"] == "python"
    assert "cached,line" not in path.read_text()
    assert len(read(path)) == 4


def test_whole_number_columns_are_nullable_integers_with_or_without_gaps() -> None:
    """summary.parquet's types must not depend on whether some row left a gap."""
    gapless = pd.DataFrame({"seed": [1, 2], "batch_size": [32, 64], "learning_rate": [0.1, 0.2]})
    gapped = pd.DataFrame(
        {"seed": [1, None], "batch_size": [32.0, np.nan], "learning_rate": [0.1, 0.2]}
    )
    for frame in (gapless, gapped):
        typed = table.integers_as_integers(frame.copy())
        assert str(typed["seed"].dtype) == "Int64" and str(typed["batch_size"].dtype) == "Int64"
        assert typed["learning_rate"].dtype == np.float64
    assert table.integers_as_integers(gapless.copy())["batch_size"].tolist() == [32, 64]
