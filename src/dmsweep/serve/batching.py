"""Concurrent requests share one model call: a fixed-batch-size micro-batcher.

A Keras call costs about the same for 1 row as for a few hundred (the per-call overhead of
TensorFlow dominates small inputs), so sixteen clients asking for one variant each should
be one call, not sixteen. One thread per model owns the calls: it takes the first waiting
request and every other one already queued, up to `batch_size` rows, runs the model on all
of them (in chunks of at most `batch_size` rows: the fixed batch size of every call), and
hands each request its own slice. No delay is added by default (`max_wait` 0): while the
model runs, new requests queue up, and the next call takes them together, so batches grow
with the load by themselves and a lone request waits for nobody. A variant's score does not
depend on what it was batched with (dmsweep.models doubles a one-row call for that).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

Compute = Callable[[np.ndarray, int], np.ndarray]
"""(rows, batch_size) -> one output row per input row (scores (n,) or attention (n, L))."""


@dataclass
class _Job:
    rows: np.ndarray
    future: Future[np.ndarray] = field(default_factory=Future)


_STOP = object()


class MicroBatcher:
    """Runs `compute` on the rows of several requests at once, in one worker thread."""

    def __init__(
        self, compute: Compute, *, batch_size: int, max_wait: float = 0.0, name: str = "model"
    ) -> None:
        self.compute = compute
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.calls = 0
        """Model calls made (tests check that concurrent requests shared them)."""
        self._queue: queue.Queue[_Job | object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, rows: np.ndarray) -> Future[np.ndarray]:
        """A future of `compute`'s output for these rows (its exception if the call failed)."""
        job = _Job(rows)
        if len(rows) == 0:
            job.future.set_result(self.compute(rows, self.batch_size))
            return job.future
        self._queue.put(job)
        return job.future

    def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop the thread (on server shutdown)."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            assert isinstance(first, _Job)
            group, stop = self._gather(first)
            self._call(group)
            if stop:
                return

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """`first` and the requests that arrive within max_wait, up to batch_size rows."""
        group, rows = [first], len(first.rows)
        deadline = time.monotonic() + self.max_wait
        while rows < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is _STOP:
                return group, True
            assert isinstance(item, _Job)
            group.append(item)
            rows += len(item.rows)
        return group, False

    def _call(self, group: list[_Job]) -> None:
        """One model call for the group; each future gets its slice, or the error."""
        try:
            rows = group[0].rows if len(group) == 1 else np.concatenate([j.rows for j in group])
            out = self.compute(rows, self.batch_size)
            self.calls += 1
        except BaseException as err:  # handed to every waiting request, never lost
            for job in group:
                job.future.set_exception(err)
            return
        start = 0
        for job in group:
            job.future.set_result(out[start : start + len(job.rows)])
            start += len(job.rows)
