"""Shared fixtures: where the real data lives, quiet TensorFlow logs, a real document server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import dmsweep  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real avGFP data: $DMSWEEP_DATA_DIR, else ../shared/data beside the checkout."""
    path = Path(os.environ.get("DMSWEEP_DATA_DIR", DEFAULT_DATA_DIR))
    if not (path / "avgfp" / "avgfp.tsv").is_file():
        pytest.fail(f"real data not found at {path}: set DMSWEEP_DATA_DIR to a copy of shared/data")
    return path


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MongoDB wire-protocol server (secantusd-py from the `dev` extra, GPL-2.0, run as
    a separate process, never imported) on a free loopback port with a temporary storage
    folder; yields its URI and stops it at the end of the session."""
    import pymongo

    program = Path(sys.executable).parent / "secantusd-py"
    if not program.is_file():
        pytest.fail(f"{program} not found: pip install -e '.[dev]' (secantusdb)")
    storage = tmp_path_factory.mktemp("secantus")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(storage.parent / "secantus.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [str(program), "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(storage)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    uri = f"mongodb://127.0.0.1:{port}/dmsweep_test"
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=20_000)
        client.admin.command("ping")
        client.close()
        yield uri
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
