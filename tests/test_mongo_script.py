"""scripts/mongo-server.sh for real: start a server on a port and state folder of its own, see it
answer and keep a document, status, stop, stop again; a port another server holds is refused;
a stale pid file is status 1; a reused pid (a live process, not this server) is never signalled."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest

pytestmark = pytest.mark.db
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mongo-server.sh"


@pytest.fixture
def script(tmp_path):
    """Run the script with its own state folder and free port; stopped in any case at the end."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DMSWEEP_MONGO_DIR": str(tmp_path / "state"),
        "DMSWEEP_MONGO_PORT": str(port),
        "SECANTUSD": str(Path(sys.executable).parent / "secantusd-py"),
    }

    def run(command: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
        own = env if state is None else {**env, "DMSWEEP_MONGO_DIR": str(state)}
        return subprocess.run(
            [str(SCRIPT), command], env=own, capture_output=True, text=True, timeout=120
        )

    run.port = port  # type: ignore[attr-defined]
    run.state = tmp_path / "state"  # type: ignore[attr-defined]
    yield run
    run("stop")


def test_start_status_stop_stop_again_and_a_stale_pid_file(script):
    uri = f"mongodb://127.0.0.1:{script.port}/dmsweep"
    started = script("start")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == uri
    client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    client.get_database().proteins.insert_one({"_id": "P1", "sequence": "MKV"})
    client.close()

    again = script("start")  # already running: the same server, its URI
    assert (again.returncode, again.stdout.strip()) == (0, uri)
    status = script("status")
    assert status.returncode == 0 and uri in status.stdout
    pid = int((script.state / "pid").read_text())
    other = script("start", state=script.state.parent / "other")  # same port, not ours
    assert other.returncode == 1 and f"port {script.port} is in use" in other.stderr

    stopped = script("stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert script("status").returncode == 3
    twice = script("stop")
    assert twice.returncode == 0 and "not running" in twice.stdout

    restarted = script("start")  # the documents stay in the state folder across restarts
    assert restarted.returncode == 0, restarted.stderr
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    assert client.get_database().proteins.find_one({"_id": "P1"})["sequence"] == "MKV"
    client.close()

    # killed without stop: the pid file names a dead process (status 1); stop clears it
    pid = int((script.state / "pid").read_text())
    os.kill(pid, signal.SIGKILL)
    status = script("status")
    assert status.returncode == 1 and str(pid) in status.stdout
    assert script("stop").returncode == 0
    assert not (script.state / "pid").exists()
    assert script("status").returncode == 3

    # a pid file naming a live process that is not this server (a reused pid): never signalled
    (script.state / "pid").write_text(f"{os.getpid()}\n")
    assert script("status").returncode == 1
    assert script("stop").returncode == 0
    assert not (script.state / "pid").exists()  # this test's process is still here to see it
