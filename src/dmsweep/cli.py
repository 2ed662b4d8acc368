"""`dmsweep train` and `dmsweep predict`: one model, trained or used, from the command line.

Exit status: 0 success; 1 a training failed (its folder holds error.json); 2 a usage, config,
data or job-folder error, printed as one line without a traceback. TensorFlow is imported
only when a command needs it, so `--help` and config errors are instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dmsweep import __version__
from dmsweep._cli import EXIT_FAILED, EXIT_OK, one_line, positive_int, run_subcommand
from dmsweep.config import TrainConfig, all_flat_keys
from dmsweep.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return run_subcommand("dmsweep", parser.parse_args(argv))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmsweep",
        description="Train one variant-effect model, or score variants with a trained one.",
    )
    parser.add_argument("--version", action="version", version=f"dmsweep {__version__}")
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
        "--force", action="store_true", help="retrain configs whose folder has valid results"
    )
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    train.set_defaults(run=_train)

    predict = commands.add_parser(
        "predict",
        help="score variants with a trained job folder, write a CSV",
        description=(
            "Score variants (e.g. G177L,M189T L142K) with the model of a finished job folder. "
            "Writes variant,predicted_score as CSV."
        ),
    )
    predict.add_argument("job_folder", type=Path, metavar="JOB_FOLDER")
    predict.add_argument(
        "variants", nargs="*", metavar="VARIANT", help="variants, mutations joined by commas"
    )
    predict.add_argument(
        "--file",
        type=Path,
        metavar="F",
        help="one variant per line, or a CSV/TSV with a 'variant' column",
    )
    predict.add_argument(
        "-o", "--output", type=Path, metavar="OUT.csv", help="output CSV (default: stdout)"
    )
    _data_dir_option(predict)
    predict.add_argument(
        "--attention",
        action="store_true",
        help="add per-residue attention scores (GCN with pooling: attention)",
    )
    predict.set_defaults(run=_predict)
    return parser


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="local copy of the data (default: $DMSWEEP_DATA_DIR, else download into a cache)",
    )


# ---------------------------------------------------------------------------------------- train


def load_configs(config_file: Path | None, overrides: Sequence[str]) -> list[TrainConfig]:
    """Every config to train, validated before anything runs (ConfigError names the source)."""
    extra = parse_overrides(overrides)
    entries: list[tuple[str, Mapping[str, Any]]]
    entries = [("--set", {})] if config_file is None else read_config_file(config_file)
    configs = []
    for source, flat in entries:
        merged = {k: v for k, v in {**flat, **extra}.items() if k != "job_id"}
        label = source if not extra or config_file is None else f"{source} with --set"
        configs.append(TrainConfig.from_flat(merged, source=label))
    return configs


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings to a dict; values parsed as YAML scalars (1e-3, 5, cnn, a,b)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set model=cnn")
        try:
            value = yaml.safe_load(text) if text.strip() else None
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
                entries.append((source, _mapping(json.loads(line), source)))
            except ValueError as err:
                raise ConfigError(f"{source}: invalid JSON: {one_line(err)}") from None
        if not entries:
            raise ConfigError(f"{path}: no configs (expected one JSON object per line)")
        return entries
    try:
        loaded = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: cannot read the config: {one_line(err)}") from None
    return [(str(path), _mapping(loaded, str(path)))]


def _mapping(value: Any, source: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping of flat config keys (model, learning_rate, ...), "
            f"got {type(value).__name__}"
        )
    return value


def _train(args: argparse.Namespace) -> int:
    configs = load_configs(args.config, args.overrides)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from dmsweep.train import RunOptions, run_trainings

    options = RunOptions(
        output_root=args.output,
        data_dir=args.data_dir,
        threads=args.threads,
        force=args.force,
        verbose=not args.quiet,
    )
    outcomes = run_trainings(configs, options=options)
    for outcome in outcomes:
        print(outcome.path, flush=True)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED


# -------------------------------------------------------------------------------------- predict


def _predict(args: argparse.Namespace) -> int:
    from dmsweep.train.predict import (
        TrainedJob,
        variants_from_args,
        variants_from_file,
        write_predictions,
    )

    if args.file is not None and args.variants:
        raise ConfigError("give variants on the command line or with --file, not both")
    given = (
        variants_from_file(args.file)
        if args.file is not None
        else variants_from_args(args.variants)
    )
    if not given.variants:
        raise ConfigError("no variants given (e.g. dmsweep predict JOB G177L,M189T L142K)")
    job = TrainedJob(args.job_folder, data_dir=args.data_dir)
    if args.attention:
        job.check_attention()
    job.encode(given)  # a bad variant is reported before TensorFlow loads
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    prediction = job.predict(given, attention=args.attention)
    if args.output is None:
        write_predictions(prediction, sys.stdout)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "w", newline="", encoding="utf-8") as stream:
            write_predictions(prediction, stream)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
