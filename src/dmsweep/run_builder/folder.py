"""Sweep spec -> one new, self-contained run folder (file names: `runfiles.py`).

Everything is validated and resolved (spec, expansion, data files) before the folder is
created; the folder is created exclusively (an existing one is never overwritten) and removed
again if anything fails while it is being written.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dmsweep
from dmsweep.core import runfiles
from dmsweep.core.gitinfo import git_commit
from dmsweep.core.queuefile import QUEUE_VARS
from dmsweep.core.runfiles import RunPaths
from dmsweep.core.runmanifest import DatabaseRef, EnvRef, RunManifest
from dmsweep.data.source import DataSource
from dmsweep.errors import ConfigError, OutputError
from dmsweep.run_builder.datafiles import gather, link_or_copy
from dmsweep.run_builder.environments import JOB_IMPORTS, prepare_environment, upload_command
from dmsweep.run_builder.expand import MAX_TRAININGS, PlannedBatch, PlannedTraining
from dmsweep.run_builder.joblist import write_job_list
from dmsweep.run_builder.plan import SweepPlan, plan_file
from dmsweep.run_builder.render import render

if TYPE_CHECKING:
    from dmsweep.db.collection import CollectionInfo

REUSED_BATCH = "reused"
"""jobs.csv batch_id of a training whose valid results were linked in from an earlier run."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class BuildOptions:
    runs_dir: Path = Path("runs")
    data_dir: Path | None = None
    name: str | None = None
    """Folder name (default `<spec name>-<YYYYmmdd-HHMMSS>`)."""
    reuse_results: Sequence[Path] = ()
    """Earlier run folders: trainings with valid results there are linked in, not queued."""
    cache_dir: Path | None = None
    """Where built environments are cached (default: `environments.default_env_cache()`)."""
    max_trainings: int = MAX_TRAININGS
    """A spec expanding to more trainings is refused, with the count, before it is built."""
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))

    def data_source(self) -> DataSource:
        return DataSource.resolve(self.data_dir)


def build_run(spec_path: Path | str, options: BuildOptions | None = None) -> Path:
    """Write a new run folder for the spec; returns its path."""
    options = options or BuildOptions()
    started = time.perf_counter()
    planned = plan_file(spec_path, data=options.data_source(), max_trainings=options.max_trainings)
    planned = planned.reusing(_reusable(planned.trainings, options.reuse_results))
    data = planned.data_files()
    now = datetime.now().astimezone()
    name = options.name or f"{planned.spec.name}-{now:%Y%m%d-%H%M%S}"
    if not _NAME.fullmatch(name):
        raise ConfigError(f"run name {name!r}: expected letters, digits, '.', '_', '-'")

    paths = RunPaths(Path(options.runs_dir) / name)
    _create_run_folder(paths)
    try:
        env = _write(planned, paths, data, now, options)
    except OSError as err:  # full disk, quota, permissions: nothing half-written stays
        shutil.rmtree(paths.root, ignore_errors=True)
        where = err.filename or paths.root
        raise OutputError(
            f"{where}: cannot write the run folder: {err.strerror or type(err).__name__}"
        ) from None
    except BaseException:
        shutil.rmtree(paths.root, ignore_errors=True)
        raise
    options.log(
        f"{len(planned.trainings):,} trainings ({len(planned.reused):,} reused) in "
        f"{len(planned.batches):,} jobs, written in {time.perf_counter() - started:.1f} s"
    )
    for ref in env:
        upload = upload_command(ref, paths.root)
        if upload is not None:
            options.log(f"environment staged at {ref.staged}: upload it once before submitting:")
            options.log(f"  {upload}")
    return paths.root


def _create_run_folder(paths: RunPaths) -> None:
    """Create the new run folder exclusively; an unusable location is one line naming it."""
    try:
        paths.root.parent.mkdir(parents=True, exist_ok=True)
        paths.root.mkdir()
    except FileExistsError:
        if not paths.root.parent.is_dir():
            raise OutputError(
                f"-o {paths.root.parent}: not a folder (a file of that name exists)"
            ) from None
        raise ConfigError(
            f"{paths.root} already exists: refusing to overwrite it (choose another --name)"
        ) from None
    except OSError as err:
        raise OutputError(
            f"-o {paths.root.parent}: cannot create the run folder there: "
            f"{err.strerror or type(err).__name__}"
        ) from None


def _write(
    planned: SweepPlan,
    paths: RunPaths,
    data: Mapping[str, tuple[Path, str]],
    now: datetime,
    options: BuildOptions,
) -> tuple[EnvRef, ...]:
    spec, trainings, batches, reused = (
        planned.spec,
        planned.trainings,
        planned.batches,
        planned.reused,
    )
    for folder in (paths.results, paths.logs):
        folder.mkdir()
    shutil.copy2(spec.path, paths / runfiles.SPEC_COPY)
    split = spec.environment.gpu is not None
    classes = _requirement_classes(batches, gpu_environment=split)
    write_job_list(
        paths.queue,
        paths.jobs_csv,
        batches,
        [classes.index(_requirement(b, gpu_environment=split)) for b in batches],
        reused=[(t, REUSED_BATCH) for t in trainings if t.job_id in reused],
    )
    for job_id, source in reused.items():
        _link_tree(source, paths.results / job_id)
    (paths / runfiles.DATA).mkdir()
    checksums = gather(dict(data), paths / runfiles.DATA)
    version, commit, dirty = _copy_code(paths / runfiles.CODE)
    env = prepare_environment(spec.environment, paths / runfiles.ENV, cache_dir=options.cache_dir)
    gpu_env = None
    if spec.environment.gpu is not None and any(c.gpu for c in classes):
        gpu_env = prepare_environment(
            spec.environment.gpu, paths / runfiles.ENV, cache_dir=options.cache_dir
        )

    manifest = RunManifest(
        name=paths.root.name,
        created=now.isoformat(timespec="seconds"),
        created_utc=now.astimezone(UTC).isoformat(timespec="seconds"),
        version=version,
        git_commit=commit,
        git_dirty=dirty,
        spec_file=spec.path.name,
        spec_path=str(spec.path.resolve()),
        description=spec.description,
        trainings=len(trainings),
        reused=len(reused),
        queued=sum(len(b.trainings) for b in batches),
        batches=len(batches),
        models=dict(Counter(t.config.model for t in trainings)),
        preflight=spec.preflight,
        python=sys.version.split()[0],
        environment=env,
        data=checksums,
        requirement_classes=tuple(c.requirements for c in classes),
        queue_vars=tuple(QUEUE_VARS),
        max_idle=spec.max_idle,
        max_materialize=spec.max_materialize,
        reused_from=tuple(sorted({str(p.parent.parent.resolve()) for p in reused.values()})),
        gpus_minimum_capability=tuple(c.gpus_minimum_capability for c in classes),
        gpus_minimum_memory=tuple(c.gpus_minimum_memory for c in classes),
        gpu_environment=gpu_env,
        requirement_environments=(
            tuple("gpu" if c.gpu else "cpu" for c in classes) if gpu_env is not None else ()
        ),
        database=_database_ref(planned.database),
    )
    context = _template_context(manifest)
    paths.submit_file.write_text(render("sweep.sub.j2", **context))
    paths.wrapper.write_text(render("run_job.sh.j2", **context))
    paths.wrapper.chmod(0o755)
    (paths / runfiles.README).write_text(render("README.md.j2", **context))
    paths.manifest.write_text(manifest.to_json())
    return (env,) if gpu_env is None else (env, gpu_env)


def _database_ref(info: CollectionInfo | None) -> DatabaseRef | None:
    """The manifest's record of the collection the jobs read (URI without secrets)."""
    if info is None:
        return None
    return DatabaseRef(
        db=info.db, collection=info.collection, documents=info.documents, checksum=info.checksum
    )


def template_files() -> dict[str, str]:
    """Run-folder names the templates refer to (one place: runfiles.py)."""
    return {
        "wrapper": runfiles.WRAPPER,
        "results": runfiles.RESULTS,
        "logs": runfiles.LOGS,
        "events_log": runfiles.EVENTS_LOG,
        "queue": runfiles.QUEUE,
        "submit": runfiles.SUBMIT,
        "code": runfiles.CODE,
        "data": runfiles.DATA,
        "jobs_csv": runfiles.JOBS_CSV,
        "manifest": runfiles.MANIFEST,
        "spec_copy": runfiles.SPEC_COPY,
        "preflight": runfiles.PREFLIGHT,
        "preflight_report": runfiles.PREFLIGHT_REPORT,
    }


def _template_context(run: RunManifest) -> dict[str, Any]:
    files = template_files()
    env = run.environment
    transfer = [files["code"], files["data"], *env.transfer_inputs()]
    gpu_env = run.gpu_environment
    if gpu_env is not None:  # per requirement class: ENVFILES_<req> in the submit file
        transfer = [files["code"], files["data"]]
    return {
        "run": run,
        "env": env,
        "gpu_env": gpu_env,
        "class_envs": _class_environments(run),
        "upload": upload_command(env, Path(".")),
        "gpu_upload": upload_command(gpu_env, Path(".")) if gpu_env else None,
        "files": files,
        "transfer_input": transfer,
        "scratch_inputs": [
            *transfer[:2],
            *(Path(f).name for f in (*env.files, *(gpu_env.files if gpu_env else ()))),
        ],
        "requirement_classes": list(run.requirement_classes),
        "gpu_minimums": _gpu_minimums(run),
        "max_idle": run.max_idle,
        "max_materialize": run.max_materialize,
        "queue_vars": QUEUE_VARS,
        "imports": list(JOB_IMPORTS),
    }


@dataclass(frozen=True)
class _ClassEnvironment:
    """One requirement class's environment as the submit file names it (ENV_/ENVFILES_/IMAGE_)."""

    choice: str
    """"cpu" or "gpu": the wrapper's DMSWEEP_ENV, which environment fragment it runs."""
    files: str
    """", <file>, ..." appended to transfer_input_files ("" when nothing is transferred)."""
    image: str


def _class_environments(run: RunManifest) -> list[_ClassEnvironment]:
    """Per requirement class, the environment its batches transfer and run (only used when the
    run has a GPU environment)."""
    found = []
    for req, choice in enumerate(run.requirement_environments):
        ref = run.environment_for(req)
        inputs = ref.transfer_inputs()
        found.append(_ClassEnvironment(choice, "".join(f", {f}" for f in inputs), ref.image or ""))
    return found


@dataclass(frozen=True)
class _RequirementClass:
    """What a batch asks of its machine beyond counts: one REQ_<i> of the submit file."""

    requirements: str
    gpus_minimum_capability: float | None = None
    gpus_minimum_memory: int | None = None
    gpu: bool = False
    """Its batches ask for GPUs and the spec gives them their own environment."""


def _requirement_classes(
    batches: Sequence[PlannedBatch], *, gpu_environment: bool = False
) -> list[_RequirementClass]:
    """Distinct requirement classes in first-use order ("True" when a batch has none); with a
    GPU environment, batches asking for GPUs are classes of their own."""
    classes = dict.fromkeys(_requirement(b, gpu_environment=gpu_environment) for b in batches)
    return list(classes) or [_RequirementClass("True")]


def _requirement(batch: PlannedBatch, *, gpu_environment: bool = False) -> _RequirementClass:
    res = batch.resources
    text = "True" if not res.requirements else " ".join(res.requirements.split())
    gpu = gpu_environment and res.gpus > 0
    return _RequirementClass(text, res.gpus_minimum_capability, res.gpus_minimum_memory, gpu)


def _gpu_minimums(run: RunManifest) -> list[tuple[str, str]] | None:
    """(capability, memory MB) per requirement class as submit-file text ("" when unset), or
    None when no class has one (the submit file then says nothing of GPU minimums)."""
    pairs = list(zip(run.gpus_minimum_capability, run.gpus_minimum_memory, strict=True))
    if not any(c is not None or m is not None for c, m in pairs):
        return None
    return [("" if c is None else repr(c), "" if m is None else str(m)) for c, m in pairs]


def _reusable(trainings: Sequence[PlannedTraining], runs: Sequence[Path]) -> dict[str, Path]:
    """job_id -> its valid result folder in one of the earlier runs."""
    if not runs:
        return {}
    from dmsweep.core.results import is_valid_result  # only when results are reused

    found: dict[str, Path] = {}
    for run in runs:
        results = RunPaths(Path(run)).results
        if not results.is_dir():
            raise ConfigError(f"--reuse-results {run}: not a run folder (no {runfiles.RESULTS}/)")
        for training in trainings:
            folder = results / training.job_id
            if training.job_id not in found and is_valid_result(folder, training.job_id):
                found[training.job_id] = folder
    return found


def _link_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=link_or_copy)


def _copy_code(target: Path) -> tuple[str, str | None, bool | None]:
    """Copy the dmsweep package (and a dist-info, so its version resolves) to `target`."""
    package = Path(dmsweep.__file__).resolve().parent
    shutil.copytree(package, target / "dmsweep", ignore=shutil.ignore_patterns("__pycache__"))
    version = dmsweep.__version__
    info = target / f"dmsweep-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dmsweep\nVersion: {version}\n")
    commit, dirty = git_commit()  # no TensorFlow behind this import
    return version, commit, dirty
