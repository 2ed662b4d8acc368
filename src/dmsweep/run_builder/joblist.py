"""Write a run's job list twice over: queue.txt (what HTCondor runs) and jobs.csv (what people
and the aggregator read), fast enough for tens of thousands of trainings.

Expansion shares section objects between trainings (`expand._Configs`): 17,820
trainings of the resampling sweep hold only ~3,600 distinct (model, data, optimiser)
section triples, made of 4 distinct model sections, 99 data and 9 optimiser sections, and
trainings with the same triple differ only in their seed. So each *section* is rendered once
(JSON members and CSV cells, `_Rendered`), each triple joins its sections' pieces once
(`_Shared`), and each training adds its seed and job id.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmsweep.config import TrainConfig, section_flat_items
from dmsweep.core.queuefile import encode_json_lines, format_line
from dmsweep.run_builder.expand import PlannedBatch, PlannedTraining

_COMPACT = {"separators": (",", ":"), "sort_keys": True}


@dataclass(frozen=True)
class _Rendered:
    """One config section (or the model name) as the job list writes it."""

    keys: tuple[str, ...]
    """Its flat keys, in field order."""
    json_members: dict[str, str]
    """key -> '"key":<compact JSON>', a member as json.dumps(sort_keys) writes it."""
    cells: dict[str, str]
    """key -> its jobs.csv cell, quoted as csv.writer quotes it."""


@dataclass(frozen=True)
class _Shared:
    """What every config with one section triple has in common (seed aside)."""

    keys: frozenset[str]
    """Its flat keys (`to_flat()`'s), seed included."""
    cells: dict[str, str]
    """key -> jobs.csv cell of every key but the seed."""
    json_head: str
    """Compact JSON of its flat form without the seed (keys sorted), closing brace removed."""


class _Sections:
    def __init__(self) -> None:
        # ids are stable: every config stays referenced by the trainings while we write
        self._cache: dict[tuple[int, int, int], _Shared] = {}
        self._rendered: dict[int, _Rendered] = {}
        self._models: dict[str, _Rendered] = {}
        self._layouts: dict[tuple[tuple[str, ...], ...], tuple[list[str], frozenset[str]]] = {}

    def shared(self, config: TrainConfig) -> _Shared:
        key = (id(config.params), id(config.data), id(config.optim))
        found = self._cache.get(key)
        if found is None:
            parts = [self._section(s) for s in (config.params, config.data, config.optim)]
            parts.append(self._model(config.model))
            order, keys = self._layout(parts)
            members: dict[str, str] = {}
            cells: dict[str, str] = {}
            for part in parts:
                members.update(part.json_members)
                cells.update(part.cells)
            json_head = "{" + ",".join([members[k] for k in order])
            found = self._cache[key] = _Shared(keys, cells, json_head)
        return found

    def _layout(self, parts: Sequence[_Rendered]) -> tuple[list[str], frozenset[str]]:
        """(sorted keys, keys with the seed) of sections with these keys: triples share them
        (sections differ in values far more often than in which fields are set)."""
        layout = tuple(part.keys for part in parts)
        found = self._layouts.get(layout)
        if found is None:
            keys = [k for part in parts for k in part.keys]
            found = self._layouts[layout] = (sorted(keys), frozenset([*keys, "seed"]))
        return found

    def _model(self, model: str) -> _Rendered:
        found = self._models.get(model)
        if found is None:
            found = self._models[model] = _render((("model", model),))
        return found

    def _section(self, section: Any) -> _Rendered:
        found = self._rendered.get(id(section))
        if found is None:
            found = self._rendered[id(section)] = _render(section_flat_items(section))
        return found


def _render(items: Sequence[tuple[str, Any]]) -> _Rendered:
    members = {k: f"{json.dumps(k)}:{json.dumps(v, **_COMPACT)}" for k, v in items}
    return _Rendered(tuple(k for k, _ in items), members, {k: _csv_cell(v) for k, v in items})


def write_job_list(
    queue: Path,
    jobs_csv: Path,
    batches: Sequence[PlannedBatch],
    req_classes: Sequence[int],
    reused: Sequence[tuple[PlannedTraining, str]] = (),
) -> None:
    """queue.txt (one line per batch, `req_classes[i]` for batch i) and jobs.csv (one row per
    training: the batches' trainings, then `reused` (training, batch id) rows)."""
    sections = _Sections()
    with open(queue, "w", encoding="ascii") as stream:
        for batch, req in zip(batches, req_classes, strict=True):
            res = batch.resources
            configs = encode_json_lines(_config_json(t, sections) for t in batch.trainings)
            line = format_line(
                batch.batch_id, res.cpus, res.memory_mb, res.disk_mb, res.gpus, req, configs
            )
            stream.write(line + "\n")
    rows = [(t, b.batch_id) for b in batches for t in b.trainings] + list(reused)
    _write_jobs_csv(jobs_csv, rows, sections)


def _config_json(training: PlannedTraining, sections: _Sections) -> str:
    """The flat config plus its job id as compact JSON (seed and job_id last)."""
    # what json.dumps(..., sort_keys) writes: a job id is [a-z]+-[0-9a-f]{12}, a seed an int
    tail = f'"job_id":"{training.job_id}","seed":{training.config.seed:d}}}'
    return f"{sections.shared(training.config).json_head},{tail}"


def _write_jobs_csv(
    path: Path, rows: Sequence[tuple[PlannedTraining, str]], sections: _Sections
) -> None:
    """job_id, batch_id, then every flat key (sorted; lists joined by commas; unset empty).

    Byte for byte what `csv.writer` writes row by row, in a small part of the time: each
    section's cells are rendered by it once (`_Rendered`), a section triple's row is joined
    from them once, split where the seed goes, and each row adds only its job id, batch id
    and seed, none of which ever needs quoting (job ids are `<model>-<hex>`, batch ids are
    checked by `queuefile.format_line`, seeds are ints).
    """
    shared = [sections.shared(t.config) for t, _ in rows]
    keys = sorted({k for s in {id(s): s for s in shared}.values() for k in s.keys})
    seed_at = keys.index("seed")
    before_seed, after_seed = keys[:seed_at], keys[seed_at + 1 :]
    around_seed: dict[int, tuple[str, str]] = {}
    lines = [_csv_line(["job_id", "batch_id", *keys])]
    for (training, batch_id), common in zip(rows, shared, strict=True):
        parts = around_seed.get(id(common))
        if parts is None:
            cells = common.cells
            before = "".join(cells.get(k, "") + "," for k in before_seed)
            after = "".join("," + cells.get(k, "") for k in after_seed)
            parts = around_seed[id(common)] = (before, after + "\r\n")
        lines.append(f"{training.job_id},{batch_id},{parts[0]}{training.config.seed:d}{parts[1]}")
    with open(path, "w", newline="", encoding="utf-8") as stream:
        stream.write("".join(lines))


def _csv_line(cells: Sequence[Any]) -> str:
    """One row as csv.writer writes it, line end included."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    """One cell as csv.writer writes it within a row: lists joined by commas, None empty,
    quoted when it must be (a lone empty cell would be written '""': never rendered alone)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = ",".join(map(str, value))
    text = str(value)
    return text and _csv_line([value])[:-2]
