"""Plots of a protein's per-residue attention (`dmsweep predict --attention` on a protein-set
gcn): compute a small record (`AttentionLayout`), then draw it.

Two panels per protein: the attention weight along the sequence (with the uniform 1/L for
reference: an untrained pooling is close to it), and the residue graph the
model used laid out in 2-D (the C-alpha coordinates projected on their first two principal
axes), edges drawn, nodes coloured by attention. PNG through matplotlib's Agg backend: no
display needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dmsweep.train.predict_proteins import ProteinAttention


@dataclass(frozen=True)
class AttentionLayout:
    """What one attention plot shows."""

    protein_id: str
    sequence: str
    weights: np.ndarray
    """(L,) attention per residue (sums to one)."""
    xy: np.ndarray
    """(L, 2) C-alpha coordinates on their first two principal axes (Angstrom)."""
    edges: np.ndarray
    """(E, 2) residue pairs of the graph, each undirected edge once."""


def pca_layout(coords: np.ndarray) -> np.ndarray:
    """(L, 2) projection of (L, 3) coordinates on their two main axes, each axis' sign fixed
    (its largest loading positive), so a protein gives the same picture every time."""
    centred = np.asarray(coords, dtype=np.float64) - np.mean(coords, axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    axes = axes[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)])
    return centred @ (axes * signs[:, None]).T


def attention_layout(attention: ProteinAttention) -> AttentionLayout:
    record = attention.record
    length = len(attention.weights)
    assert record.ca is not None  # a structure model's records have coordinates
    edges = attention.edges[attention.edges[:, 0] < attention.edges[:, 1]]
    return AttentionLayout(
        protein_id=record.id,
        sequence=record.sequence[:length],
        weights=attention.weights,
        xy=pca_layout(record.ca[:length]),
        edges=edges,
    )


def draw_attention(layout: AttentionLayout, path: Path) -> None:
    """Write the two-panel PNG of `layout` to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    along, graph = figure.subplots(1, 2, width_ratios=(1.6, 1))
    positions = np.arange(1, len(layout.weights) + 1)
    along.plot(positions, layout.weights, color="tab:blue", linewidth=1.0, label="attention")
    uniform = 1.0 / len(positions)
    along.axhline(uniform, color="0.5", linestyle="--", linewidth=0.8, label="uniform (1/L)")
    along.legend(loc="upper right", fontsize="small")
    along.set_xlim(0.5, len(layout.weights) + 0.5)
    along.set_xlabel("residue (1-based)")
    along.set_ylabel("attention")
    along.set_title(f"{layout.protein_id}: attention along its {len(positions)} residues")
    lines = LineCollection(layout.xy[layout.edges], colors="0.75", linewidths=0.5, zorder=1)
    graph.add_collection(lines)
    nodes = graph.scatter(
        layout.xy[:, 0], layout.xy[:, 1], c=layout.weights, cmap="viridis", s=14, zorder=2
    )
    graph.set_aspect("equal", adjustable="datalim")
    graph.set_xlabel("PC 1 of C-alpha (Angstrom)")
    graph.set_ylabel("PC 2")
    graph.set_title(f"residue graph ({len(layout.edges)} edges)")
    figure.colorbar(nodes, ax=graph, label="attention")
    figure.savefig(path, dpi=110)
