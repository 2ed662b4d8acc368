"""`dmsweep train`, `dmsweep predict` and `dmsweep db`: one model, trained or used, from the
command line; protein sets into a document database (`db ingest`, `db split`).

Exit status: 0 success; 1 a training failed (its folder holds error.json); 2 a usage, config,
data or job-folder error, printed as one line without a traceback. TensorFlow is imported
only when a command needs it, so `--help` and config errors are instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from dmsweep._cli import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    VersionAction,
    non_negative_int,
    one_line,
    positive_int,
    run_subcommand,
)
from dmsweep._yaml import strict_json, strict_yaml
from dmsweep.config import (
    DEFAULT_SEED,
    MAX_SEED,
    TrainConfig,
    all_flat_keys,
    check_sequence_length,
)
from dmsweep.core.processes import die_with_parent
from dmsweep.data.source import DataSource
from dmsweep.errors import ConfigError, OutputError

JOB_ID = re.compile(r"^[a-z]+-[0-9a-f]{12}$")
"""What `dmsweep.config.job_id` writes; a queued id is checked against it before it names
a folder."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return run_subcommand("dmsweep", parser.parse_args(argv))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmsweep",
        description="Train one variant-effect model, or score variants with a trained one.",
    )
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train from a config file and/or --set flags, one job folder per config",
        description=(
            "Train one model per config into <output>/<job_id>/ (docs/job-contract.md). "
            "A config is a JSON/YAML object of flat keys, or a .jsonl file with one per line; "
            "--set KEY=VALUE overrides or adds keys (values read as YAML scalars). Prints each "
            f"job folder. Keys: {', '.join(all_flat_keys())}."
        ),
    )
    train.add_argument("--config", type=Path, metavar="FILE", help="JSON, YAML or .jsonl file")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a flat config key, e.g. --set model=cnn --set learning_rate=1e-3 (repeatable)",
    )
    train.add_argument(
        "-o", "--output", type=Path, default=Path("results"), help="results folder (results)"
    )
    _data_dir_option(train)
    train.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="TensorFlow threads (default: the CPUs HTCondor granted, else TensorFlow's own)",
    )
    train.add_argument(
        "--gpus",
        type=non_negative_int,
        metavar="N",
        help="GPUs granted (default: the job ad's RequestGPUs, else 0); a training granted "
        "GPUs that TensorFlow cannot see fails with error.json",
    )
    train.add_argument(
        "--allow-cpu-fallback",
        action="store_true",
        help="train on the CPU when granted GPUs are not visible (recorded in provenance.json)",
    )
    train.add_argument(
        "--force", action="store_true", help="retrain configs whose folder has valid results"
    )
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    train.set_defaults(run=_train)

    predict = commands.add_parser(
        "predict",
        help="score variants with a trained job folder, write a CSV",
        description=(
            "Score variants (e.g. G177L,M189T L142K) with the model of a finished job folder. "
            "Writes variant,predicted_score as CSV. A job folder trained on a protein set "
            "takes proteins: sequences (cnn, plm), PDB/mmCIF files or document ids with --db and "
            "--collection (gcn); it writes id,predicted_class,p_<class>... (a number: "
            "id,predicted_score)."
        ),
    )
    predict.add_argument(
        "job_folder",
        type=Path,
        nargs="?",
        metavar="JOB_FOLDER",
        help="a finished job folder (not with --zero-shot: then every argument is a variant)",
    )
    predict.add_argument(
        "variants",
        nargs="*",
        metavar="VARIANT",
        help="variants, mutations joined by commas (a protein-set model: sequences, "
        "PDB/mmCIF files, or document ids with --db)",
    )
    predict.add_argument(
        "--file",
        type=Path,
        metavar="F",
        help="one variant per line, or a CSV/TSV with a 'variant' column (a protein-set "
        "model: a FASTA file)",
    )
    predict.add_argument(
        "-o", "--output", type=Path, metavar="OUT.csv", help="output CSV (default: stdout)"
    )
    _data_dir_option(predict)
    predict.add_argument(
        "--attention",
        action="store_true",
        help="add per-residue attention scores (GCN with pooling: attention; a protein-set "
        "gcn: attention.csv and one plot per protein in --attention-dir)",
    )
    predict.add_argument(
        "--attention-dir",
        type=Path,
        metavar="DIR",
        help="a protein-set gcn with --attention: where attention.csv and one PNG plot per "
        "protein go (default: ./attention)",
    )
    predict.add_argument(
        "--chain",
        metavar="ID",
        help="a protein-set model given PDB/mmCIF files: the chain to read (default: the "
        "training card's chain, else the first)",
    )
    predict.add_argument(
        "--db",
        metavar="URI",
        help="a protein-set model: the arguments are document ids in this store "
        "(sqlite:///file.db, mongodb://...), with --collection",
    )
    predict.add_argument("--collection", metavar="NAME", help="with --db: the collection")
    predict.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help="with --db: YAML file with username and password, readable by you only",
    )
    predict.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="with --db: seconds to reach a server before giving up (5)",
    )
    predict.add_argument(
        "--zero-shot",
        type=Path,
        metavar="PRETRAINED_DIR",
        help="score without training: the masked-marginal log-likelihood ratio of a masked "
        "language model (a Hugging Face directory) on --dataset's wild type; no variants "
        "given: all of the dataset's",
    )
    predict.add_argument(
        "--dataset",
        metavar="NAME",
        help="with --zero-shot: the variant dataset (a card name or a card file)",
    )
    predict.set_defaults(run=_predict)
    _pretrain_parser(commands)
    _db_parser(commands)
    _serve_parser(commands)
    return parser


PRETRAIN_HELP = "masked-LM pretraining of a small BERT on a FASTA file (Hugging Face format)"
PRETRAIN_ABOUT = (
    "Pretrain a BERT-style protein language model (ProtBERT's vocabulary, residues "
    "space-separated) by masked language modelling on the sequences of a FASTA file, and save "
    "it with its tokenizer in Hugging Face format (tf_model.h5), labelled as locally "
    "pretrained in its config.json. Prints the losses, then the folder."
)


def _pretrain_parser(commands: Any) -> None:
    """`dmsweep pretrain`: options only; TensorFlow and transformers load when it runs."""
    from dmsweep.data.pretrained import PRESET_NAMES

    pretrain = commands.add_parser("pretrain", help=PRETRAIN_HELP, description=PRETRAIN_ABOUT)
    pretrain.add_argument("--fasta", type=Path, required=True, metavar="FILE")
    pretrain.add_argument(
        "--config", dest="preset", choices=PRESET_NAMES, default="tiny", help="model size (tiny)"
    )
    pretrain.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED, metavar="S")
    pretrain.add_argument("--epochs", type=positive_int, default=1, metavar="N")
    pretrain.add_argument(
        "--max-length",
        type=positive_int,
        metavar="N",
        help="tokens per window, [CLS] and [SEP] included (tiny 64, small 128)",
    )
    pretrain.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    pretrain.set_defaults(run=_pretrain)


def _db_parser(commands: Any) -> None:
    """`dmsweep db ingest|split`: protein sets in a document database (docs/data.md)."""
    db = commands.add_parser(
        "db",
        help="protein sets in a document database: ingest, split",
        description=(
            "Protein documents in the embedded SQLite store (sqlite:///file.db or a path) or "
            "on a MongoDB-protocol server (mongodb://[user@]host:port/db?tls=true&"
            "tlsCAFile=ca.pem&retryWrites=false). Passwords come from --credentials FILE, "
            "$DMSWEEP_DB_CREDENTIALS or $DMSWEEP_DB_PASSWORD, never from the URI."
        ),
    )
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    ingest = actions.add_parser(
        "ingest",
        help="write a protein set's records as documents (bulk, idempotent by id)",
        description=(
            "SOURCE is a protein-set card (a .yaml path or a name, e.g. scl2205), or a FASTA "
            "file, CSV/TSV table or folder of PDB/mmCIF files (described by --card, else ids "
            "and sequences only). Prints what was read, skipped, inserted and updated."
        ),
    )
    ingest.add_argument("source", metavar="SOURCE")
    ingest.add_argument("--card", metavar="CARD", help="the card describing a SOURCE file")
    ingest.add_argument(
        "--collection", metavar="NAME", help="collection (default: the card's name)"
    )
    ingest.add_argument(
        "--chunk", type=positive_int, default=1000, metavar="N", help="documents per write"
    )
    _data_dir_option(ingest)
    _db_options(ingest)
    ingest.set_defaults(run=_db_ingest)

    split = actions.add_parser(
        "split",
        help="assign a stratified train/tune/test split into the documents",
        description=(
            "Stratified by a class label, reproducible from --seed on either backend, "
            "written back with update_many and recorded (seed, fractions, checksum) in the "
            "collection's metadata."
        ),
    )
    split.add_argument("--collection", required=True, metavar="NAME")
    split.add_argument("--stratify", required=True, metavar="LABEL", help="a class label")
    split.add_argument(
        "--fractions", default="0.8,0.1,0.1", metavar="F,F,F", help="train,tune,test"
    )
    split.add_argument("--seed", type=int, default=0, metavar="S")
    _db_options(split)
    split.set_defaults(run=_db_split)


def _db_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, metavar="URI", help="sqlite:///file.db, mongodb://")
    parser.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help="YAML file with username and password, readable by you only",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds to reach a server before giving up (5)",
    )


def _serve_parser(commands: Any) -> None:
    """`dmsweep serve`: options only; FastAPI and TensorFlow load when it runs."""
    from dmsweep.serve import settings

    serve = commands.add_parser(
        "serve",
        help="serve trained models over HTTP (docs/serve.md)",
        description=(
            "Serve the models of job folders, or with --best TYPE the best job of that model "
            "type from a run or summary folder (best.csv), over HTTP: TensorFlow Serving's "
            "POST /v1/models/NAME:predict and the Open Inference Protocol (/v2/...). A model's "
            "name is its job id, or best-TYPE. Binds to loopback unless --host and "
            "--token-file are given."
        ),
    )
    serve.add_argument("targets", nargs="+", type=Path, metavar="TARGET")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (8000)")
    serve.add_argument(
        "--workers", type=positive_int, default=1, metavar="N", help="server processes (1)"
    )
    serve.add_argument(
        "--best", metavar="MODEL_TYPE", help="serve the best job of this type from best.csv"
    )
    serve.add_argument(
        "--token-file",
        type=Path,
        metavar="F",
        help="bearer token every request must send (required beyond loopback)",
    )
    serve.add_argument(
        "--max-instances",
        type=positive_int,
        default=settings.DEFAULT_MAX_INSTANCES,
        metavar="N",
        help=f"instances per request ({settings.DEFAULT_MAX_INSTANCES})",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=_byte_size,
        default=settings.DEFAULT_MAX_BODY_BYTES,
        metavar="SIZE",
        help="request body limit, e.g. 10MB, 512kB (10MB)",
    )
    serve.add_argument(
        "--batch-size",
        type=positive_int,
        default=settings.DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"rows per model call, shared by requests ({settings.DEFAULT_BATCH_SIZE})",
    )
    _data_dir_option(serve)
    serve.set_defaults(run=_serve)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port 0..65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0..65535, got {value}")
    return value


def _byte_size(text: str) -> int:
    from dmsweep.serve.settings import byte_size

    try:
        return byte_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="local copy of the data (default: $DMSWEEP_DATA_DIR, else download into a cache)",
    )


# ---------------------------------------------------------------------------------------- train


@dataclass(frozen=True)
class QueuedConfig:
    """A config to train and the job id it was queued with (None when it names none or
    --set changed it): a job checks that its config still hashes to that id."""

    config: TrainConfig
    queued_id: str | None


def load_configs(config_file: Path | None, overrides: Sequence[str]) -> list[TrainConfig]:
    """Every config to train, validated before anything runs (ConfigError names the source)."""
    return [queued.config for queued in load_jobs(config_file, overrides)]


def load_jobs(config_file: Path | None, overrides: Sequence[str]) -> list[QueuedConfig]:
    """`load_configs` with the job id each config file entry was queued with."""
    extra = parse_overrides(overrides)
    entries: list[tuple[str, Mapping[str, Any]]]
    entries = [("--set", {})] if config_file is None else read_config_file(config_file)
    jobs = []
    for source, flat in entries:
        merged = {k: v for k, v in {**flat, **extra}.items() if k != "job_id"}
        label = source if not extra or config_file is None else f"{source} with --set"
        queued = None if extra else flat.get("job_id")
        if queued is not None and not (isinstance(queued, str) and JOB_ID.match(queued)):
            raise ConfigError(f"{source}: job_id: expected <model>-<12 hex digits>, got {queued!r}")
        jobs.append(QueuedConfig(TrainConfig.from_flat(merged, source=label), queued))
    return jobs


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings to a dict; values parsed as YAML scalars (1e-3, 5, cnn, a,b)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set model=cnn")
        if not text.strip():
            raise ConfigError(f"--set {item!r}: empty value (expected KEY=VALUE, e.g. {key}=3)")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: cannot read the value: {one_line(err)}") from None
        if isinstance(value, dict):
            raise ConfigError(f"--set {item!r}: expected a single value, got a mapping")
        out[key] = value
    return out


def read_config_file(path: Path) -> list[tuple[str, Mapping[str, Any]]]:
    """(source, flat mapping) per config: one for JSON/YAML, one per non-empty .jsonl line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config: {one_line(err)}") from None
    if path.suffix.lower() == ".jsonl":
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            source = f"{path}, line {number}"
            try:
                entries.append((source, _mapping(strict_json(line), source)))
            except ValueError as err:
                raise ConfigError(f"{source}: invalid JSON: {one_line(err)}") from None
        if not entries:
            raise ConfigError(f"{path}: no configs (expected one JSON object per line)")
        return entries
    if not text.strip():
        raise ConfigError(f"{path}: the config file is empty (expected a mapping of flat keys)")
    try:
        loaded = strict_json(text) if path.suffix.lower() == ".json" else strict_yaml(text)
    except ValueError as err:
        raise ConfigError(f"{path}: cannot read the config: {one_line(err)}") from None
    return [(str(path), _mapping(loaded, str(path)))]


def _mapping(value: Any, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping of flat config keys (model, learning_rate, ...), "
            f"got {type(value).__name__}"
        )
    return value


def _train(args: argparse.Namespace) -> int:
    die_with_parent()  # under run-local: never outlive the batch that started this process
    jobs = resolve_databases(load_jobs(args.config, args.overrides))
    configs = [j.config for j in jobs if j.queued_id in (None, j.config.job_id)]
    mismatched = [j for j in jobs if j.queued_id not in (None, j.config.job_id)]
    check_against_datasets(configs, DataSource.resolve(args.data_dir))
    for job in mismatched:
        print(record_id_mismatch(job, args.output), file=sys.stderr)
    from dmsweep.train import RunOptions, run_trainings

    options = RunOptions(
        output_root=args.output,
        data_dir=args.data_dir,
        threads=args.threads,
        gpus=args.gpus,
        allow_cpu_fallback=args.allow_cpu_fallback,
        force=args.force,
        verbose=not args.quiet,
    )
    try:
        outcomes = run_trainings(configs, options=options) if configs else []
    except OSError as err:  # e.g. the disk filled up while a job folder was written
        where = err.filename or args.output
        raise OutputError(f"{where}: cannot write results: {one_line(err)}") from None
    for outcome in outcomes:
        print(outcome.path, flush=True)
    if mismatched or any(o.data_error for o in outcomes):
        return EXIT_ERROR  # documented: a config or data error is exit 2 (with error.json)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED


def resolve_databases(jobs: list[QueuedConfig]) -> list[QueuedConfig]:
    """A database dataset named without its content checksum gets the collection's (read
    from the server or file: the job id depends on it); queued configs carry theirs."""
    from dmsweep.config import DatabaseDataset

    if not any(
        isinstance(j.config.data.dataset, DatabaseDataset)
        and j.config.data.dataset.checksum is None
        for j in jobs
    ):
        return jobs
    from dmsweep.train.protein_set import resolve_database_checksums

    configs = resolve_database_checksums([j.config for j in jobs])
    return [QueuedConfig(c, j.queued_id) for c, j in zip(configs, jobs, strict=True)]


def record_id_mismatch(job: QueuedConfig, output: Path) -> str:
    """error.json in the folder of the queued id, instead of a second folder under the id the
    config hashes to now (the code computing ids changed between build and job)."""
    from dmsweep.train.outputs import JobFolder

    error = ConfigError(
        f"job_id mismatch: queued as {job.queued_id}, but this config hashes to "
        f"{job.config.job_id} here (another dmsweep version?): not trained"
    )
    assert job.queued_id is not None
    try:
        folder = JobFolder(output, job.queued_id)
        folder.write_error(error, "config")
        folder.publish()
    except OSError as err:
        raise OutputError(f"{output}: cannot write a job folder there: {one_line(err)}") from None
    return f"{job.queued_id}: FAILED: {error}"


def check_against_datasets(configs: Sequence[TrainConfig], source: DataSource) -> None:
    """Before anything trains: every dataset's card can be read, and each config fits it:
    a variant table's wild type (kernel_size, k), a protein set's labels and model types,
    as the run builder checks a sweep. A database dataset is checked when it is opened."""
    from dmsweep.data.card import ProteinSetCard
    from dmsweep.data.tasks import check_protein_set_config, check_variant_config, protein_set_task

    for ref in sorted({c.data.dataset for c in configs if isinstance(c.data.dataset, str)}):
        card = source.any_card(ref)
        for config in configs:
            if config.data.dataset != ref:
                continue
            if isinstance(card, ProteinSetCard):
                labels = {s.name: s.classes for s in card.labels}
                task = protein_set_task(labels, config.data.label, where=config.job_id)
                check_protein_set_config(config, task, where=config.job_id)
                continue
            check_variant_config(config, where=config.job_id)
            try:
                check_sequence_length(config.params, len(card.wild_type))
            except ConfigError as err:
                raise ConfigError(f"{config.job_id}: {err} (dataset {card.name!r})") from None


# -------------------------------------------------------------------------------------- predict


def _predict(args: argparse.Namespace) -> int:
    from dmsweep.train.predict import (
        TrainedJob,
        variants_from_args,
        variants_from_file,
        write_predictions,
    )

    if args.zero_shot is not None:
        return _predict_zero_shot(args)
    if args.dataset is not None:
        raise ConfigError("--dataset: only with --zero-shot (a job folder knows its dataset)")
    if args.job_folder is None:
        raise ConfigError("give a JOB_FOLDER (or --zero-shot PRETRAINED_DIR)")
    if args.file is not None and args.variants:
        raise ConfigError("give variants on the command line or with --file, not both")
    from dmsweep.train.predict_proteins import is_protein_set_job

    if args.job_folder.is_dir() and is_protein_set_job(args.job_folder):
        return _predict_proteins(args)
    _refuse_protein_options(args, "only for a model trained on a protein set")
    given = (
        variants_from_file(args.file)
        if args.file is not None
        else variants_from_args(args.variants)
    )
    if not given.variants:
        raise ConfigError("no variants given (e.g. dmsweep predict JOB G177L,M189T L142K)")
    if args.output is not None:
        _check_output_file(args.output)  # before TensorFlow loads the model
    job = TrainedJob(args.job_folder, data_dir=args.data_dir)
    if args.attention:
        job.check_attention()
    job.encode(given)  # a bad variant is reported before TensorFlow loads
    prediction = job.predict(given, attention=args.attention)
    return _write_csv(args.output, lambda stream: write_predictions(prediction, stream))


def _write_csv(output: Path | None, write: Callable[[IO[str]], None]) -> int:
    """`write` to stdout, or to the -o file (an OSError: one line naming it)."""
    if output is None:
        write(sys.stdout)
        return EXIT_OK
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "w", newline="", encoding="utf-8") as stream:
            write(stream)
    except OSError as err:  # a folder in the way, read-only, full
        raise OutputError(f"-o {output}: cannot write: {err.strerror or one_line(err)}") from None
    return EXIT_OK


def _refuse_protein_options(args: argparse.Namespace, why: str) -> None:
    """A ConfigError naming the first protein-set option given where none applies (it would
    be ignored otherwise)."""
    protein_only = {
        "--db": args.db,
        "--collection": args.collection,
        "--credentials": args.credentials,
        "--chain": args.chain,
        "--attention-dir": args.attention_dir,
    }
    for name, value in protein_only.items():
        if value is not None:
            raise ConfigError(f"{name}: {why}")


def _predict_zero_shot(args: argparse.Namespace) -> int:
    """`predict --zero-shot DIR --dataset NAME [VARIANT ...]`: masked-marginal scores; the
    provenance goes to OUT.provenance.json beside -o, else to stderr as one JSON line."""
    from dmsweep.train.zero_shot import ZeroShotRequest, run_zero_shot

    _refuse_protein_options(args, "not with --zero-shot (a model trained on a protein set)")
    variants = [str(args.job_folder), *args.variants] if args.job_folder else args.variants
    if args.attention:
        raise ConfigError("--attention: not with --zero-shot (a gcn's attention pooling)")
    if args.dataset is None:
        raise ConfigError("--zero-shot: give --dataset NAME (the variants' wild type)")
    if args.file is not None and variants:
        raise ConfigError("give variants on the command line or with --file, not both")
    if args.output is not None:
        _check_output_file(args.output)
    request = ZeroShotRequest(
        pretrained=args.zero_shot,
        dataset=args.dataset,
        variants=variants,
        file=args.file,
        output=args.output,
        data_dir=args.data_dir,
    )
    return run_zero_shot(request)


def _predict_proteins(args: argparse.Namespace) -> int:
    """A protein-set model: VARIANT arguments are sequences, PDB/mmCIF files or (with --db)
    document ids; --file a FASTA file; --attention per-residue weights and plots."""
    from dmsweep.train.predict_proteins import TrainedProteinJob, write_protein_prediction

    if args.attention_dir is not None and not args.attention:
        raise ConfigError("--attention-dir: only with --attention (the folder of its plots)")
    if args.credentials is not None and args.db is None:
        raise ConfigError("--credentials: only with --db (the store's user and password)")
    if args.output is not None:
        _check_output_file(args.output)
    job = TrainedProteinJob(args.job_folder)
    if args.attention:
        job.check_attention()
    records = _protein_records(args, job)
    prediction = job.predict(records)
    if args.attention:
        _write_attention(job, records, args.attention_dir or Path("attention"))
    return _write_csv(args.output, lambda stream: write_protein_prediction(prediction, stream))


def _protein_records(args: argparse.Namespace, job: Any) -> list:
    """The proteins to score: documents (--db), structure files, a FASTA file, sequences."""
    from dmsweep.train.predict_proteins import (
        looks_like_structure,
        read_documents,
        read_sequences,
        read_structures,
    )

    if (args.db is None) != (args.collection is None):
        raise ConfigError("--db and --collection go together (document ids in a collection)")
    if args.db is not None:
        if args.file is not None or not args.variants:
            raise ConfigError("--db: give document ids as arguments (not --file)")
        return read_documents(
            args.db,
            args.collection,
            args.variants,
            credentials_file=args.credentials,
            timeout=args.timeout,
        )
    structures = [a for a in args.variants if looks_like_structure(a)]
    if structures and len(structures) != len(args.variants):
        raise ConfigError("give either structure files or sequences, not both")
    if structures:
        return read_structures([Path(a) for a in structures], chain=args.chain or job.card_chain)
    records = read_sequences(args.variants, args.file)
    if not records:
        raise ConfigError(
            "no proteins given (sequences, PDB/mmCIF files, --file F.fasta, or --db URI "
            "--collection NAME with document ids)"
        )
    return records


def _write_attention(job: Any, records: list, folder: Path) -> None:
    """attention.csv and one two-panel PNG per protein into `folder`."""
    from dmsweep.train.attention_plot import attention_layout, draw_attention
    from dmsweep.train.predict_proteins import plot_file_name, write_attention_table

    attention = job.attention(records)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_attention_table(attention, folder / "attention.csv")
        for one in attention:
            draw_attention(attention_layout(one), folder / plot_file_name(one.record.id))
    except OSError as err:
        raise OutputError(
            f"--attention-dir {folder}: cannot write: {err.strerror or one_line(err)}"
        ) from None
    print(f"attention of {len(attention)} proteins: {folder}", file=sys.stderr)


# ------------------------------------------------------------------------------------------- db


def _db_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dmsweep.data.proteins import open_protein_source
    from dmsweep.db import open_store
    from dmsweep.db.ingest import ingest_protein_set

    reading = open_protein_source(args.source, card=args.card, data_dir=args.data_dir)
    collection = args.collection or reading.card.name
    store = open_store(args.db, credentials_file=args.credentials, timeout=args.timeout)
    try:
        with tqdm(desc=f"ingest {collection}", unit=" proteins", disable=None) as bar:
            report = ingest_protein_set(
                store, collection, reading, chunk=args.chunk, progress=bar.update
            )
    finally:
        store.close()
    for reason in reading.skip_reasons:
        print(f"skipped: {reason}", file=sys.stderr)
    counts = report.counts
    print(
        f"{collection}: {report.read:,} records read, {report.skipped:,} skipped; "
        f"{counts.inserted:,} inserted, {counts.updated:,} updated, "
        f"{counts.unchanged:,} unchanged; {report.total:,} documents in {store.address.display}"
    )
    return EXIT_OK


def _db_split(args: argparse.Namespace) -> int:
    from dmsweep.db import open_store
    from dmsweep.db.split import parse_fractions, split_collection

    fractions = parse_fractions(args.fractions)
    store = open_store(args.db, credentials_file=args.credentials, timeout=args.timeout)
    try:
        record = split_collection(
            store, args.collection, label=args.stratify, fractions=fractions, seed=args.seed
        )
    finally:
        store.close()
    for part, by_class in record.counts.items():
        print(f"{part}: {sum(by_class.values()):,} proteins in {len(by_class)} classes")
    print(f"split of {args.collection} by {record.label}, seed {record.seed}: {record.checksum}")
    return EXIT_OK


def _check_output_file(path: Path) -> None:
    """OutputError when `path` can clearly not be written (a folder, a file as its folder,
    a read-only folder); other failures (a full disk) are caught when writing."""
    parent = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("."))
    if path.is_dir():
        raise OutputError(f"-o {path}: is a folder (expected a CSV file name)")
    if not parent.is_dir():
        raise OutputError(f"-o {path}: {parent} is a file, not a folder")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise OutputError(f"-o {path}: not writable (permission denied)")


# ------------------------------------------------------------------------------------- pretrain


def _pretrain(args: argparse.Namespace) -> int:
    if args.seed > MAX_SEED:
        raise ConfigError(f"--seed: expected an integer in [0, {MAX_SEED}], got {args.seed}")
    if args.max_length is not None and args.max_length < 3:
        raise ConfigError(
            f"--max-length: expected at least 3 ([CLS], a residue, [SEP]), got {args.max_length}"
        )
    from dmsweep.train.pretrain import PretrainOptions, pretrain, summary

    names = [f.name for f in dataclasses.fields(PretrainOptions)]
    result = pretrain(PretrainOptions(**{name: getattr(args, name) for name in names}))
    print(summary(result), file=sys.stderr)
    print(result.output)
    return EXIT_OK


# ---------------------------------------------------------------------------------------- serve


def _serve(args: argparse.Namespace) -> int:
    from dmsweep.serve.models import resolve_targets
    from dmsweep.serve.settings import ServeSettings, read_token

    token = read_token(args.token_file, args.host)  # refused before anything loads
    sources = resolve_targets(args.targets, best=args.best)
    settings = ServeSettings(
        folders=tuple(str(s.folder) for s in sources),
        names=tuple(s.name for s in sources),
        host=args.host,
        port=args.port,
        workers=args.workers,
        token=token,
        max_instances=args.max_instances,
        max_body_bytes=args.max_body_bytes,
        batch_size=args.batch_size,
        data_dir=str(args.data_dir) if args.data_dir is not None else None,
    )
    from dmsweep.serve.server import serve

    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
