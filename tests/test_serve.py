"""`dmsweep serve` as a client sees it: a real server process on a free loopback port, spoken
to over HTTP with httpx. One server (the linear and the attention-GCN fixtures, a token, small
limits) is shared by the module; its last test stops it with SIGTERM while a request runs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.server

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tf215"
LINEAR, GCN = "linear-fdf24cb2d2b1", "gcn-eaa557fe34e0"
TOKEN = "test-token-0123456789"
MAX_INSTANCES = 3000
MAX_BODY = 200_000
WILD_TYPE_LENGTH = 237


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    log: Path
    folders: Path

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(server: Server, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    with server.client() as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(
                    f"the server exited {server.process.returncode}: {server.log.read_text()}"
                )
            try:
                if client.get("/v2/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    pytest.fail(f"the server was not ready in {timeout} s: {server.log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serve")
    for name in (LINEAR, GCN):
        shutil.copytree(FIXTURES / name, root / name)
    (root / "token").write_text(TOKEN + "\n")
    options = ["--token-file", str(root / "token"), "--data-dir", str(data_dir)]
    options += ["--max-instances", str(MAX_INSTANCES), "--max-body-bytes", str(MAX_BODY)]
    running = _start([root / LINEAR, root / GCN], options, root)
    try:
        _wait_ready(running)
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)


def _start(targets: list[Path], options: list[str], folder: Path) -> Server:
    """`dmsweep serve TARGET... OPTIONS` on a free loopback port, logging to folder."""
    port = _free_port()
    command = [sys.executable, "-m", "dmsweep.cli", "serve", *map(str, targets)]
    command += ["--port", str(port), *options]
    log = folder / "server.log"
    with open(log, "w") as stream:
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, text=True)
    return Server(process, f"http://127.0.0.1:{port}", log, folder)


@pytest.fixture(scope="module")
def variants() -> list[str]:
    """The fixture's own test variants, the wild type, and a few more."""
    with open(FIXTURES / LINEAR / "predictions.csv", newline="") as stream:
        recorded = [row["variant"] for row in csv.DictReader(stream)]
    return [*recorded[:40], "_wt", "A108D,N144D", "S0A"]


@pytest.fixture(scope="module")
def predicted(server: Server, variants: list[str], data_dir: Path) -> dict[str, list[float]]:
    """`dmsweep predict` on the same variants, for each model (what the server must match)."""
    out = {}
    for name in (LINEAR, GCN):
        command = [sys.executable, "-m", "dmsweep.cli", "predict", str(server.folders / name)]
        command += [*variants, "--data-dir", str(data_dir)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
        out[name] = [float(row["predicted_score"]) for row in rows]
    return out


def _predict(client: httpx.Client, name: str, instances: list[str], **kw: object) -> httpx.Response:
    return client.post(f"/v1/models/{name}:predict", json={"instances": instances}, **kw)


# ------------------------------------------------------------------------- health and metadata


def test_health_and_server_metadata(server: Server) -> None:
    with server.client() as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert client.get("/v2/health/ready").json() == {
            "ready": True,
            "models": {LINEAR: True, GCN: True},
        }
        meta = client.get("/v2").json()
    assert meta["name"] == "dmsweep" and meta["models"] == [LINEAR, GCN]


def test_model_metadata(server: Server) -> None:
    with server.client() as client:
        meta = client.get(f"/v2/models/{GCN}").json()
    assert (meta["job_id"], meta["model_type"], meta["dataset"], meta["offset"]) == (
        GCN,
        "gcn",
        "avgfp",
        0,
    )
    assert meta["task"] == "variant_regression" and meta["attention"] is True
    assert len(meta["wild_type"]) == WILD_TYPE_LENGTH
    recorded = json.loads((FIXTURES / GCN / "metrics.json").read_text())["splits"]["test"]
    assert meta["test_metrics"]["mse"] == recorded["mse"]
    provenance = json.loads((FIXTURES / GCN / "provenance.json").read_text())
    assert meta["provenance"]["git_commit"] == provenance["git_commit"]
    assert meta["provenance"]["data_files"] == provenance["data_files"]
    assert meta["inputs"] == [{"name": "variants", "datatype": "BYTES", "shape": [-1]}]


# ---------------------------------------------------------------------------------- predictions


@pytest.mark.parametrize("name", [LINEAR, GCN])
def test_predictions_equal_dmsweep_predict(
    server: Server, variants: list[str], predicted: dict[str, list[float]], name: str
) -> None:
    with server.client() as client:
        v1 = _predict(client, name, variants).json()["predictions"]
        body = {"inputs": [{"name": "variants", "datatype": "BYTES", "shape": [len(variants)],
                            "data": variants}]}  # fmt: skip
        v2 = client.post(f"/v2/models/{name}/infer", json=body).json()
    assert v2["model_name"] == name
    (output,) = v2["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == (
        "score",
        "FP32",
        [len(variants)],
    )
    for served in (v1, output["data"]):
        assert max(abs(a - b) for a, b in zip(served, predicted[name], strict=True)) <= 1e-6


def test_a_full_sequence_scores_as_its_variant(server: Server) -> None:
    with server.client() as client:
        wild_type = client.get(f"/v2/models/{LINEAR}").json()["wild_type"]
        mutant = wild_type[:108] + "D" + wild_type[109:]
        scores = _predict(client, LINEAR, [mutant, "A108D", wild_type]).json()["predictions"]
        wt_score = _predict(client, LINEAR, ["_wt"]).json()["predictions"][0]
    assert scores[0] == scores[1] and scores[2] == wt_score


def test_attention_for_the_attention_model(server: Server) -> None:
    with server.client() as client:
        v1 = _predict(client, GCN, ["_wt", "A108D"], params={"attention": "true"}).json()
        tensor = {"name": "variants", "datatype": "BYTES", "shape": [2], "data": ["_wt", "A108D"]}
        body = {"inputs": [tensor], "parameters": {"attention": True}}
        v2 = client.post(f"/v2/models/{GCN}/infer", json=body).json()
        refused = _predict(client, LINEAR, ["_wt"], params={"attention": "true"})
    rows = v1["predictions"]
    assert len(rows[0]["attention"]) == WILD_TYPE_LENGTH
    assert sum(rows[0]["attention"]) == pytest.approx(1.0, abs=1e-3)
    score, weights = v2["outputs"]
    assert weights["shape"] == [2, WILD_TYPE_LENGTH] and weights["datatype"] == "FP32"
    assert weights["data"][:WILD_TYPE_LENGTH] == pytest.approx(rows[0]["attention"], abs=1e-6)
    assert score["data"] == pytest.approx([r["score"] for r in rows], abs=1e-6)
    with server.client() as client:
        only = client.post(
            f"/v2/models/{GCN}/infer", json={**body, "outputs": [{"name": "attention"}]}
        )
        empty = _predict(client, GCN, [], params={"attention": "true"})
    assert [o["name"] for o in only.json()["outputs"]] == ["attention"]
    assert empty.json() == {"predictions": []}
    assert refused.status_code == 422 and "attention needs a gcn" in refused.json()["error"]


def test_concurrent_clients_get_their_own_answers(server: Server, variants: list[str]) -> None:
    with server.client() as client:
        expected = _predict(client, GCN, variants).json()["predictions"]
    answers: dict[int, list[list[float]]] = {}
    errors: list[str] = []

    def user(i: int) -> None:
        mine = [(i + k) % len(variants) for k in range(1 + i % 5)]
        got = []
        try:
            with server.client() as client:
                for _ in range(5):
                    response = _predict(client, GCN, [variants[k] for k in mine])
                    got.append(response.json()["predictions"])
        except Exception as err:  # reported below, with the thread
            errors.append(f"client {i}: {err!r}")
        answers[i] = [[expected[k] for k in mine], *got]

    threads = [threading.Thread(target=user, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    for i, (wanted, *got) in answers.items():
        for served in got:
            assert served == pytest.approx(wanted, abs=1e-6), f"client {i}"


# ---------------------------------------------------------------------------------- the errors


def test_a_token_is_needed(server: Server) -> None:
    for token in (None, "wrong-token"):
        with server.client(token) as client:
            for response in (client.get("/v2/health/ready"), _predict(client, LINEAR, ["_wt"])):
                assert response.status_code == 401
                assert response.headers["www-authenticate"] == "Bearer"
                assert "bearer token" in response.json()["error"]


def test_a_bad_variant_is_a_422_naming_the_instance(server: Server) -> None:
    with server.client() as client:
        response = _predict(client, LINEAR, ["_wt", "A108D", "A108X"])
        wrong_type = _predict(client, LINEAR, ["_wt", 5])  # type: ignore[list-item]
        short = _predict(client, LINEAR, ["SKGEELFTG"])
    assert response.status_code == 422
    assert response.json() == {
        "error": "request, instance 2: A108X: unknown amino acid 'X' in A108X "
        "(expected one of ACDEFGHIKLMNPQRSTVWY*)",
        "instance": 2,
    }
    assert wrong_type.status_code == 422 and wrong_type.json()["instance"] == 1
    assert short.status_code == 422 and "a sequence of 9 residues" in short.json()["error"]


def test_infer_checks_its_tensor(server: Server) -> None:
    cases = [
        ({"name": "sequences", "datatype": "BYTES", "shape": [1], "data": ["_wt"]}, "named"),
        ({"name": "variants", "datatype": "FP32", "shape": [1], "data": ["_wt"]}, "BYTES"),
        ({"name": "variants", "datatype": "BYTES", "shape": [2], "data": ["_wt"]}, "shape"),
    ]
    with server.client() as client:
        for tensor, problem in cases:
            response = client.post(f"/v2/models/{LINEAR}/infer", json={"inputs": [tensor]})
            assert response.status_code == 422 and problem in response.json()["error"]


def test_unknown_model_and_route_are_404(server: Server) -> None:
    with server.client() as client:
        unknown = _predict(client, "cnn-000000000000", ["_wt"])
        assert unknown.status_code == 404
        assert unknown.json()["error"].startswith("unknown model 'cnn-000000000000'")
        assert client.get("/v2/models/nope").status_code == 404
        assert client.get("/nowhere").json() == {"error": "Not Found"}


def test_too_much_is_a_413(server: Server) -> None:
    with server.client() as client:
        many = _predict(client, LINEAR, ["_wt"] * (MAX_INSTANCES + 1))
        big = _predict(client, LINEAR, ["A108D,N144D," * 20000])
        chunks = (b'{"instances": ["' + b"A" * 1000 + b'"' for _ in range(300))
        chunked = client.post(
            f"/v1/models/{LINEAR}:predict",
            content=chunks,
            headers={"Content-Type": "application/json"},
        )
    assert many.status_code == 413 and f"at most {MAX_INSTANCES}" in many.json()["error"]
    assert big.status_code == 413 and f"at most {MAX_BODY}" in big.json()["error"]
    assert chunked.status_code == 413 and f"over {MAX_BODY} bytes" in chunked.json()["error"]


def test_malformed_json_is_one_line(server: Server) -> None:
    with server.client() as client:
        headers = {"Content-Type": "application/json"}
        broken = client.post(f"/v1/models/{LINEAR}:predict", content=b'{"inst', headers=headers)
        not_json = client.post(f"/v1/models/{LINEAR}:predict", content=b"instances=_wt")
        extra = client.post(f"/v1/models/{LINEAR}:predict", json={"instances": [], "x": 1})
    assert broken.status_code == 400 and broken.json()["error"].startswith("malformed JSON")
    assert not_json.status_code == 422 and "Content-Type: application/json" in not_json.text
    assert extra.status_code == 422 and extra.json()["error"].startswith("x: ")
    for response in (broken, not_json, extra):
        assert "Traceback" not in response.text and "\n" not in response.text


def test_the_access_log_is_one_json_line_per_request(server: Server) -> None:
    with server.client() as client:
        client.get("/v2/health/live", params={"probe": "access-log"})
    time.sleep(0.2)
    records = [json.loads(line) for line in server.log_lines() if line.startswith("{")]
    assert {"time", "client", "method", "path", "status", "ms", "bytes_in"} <= set(records[-1])
    assert any(r["path"] == "/v2/health/live" and r["status"] == 200 for r in records)
    assert any(r["status"] == 401 for r in records)
    assert not any("Traceback" in line for line in server.log_lines())


def test_the_api_matches_its_openapi_document(server: Server, tmp_path: Path) -> None:
    """schemathesis, bounded: a few generated requests per operation, every response checked
    against the document (status codes, content types, bodies) and never a 500."""
    with server.client() as client:
        document = client.get("/openapi.json").json()
    assert {"/v2/health/ready", "/v1/models/{name}:predict", "/v2/models/{name}/infer"} <= set(
        document["paths"]
    )
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json"]
    command += ["--header", f"Authorization: Bearer {TOKEN}", "--phases", "examples,fuzzing"]
    command += ["--max-examples", "5", "--workers", "1", "--seed", "1", "--no-color"]
    command += ["--checks", "not_a_server_error,status_code_conformance,"
                "content_type_conformance,response_schema_conformance"]  # fmt: skip
    environ = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false"}
    done = subprocess.run(  # in tmp_path: schemathesis keeps a cache in its working folder
        command, capture_output=True, text=True, timeout=120, env=environ, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_best_of_a_run_without_a_token(tmp_path: Path, data_dir: Path) -> None:
    """`--best TYPE` on a run folder serves best.csv's job as best-TYPE; on loopback without
    --token-file no token is asked for."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / LINEAR, run / "results" / LINEAR)
    (run / "summary").mkdir()
    (run / "summary" / "best.csv").write_text(
        f"model,job_id,folder,n_replicates\nlinear,{LINEAR},{run / 'results' / LINEAR},1\n"
    )
    best = _start([run], ["--best", "linear", "--data-dir", str(data_dir)], tmp_path)
    try:
        _wait_ready(best)
        with best.client(token=None) as client:
            assert client.get("/v2").json()["models"] == ["best-linear"]
            meta = client.get("/v2/models/best-linear").json()
            scores = _predict(client, "best-linear", ["A108D,N144D", "_wt"]).json()
    finally:
        best.process.terminate()
        best.process.wait(30)
    assert (meta["name"], meta["job_id"]) == ("best-linear", LINEAR)
    # the scores the README and docs/serve.md show for this model
    assert scores["predictions"] == pytest.approx([1.441918969154358, 1.8523513078689575], abs=1e-6)


# --------------------------------------------------------------------------------- the shutdown


def test_sigterm_lets_the_request_in_flight_finish(server: Server) -> None:
    """Last: stops the module's server. SIGTERM arrives while a request's body is still being
    sent; the request is answered in full, then the process ends and the port is closed."""
    body = json.dumps({"instances": ["A108D,N144D"] * MAX_INSTANCES}).encode()
    half_sent, signalled = threading.Event(), threading.Event()
    result: dict[str, httpx.Response] = {}

    def chunks() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        half_sent.set()
        signalled.wait(30)
        yield body[len(body) // 2 :]

    def slow_request() -> None:
        with server.client() as client:
            headers = {"Content-Type": "application/json"}
            url = f"/v1/models/{GCN}:predict?attention=true"
            result["response"] = client.post(url, content=chunks(), headers=headers)

    thread = threading.Thread(target=slow_request)
    thread.start()
    assert half_sent.wait(30)
    time.sleep(0.3)  # the headers and half the body have arrived
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # the server is shutting down, the request still open
    signalled.set()
    thread.join(120)
    response = result["response"]
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == MAX_INSTANCES
    assert server.process.wait(60) == -signal.SIGTERM  # uvicorn re-raises it once done
    with pytest.raises(httpx.TransportError), server.client() as client:
        client.get("/v2/health/live")
    log = server.log.read_text()
    assert "Shutting down" in log and "Application shutdown complete" in log
