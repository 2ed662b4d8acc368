"""Run trainings in sequence, each into its own atomic job folder (docs/job-contract.md).

One process (a `dmsweep train` call, or one HTCondor job of a sweep) trains several configs:
datasets, encoding tables, splits and residue graphs are loaded once and reused (`DataCache`);
TensorFlow's thread pools are sized once from the CPUs the job was granted. Each training:
seeds -> data -> model -> fit (Adam, MSE, early stopping on the tune loss, best epoch
restored) -> metrics -> folder. Any exception after the config is valid becomes error.json
in the job's folder, and the next config runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dmsweep._tf import tf
from dmsweep.config import DatabaseDataset, GCNParams, TrainConfig
from dmsweep.core.results import is_valid_result
from dmsweep.data import Dataset, Split, encoding_table, load_dataset, make_split, residue_graph
from dmsweep.data.pretrained import PretrainedDir, check_pretrained
from dmsweep.data.source import DataSource
from dmsweep.errors import DataError, JobFolderError, TrainingError
from dmsweep.train.job import _Job, _stderr
from dmsweep.train.jobs import JobOutcome, RunOptions
from dmsweep.train.outputs import JobFolder, one_line
from dmsweep.train.provenance import available_cpus, base_provenance, granted_threads

tf.get_logger().setLevel(logging.ERROR)  # e.g. retracing notes when a process trains many models


def run_trainings(
    configs: Sequence[TrainConfig],
    *,
    options: RunOptions,
    command: Sequence[str] | None = None,
) -> list[JobOutcome]:
    """Train each config in turn; one outcome per config, in order. Never raises for a
    failed training (its folder holds error.json); only for a broken output location.

    Skips and failures are always reported on stderr; epoch lines only when verbose.
    """
    threads = configure_threads(options.threads)
    cache = DataCache(options.data_dir)
    base = base_provenance(None if command is None else list(command))
    outcomes = []
    for config in configs:
        outcome = train_one(config, options=options, cache=cache, base=base, threads=threads)
        if outcome.skipped:
            _stderr(f"{outcome.job_id}: valid results exist, skipped (use --force to retrain)")
        elif not outcome.ok:
            _stderr(f"{outcome.job_id}: FAILED: {outcome.error}")
        outcomes.append(outcome)
    return outcomes


def configure_threads(requested: int | None) -> int:
    """Size TensorFlow's intra/inter-op pools (once per process); returns the thread count used.

    `requested` (--threads) wins, else the job ad's RequestCpus or $OMP_NUM_THREADS; outside
    a batch job TensorFlow's defaults stay (one thread per available CPU).
    """
    n = granted_threads(requested)
    if n is not None:
        if n < 1:
            raise TrainingError(f"threads: expected an integer >= 1, got {n}")
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError:  # TensorFlow already started in this process: keep its pools
            pass
    return tf.config.threading.get_intra_op_parallelism_threads() or available_cpus()


class DataCache:
    """Datasets, encoding tables, residue graphs and splits, loaded once per process."""

    def __init__(self, data_dir: Path | None) -> None:
        self.source = DataSource.resolve(data_dir)
        self._store: dict[tuple[Any, ...], Any] = {}

    def _get(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        if key not in self._store:
            self._store[key] = load()
        return self._store[key]

    def is_protein_set(self, config: TrainConfig) -> bool:
        """Whether the config's dataset is a protein set (a database, or a protein-set card);
        a card that cannot be read is left for the training to report."""
        from dmsweep.train.protein_set import is_protein_set

        ref = config.data.dataset
        try:
            return bool(self._get(("kind", ref), lambda: is_protein_set(ref, self.source)))
        except DataError:
            return False

    def protein_set(self, config: TrainConfig) -> Any:
        """The opened protein set (`dmsweep.train.protein_set.ProteinSet`), once per process."""
        from dmsweep.train import protein_set

        ref = config.data.dataset
        if isinstance(ref, DatabaseDataset):
            return self._get(("proteins", ref), lambda: protein_set.open_database_set(ref))
        card = self.source.any_card(ref)
        return self._get(("proteins", ref), lambda: protein_set.open_card_set(card, self.source))

    def dataset(self, name: str) -> Dataset:
        return self._get(("dataset", name), lambda: load_dataset(name, source=self.source))

    def table(self, names: tuple[str, ...], dataset: Dataset) -> np.ndarray:
        """The encoding table; AAindex found as `DataSource.aaindex_root` finds it for the
        dataset's card (beside a card inside a data directory, say)."""
        return self._get(
            ("table", names, dataset.card.folder),
            lambda: encoding_table(names, source=self.source, card=dataset.card),
        )

    def split(self, config: TrainConfig) -> Split:
        data = config.data
        return self._get(("split", data), lambda: make_split(self.dataset(data.dataset), data))

    def pretrained(self, value: str) -> PretrainedDir:
        """A plm's pretrained directory, checked and checksummed once per process: an absolute
        path in place, a relative one below the data directory (a run folder's `data/`) when
        it is there, else relative to the working directory."""
        return self._get(("pretrained", value), lambda: check_pretrained(self._place(value)))

    def _place(self, value: str) -> Path:
        path = Path(value)
        if not path.is_absolute() and self.source.data_dir is not None:
            below = self.source.data_dir / path
            if below.exists():
                return below
        return path

    def graph(self, dataset: Dataset, params: GCNParams) -> np.ndarray:
        key = ("graph", dataset.card.name, params.graph, params.threshold, params.k)
        return self._get(
            key,
            lambda: residue_graph(
                dataset.structure_path(),
                kind=params.graph,
                threshold=params.threshold,
                k=params.k,
                n_residues=len(dataset.card.wild_type),
            ),
        )


def check_data(configs: Sequence[TrainConfig], data_dir: Path | str | None) -> None:
    """What a batch's preflight checks before any training: every config's data loads (a
    variant table's split and encodings; a protein set's records or collection, summarised
    as the training would). Raises the DataError a training would raise."""
    cache = DataCache(Path(data_dir) if data_dir else None)
    for config in configs:
        if cache.is_protein_set(config):
            cache.protein_set(config).summarised(config.data.label)
        else:
            cache.table(config.data.encoding, cache.dataset(config.data.dataset))
            cache.split(config)


def train_one(
    config: TrainConfig,
    *,
    options: RunOptions,
    cache: DataCache,
    base: dict[str, Any],
    threads: int,
) -> JobOutcome:
    """One training into `<output_root>/<job_id>/`; skips a folder with valid results."""
    job_id = config.job_id
    final = Path(options.output_root) / job_id
    if not options.force and is_valid_result(final, job_id):
        return JobOutcome(job_id=job_id, path=final, ok=True, skipped=True)
    try:
        folder = JobFolder(Path(options.output_root), job_id)
    except OSError as err:
        raise JobFolderError(
            f"{options.output_root}: cannot create a job folder there: {one_line(err)}"
        ) from None
    try:
        job_class = _Job
        frozen = getattr(config.params, "head", None) == "embedding"  # plm, frozen encoder
        if cache.is_protein_set(config):
            from dmsweep.train import embeddings, protein_training

            job_class = embeddings.ProteinEmbeddingJob if frozen else protein_training.ProteinJob
        elif frozen:
            from dmsweep.train.embeddings import EmbeddingJob

            job_class = EmbeddingJob
        job = job_class(config, folder, cache, base, threads, options)
        error = job.run()
        if error is not None and is_valid_result(final, job_id):  # a failed --force retrain
            error += f"; the retrain failed, so the earlier valid result in {final} is kept"
            path = final
        else:
            path = folder.publish()
    finally:
        folder.discard()
    data_error = isinstance(job.failure, DataError)
    return JobOutcome(
        job_id=job_id, path=path, ok=error is None, error=error, data_error=data_error
    )
