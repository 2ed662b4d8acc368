"""notebooks/explore.ipynb runs top to bottom on a summary written by `aggregate`."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dmsweep.aggregate import aggregate
from dmsweep.aggregate.synthetic import make_results

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore.ipynb"


def ensure_python3_kernel() -> None:
    """The venv's own kernel spec; installed into the venv prefix (no network) if missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(prefix=sys.prefix)


def run_notebook(summary: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Execute the notebook with DMSWEEP_SUMMARY set; returns all text it printed."""
    ensure_python3_kernel()
    monkeypatch.setenv("DMSWEEP_SUMMARY", str(summary))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def test_notebook_parameters_cell_is_tagged() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "DMSWEEP_SUMMARY" in tagged[0].source
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")


def test_notebook_runs_on_synthetic_results(tmp_path: Path, monkeypatch) -> None:
    make_results(tmp_path / "results", 40, seeds=(1, 2), faults={"failed": 2}, rng_seed=3)
    result = aggregate(tmp_path / "results", plots=False, report=False)
    text = run_notebook(result.out / "summary.csv", monkeypatch)
    assert "2 trainings without a valid result" in text
    assert "model type: gcn" in text  # the synthetic truth: GCNs are best
    assert "shared test variants" in text
