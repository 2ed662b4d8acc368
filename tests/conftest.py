"""Shared fixtures: where the real data lives, quiet TensorFlow logs, a real document server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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


MONGO_URI_ENV = "DMSWEEP_TEST_MONGO_URI"
"""The server scripts/test.sh started with scripts/mongo-server.sh; unset: a fixture starts one."""


def ping(uri: str, *, timeout_ms: int) -> None:
    """Return once the server at `uri` answers a ping (pymongo's error after `timeout_ms`)."""
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
    finally:
        client.close()


@pytest.fixture(scope="session")
def mongo_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MongoDB wire-protocol server for the session: the one in $DMSWEEP_TEST_MONGO_URI
    (scripts/test.sh starts it with scripts/mongo-server.sh beside the pool), else one started
    here (secantusd-py from the `dev` extra, GPL-2.0, a separate process, never imported) on
    a free loopback port with a temporary storage folder and stopped at the end of the session.
    Tests take `mongo_server`, a database of their own on it."""
    import pymongo.errors

    given = os.environ.get(MONGO_URI_ENV)
    if given:
        try:
            ping(given, timeout_ms=10_000)
        except pymongo.errors.PyMongoError as err:
            pytest.fail(f"${MONGO_URI_ENV}={given} does not answer: {err}")
        yield given
        return
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
        ping(uri, timeout_ms=20_000)
        yield uri
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture
def mongo_server(mongo_address: str) -> Iterator[str]:
    """The session's server URI naming a fresh database of this test's own (a unique name,
    dropped afterwards), so tests sharing one server never see each other's documents or
    metadata, whatever collection names they choose."""
    import pymongo

    database = f"t_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(mongo_address)
    yield urlunsplit(parts._replace(path=f"/{database}"))
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_address, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(database)
    finally:
        client.close()
