"""Small sweep specs and a data folder with an awkward split name, shared by the run tests.

`weird_data_dir` is a data directory (hard links into the real avGFP data) whose dataset card
lists one more published split, named with spaces, quotes, `$(`, `;` and a backtick: a value that
must reach the job's config.json unchanged without ever breaking the submit file or the wrapper.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from dmsweep.run_builder.render import PACKAGED_TEMPLATES

WEIRD_SPLIT = 'odd name\'s "quoted" $(echo x); `id` & more'
SMALL_SPLIT = "reduced/reduced_0.01/reduced_0.01_rep_0"
"""A published split with 1% of the training set: quick trainings on real data."""


def copy_templates(tmp_path: Path) -> Path:
    """A copy of the packaged templates, for a test to break and point $DMSWEEP_TEMPLATES at."""
    target = tmp_path / "templates"
    shutil.copytree(PACKAGED_TEMPLATES, target)
    return target


def weird_data_dir(root: Path, data_dir: Path) -> Path:
    """A data directory holding avGFP (hard links) plus the split `splits/<WEIRD_SPLIT>/`."""
    target = root / "data"
    shutil.copytree(data_dir / "avgfp", target / "avgfp", copy_function=_link)
    shutil.copytree(data_dir / "aaindex", target / "aaindex", copy_function=_link)
    odd = target / "avgfp" / "splits" / WEIRD_SPLIT
    shutil.copytree(target / "avgfp" / "splits" / SMALL_SPLIT, odd, copy_function=_link)
    card = yaml.safe_load((_packaged_card()).read_text())
    card.pop("files", None)
    card.pop("base_url", None)
    (target / "avgfp" / "dataset.yaml").write_text(yaml.safe_dump(card))
    return target


def write_spec(path: Path, *, strategy: str = "shared", **sections: object) -> Path:
    """A tiny real sweep: linear and FC on 2,000 random avGFP variants, 2 epochs, 2 per job.

    Keyword arguments replace top-level sections; None drops one."""
    spec: dict[str, object] = {
        "name": "tiny",
        "description": "Tiny test sweep: linear and FC, 2 epochs on 2,000 variants.",
        "dataset": "avgfp",
        "fixed": {
            "max_epochs": 2,
            "patience": 2,
            "learning_rate": 1.0e-3,
            "batch_size": 64,
        },
        "models": {
            "linear": {"fixed": {"split": "random", "split_seed": 0, "max_variants": 2000}},
            "fc": {"fixed": {"units": 16, "layers": 1, "split": "random", "max_variants": 2000}},
        },
        "replicates": {"seed": [1, 2]},
        "resources": {"default": {"cpus": 1, "memory_mb": 2000, "disk_mb": 3000}},
        "trainings_per_job": 2,
        "environment": {"strategy": strategy},
    }
    spec.update(sections)
    spec = {key: value for key, value in spec.items() if value is not None}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _packaged_card() -> Path:
    from dmsweep.data.datasets import PACKAGED_CARDS

    return PACKAGED_CARDS / "avgfp.yaml"


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
