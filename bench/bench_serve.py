"""`dmsweep serve` under a bounded load from a second process, next to in-process predict.

Starts `dmsweep serve` on a free loopback port (the tf215 fixtures by default: a linear model
and a one-layer attention GCN), waits until it is ready, then for each request size (1 and
100 variants) and each number of concurrent clients (1, 4, 16, 32) sends its share of
`--requests` requests with httpx from threads of this process. Every answer is checked
against the scores of a reference request (within 1e-6): errors (non-200), drops (no
answer) and wrong answers are counted. Reports throughput, p50/p99 latency, the server's
RSS before and after the load, and the same 100 variants scored in-process
(`TrainedJob.predict`, what `dmsweep predict` runs) with the ratio of a 100-variant request
at one client to it (goal: <= 1.5x).

    .venv/bin/python bench/bench_serve.py [--requests 2000] [--model FOLDER ...]
        [--clients 1 4 16 32] [--sizes 1 100] [--data-dir ../shared/data]
    .venv/bin/python bench/bench_serve.py --full     # 10,000 requests per request size
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "tf215"
DEFAULT_MODELS = (FIXTURES / "linear-fdf24cb2d2b1", FIXTURES / "gcn-eaa557fe34e0")
IN_PROCESS_REPEATS = 50


@dataclass
class Tally:
    """What one (model, size, clients) scenario saw."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wrong: int = 0
    drops: int = 0
    seconds: float = 0.0

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = 1000 * statistics.median(lat) if lat else float("nan")
        p99 = 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan")
        rate = len(lat) / self.seconds if self.seconds else 0.0
        return (
            f"{rate:9.1f} req/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
            f"errors {self.errors}  wrong {self.wrong}  drops {self.drops}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--requests", type=int, default=2000, help="per request size")
    parser.add_argument("--full", action="store_true", help="10,000 requests per request size")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--data-dir", type=Path, default=_default_data_dir())
    args = parser.parse_args()
    requests = 10_000 if args.full else args.requests

    variants = _variants(args.model[0], max(args.sizes))
    with tempfile.TemporaryDirectory(prefix="dmsweep-bench-serve-") as tmp:
        folders = [Path(shutil.copytree(m, Path(tmp) / m.name)) for m in args.model]
        in_process = {f.name: _in_process(f, variants[:100], args.data_dir) for f in folders}
        port = _free_port()
        server = _start(folders, port, args.data_dir, Path(tmp) / "server.log")
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, server)
            rss_start = _rss_mb(server.pid)
            _warm_up(url, folders, variants, args.sizes, max(args.clients))
            rss_before = _rss_mb(server.pid)
            print(
                f"server pid {server.pid}: RSS {rss_start:.0f} MB when ready, {rss_before:.0f} "
                "MB after a warm-up pass (every batch shape the load makes: TensorFlow keeps "
                "per-shape buffers)"
            )
            served_100 = {}
            for folder in folders:
                for size in args.sizes:
                    expected = _score(url, folder.name, variants[:size])
                    for clients in args.clients:
                        per_level = max(clients, requests // len(args.clients))
                        load = _load(url, folder.name, variants[:size], expected, clients,
                                     per_level)  # fmt: skip
                        tally = asyncio.run(load)
                        label = f"{folder.name:22} {size:4} variants x{clients:3} clients"
                        rss = _rss_mb(server.pid)
                        print(f"{label}  {tally.row()}  RSS {rss:.0f} MB", flush=True)
                        if size == 100 and clients == 1:
                            served_100[folder.name] = statistics.median(tally.latencies)
            rss_after = _rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(60)
    print(f"server RSS: {rss_before:.0f} MB before the load, {rss_after:.0f} MB after it")
    for name, (predict, compiled) in in_process.items():
        served = served_100.get(name, float("nan"))
        print(
            f"{name}: 100 variants in-process: TrainedJob.predict (dmsweep predict) "
            f"{1000 * predict:.2f} ms, the server's compiled path {1000 * compiled:.2f} ms "
            f"(medians of {IN_PROCESS_REPEATS}); one 100-variant request at 1 client "
            f"{1000 * served:.2f} ms: {served / predict:.2f}x predict (goal <= 1.5x), "
            f"{served / compiled:.2f}x the compiled path"
        )
    return 0


def _variants(folder: Path, n: int) -> list[str]:
    """The job's own recorded test variants, repeated up to n (real, valid variants)."""
    with open(folder / "predictions.csv", newline="") as stream:
        recorded = [row["variant"] for row in csv.DictReader(stream)]
    return [recorded[i % len(recorded)] for i in range(n)]


def _in_process(folder: Path, variants: Sequence[str], data_dir: Path) -> tuple[float, float]:
    """Median seconds, model loaded and warm, of `TrainedJob.predict` on these variants
    (what `dmsweep predict` runs) and of the server's own parse + compiled scores in-process
    (the same work without HTTP: what the server's overhead is measured against)."""
    from dmsweep.serve.models import ModelSource, ServedModel
    from dmsweep.train.predict import TrainedJob, VariantInput

    job = TrainedJob(folder, data_dir=data_dir)
    given = VariantInput(list(variants), "bench")
    served = ServedModel(ModelSource(folder.name, folder), data_dir=data_dir)
    served.load()
    return (
        _median_seconds(lambda: job.predict(given)),
        _median_seconds(lambda: served.scores(served.task.parse(variants))),
    )


def _median_seconds(work: Callable[[], object]) -> float:
    work()
    times = []
    for _ in range(IN_PROCESS_REPEATS):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _start(folders: Sequence[Path], port: int, data_dir: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "dmsweep.cli", "serve", *map(str, folders)]
    command += ["--port", str(port), "--data-dir", str(data_dir)]
    with open(log, "w") as stream:
        return subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT)


def _wait_ready(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready within {timeout} s")


def _warm_up(
    url: str, folders: Sequence[Path], variants: Sequence[str], sizes: Sequence[int], clients: int
) -> None:
    """A short pass at the highest concurrency for every model and size (not measured)."""
    for folder in folders:
        for size in sizes:
            expected = _score(url, folder.name, variants[:size])
            asyncio.run(_load(url, folder.name, variants[:size], expected, clients, 4 * clients))


def _score(url: str, name: str, variants: Sequence[str]) -> list[float]:
    response = httpx.post(f"{url}/v1/models/{name}:predict", json={"instances": list(variants)})
    response.raise_for_status()
    return response.json()["predictions"]


async def _load(
    url: str,
    name: str,
    variants: Sequence[str],
    expected: Sequence[float],
    clients: int,
    requests: int,
) -> Tally:
    """`requests` requests from `clients` concurrent clients (asyncio tasks sharing one
    connection pool of `clients` keep-alive connections: a load generator in threads would
    measure Python's GIL more than the server)."""
    tally = Tally()
    body = {"instances": list(variants)}
    path = f"/v1/models/{name}:predict"
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient, count: int) -> None:
        for _ in range(count):
            start = time.perf_counter()
            try:
                response = await http.post(path, json=body)
            except httpx.HTTPError:
                tally.drops += 1
                continue
            tally.latencies.append(time.perf_counter() - start)
            ok = response.status_code == 200
            tally.errors += not ok
            tally.wrong += ok and not _close(response.json()["predictions"], expected)

    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http, share) for share in shares))
        tally.seconds = time.perf_counter() - start
    return tally


def _close(got: Sequence[float], expected: Sequence[float]) -> bool:
    return len(got) == len(expected) and all(
        abs(a - b) <= 1e-6 for a, b in zip(got, expected, strict=True)
    )


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _default_data_dir() -> Path:
    return Path(os.environ.get("DMSWEEP_DATA_DIR", REPO.parent / "shared" / "data"))


if __name__ == "__main__":
    sys.exit(main())
