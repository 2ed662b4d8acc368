"""The FastAPI application: routes, error bodies, and the model loading behind readiness.

`create_app(settings)` checks every job folder at once (a folder that cannot predict stops
the server before it binds), then loads the models in a background thread while
`/v2/health/live` already answers; `/v2/health/ready` turns 200 once every model is loaded
and has made one warm-up prediction. Every error is one JSON line `{"error": ...}` (with the
instance index for a bad variant), never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dmsweep._cli import one_line
from dmsweep.serve import schemas
from dmsweep.serve.batching import MicroBatcher
from dmsweep.serve.guard import Guard
from dmsweep.serve.models import InvalidInstance, ModelSource, ServedModel
from dmsweep.serve.settings import SETTINGS_ENV, ServeSettings

LOG = logging.getLogger("dmsweep.serve")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorBody, "description": what}
    for code, what in [
        (400, "malformed JSON"),
        (401, "missing or wrong bearer token"),
        (404, "unknown model"),
        (413, "too many instances, or a body over the size limit"),
        (422, "an invalid instance or request field"),
        (503, "the models are still loading"),
    ]
}


ATTENTION = Query(False, description="add per-residue attention (attention-pooling GCNs)")


class ApiError(Exception):
    """An expected failure of a request: its HTTP status and one-line message."""

    def __init__(self, status: int, message: str, instance: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.instance = instance


@dataclass
class ServerState:
    """The models and their batchers; `ready` once all are loaded and warmed up."""

    settings: ServeSettings
    models: dict[str, ServedModel]
    scorers: dict[str, MicroBatcher] = field(default_factory=dict)
    explainers: dict[str, MicroBatcher] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)
    failed: str | None = None

    def lookup(self, name: str) -> ServedModel:
        """The model called `name` (its metadata is there before it has loaded), or 404."""
        if name not in self.models:
            known = ", ".join(self.models)
            raise ApiError(404, f"unknown model {name!r} (served: {known})")
        return self.models[name]

    def model(self, name: str) -> ServedModel:
        """The model called `name`, ready to predict: 404 if unknown, 503 while loading."""
        model = self.lookup(name)
        if not self.ready.is_set():
            raise ApiError(503, f"model {name!r} is still loading; see /v2/health/ready")
        return model


def create_app(settings: ServeSettings, *, on_fatal: Callable[[], None] | None = None) -> FastAPI:
    """The app for `settings`; JobFolderError (one line) when a folder cannot predict."""
    data_dir = Path(settings.data_dir) if settings.data_dir else None
    models = {
        name: ServedModel(ModelSource(name, Path(folder)), data_dir=data_dir)
        for name, folder in zip(settings.names, settings.folders, strict=True)
    }
    state = ServerState(settings, models)
    log_to_stderr()
    fatal = on_fatal or _terminate

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=_load, args=(state, fatal), name="load", daemon=True).start()
        yield
        for batcher in [*state.scorers.values(), *state.explainers.values()]:
            batcher.close()

    app = FastAPI(
        title="dmsweep serve",
        version=_version(),
        description="Scores of protein variants from models trained by dmsweep.",
        lifespan=lifespan,
    )
    app.state.serve = state
    app.add_middleware(Guard, token=settings.token, max_body_bytes=settings.max_body_bytes)
    _add_error_handlers(app)
    _add_routes(app, state)
    return app


def log_to_stderr() -> None:
    """dmsweep.serve lines (ready, errors) and the JSON access log on stderr, one a line
    (in each worker process too: a worker is a fresh interpreter)."""
    logger = logging.getLogger("dmsweep.serve")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def app_from_environment() -> FastAPI:
    """The app of a uvicorn worker process (`--workers N`): settings from $SETTINGS_ENV."""
    return create_app(ServeSettings.from_json(os.environ[SETTINGS_ENV]))


def _terminate() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown


def _load(state: ServerState, fatal: Callable[[], None]) -> None:
    """Load and warm up every model; a failure is one log line and the server stops."""
    size = state.settings.batch_size
    try:
        for name, model in state.models.items():
            model.load()
            state.scorers[name] = MicroBatcher(model.scores, batch_size=size, name=name)
            if model.info.attention:
                state.explainers[name] = MicroBatcher(model.attention, batch_size=size, name=name)
    except Exception as err:
        state.failed = one_line(err)
        LOG.error("dmsweep serve: error: cannot load the models: %s", state.failed)
        fatal()
        return
    state.ready.set()
    where = f"http://{state.settings.host}:{state.settings.port}"
    LOG.info("dmsweep serve: ready: %s on %s", ", ".join(state.models), where)


def _version() -> str:
    import dmsweep

    return str(dmsweep.__version__)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, err: ApiError) -> JSONResponse:
        return _error(err.status, str(err), err.instance)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        response = _error(err.status_code, str(err.detail))
        response.headers.update(err.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        return _validation_error(err.errors())


def _error(status: int, message: str, instance: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": " ".join(message.split())}
    if instance is not None:
        body["instance"] = instance
    return JSONResponse(body, status_code=status)


def _validation_error(errors: Sequence[Any]) -> JSONResponse:
    """pydantic's first error as one line: 400 for malformed JSON, else 422 naming the field
    (and the instance index when one instance is not a string)."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return _error(400, f"malformed JSON: {first.get('msg', '')}")
    where = ".".join(loc) or "body"
    instance = None
    raw = list(first.get("loc", ()))
    if len(raw) >= 3 and raw[1] == "instances" and isinstance(raw[2], int):
        instance = raw[2]
    elif len(raw) >= 5 and raw[1] == "inputs" and raw[3] == "data" and isinstance(raw[4], int):
        instance = raw[4]
    message = f"{where}: {first.get('msg', 'invalid')}"
    if not loc:
        message += " (send a JSON object with Content-Type: application/json)"
    return _error(422, message, instance)


def _add_routes(app: FastAPI, state: ServerState) -> None:
    @app.get("/v2/health/live", response_model=schemas.Live, responses=ERRORS)
    async def live() -> schemas.Live:
        return schemas.Live(live=True)

    @app.get("/v2/health/ready", response_model=schemas.Ready, responses=ERRORS)
    async def ready() -> Any:
        models = {name: state.ready.is_set() for name in state.models}
        body = schemas.Ready(ready=state.ready.is_set(), models=models)
        return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)

    @app.get("/v2", response_model=schemas.ServerMetadata, responses=ERRORS)
    async def server() -> schemas.ServerMetadata:
        return schemas.ServerMetadata(
            name="dmsweep", version=_version(), extensions=[], models=list(state.models)
        )

    @app.get("/v2/models/{name}", response_model=schemas.ModelMetadata, responses=ERRORS)
    async def metadata(name: str) -> schemas.ModelMetadata:
        return _metadata(state.lookup(name))

    @app.post("/v1/models/{name}:predict", response_model=schemas.PredictResponse, responses=ERRORS)
    async def predict(
        name: str,
        body: schemas.PredictRequest,
        attention: bool = ATTENTION,
    ) -> schemas.PredictResponse:
        explain = _attention(attention, body.parameters)
        scores, weights = await _score(state, name, body.instances, explain)
        if weights is None:
            return schemas.PredictResponse(predictions=_floats(scores))
        rows = [
            schemas.ScoredInstance(score=s, attention=w.tolist())
            for s, w in zip(_floats(scores), weights, strict=True)
        ]
        return schemas.PredictResponse(predictions=rows)

    @app.post("/v2/models/{name}/infer", response_model=schemas.InferResponse, responses=ERRORS)
    async def infer(
        name: str,
        body: schemas.InferRequest,
        attention: bool = ATTENTION,
    ) -> schemas.InferResponse:
        model = state.model(name)
        instances = _infer_instances(model, body)
        scores, weights = await _score(
            state, name, instances, _attention(attention, body.parameters)
        )
        outputs = [_tensor(model.task.output_name, scores)]
        if weights is not None:
            outputs.append(_tensor("attention", weights))
        if body.outputs is not None:  # only those asked for, in the protocol's way
            wanted = {o.name for o in body.outputs}
            outputs = [o for o in outputs if o.name in wanted]
        return schemas.InferResponse(model_name=name, id=body.id, outputs=outputs)


async def _score(
    state: ServerState, name: str, instances: Sequence[str], attention: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate, then score through the model's batcher (and its attention, if asked)."""
    model = state.model(name)
    limit = state.settings.max_instances
    if len(instances) > limit:
        raise ApiError(413, f"{len(instances)} instances: at most {limit} per request")
    if attention and not model.info.attention:
        raise ApiError(
            422,
            f"model {name!r}: attention needs a gcn trained with pooling: attention "
            f"(this model: {model.info.model_type})",
        )
    try:
        codes = model.task.parse(instances)
    except InvalidInstance as err:
        raise ApiError(422, str(err), err.index) from None
    scores = asyncio.wrap_future(state.scorers[name].submit(codes))
    if not attention:
        return await scores, None
    weights = asyncio.wrap_future(state.explainers[name].submit(codes))
    return await scores, await weights


def _attention(query: bool, parameters: schemas.Parameters | None) -> bool:
    """Attention was asked for: `?attention=true`, or `"parameters": {"attention": true}`."""
    return query or bool(parameters and parameters.attention)


def _infer_instances(model: ServedModel, body: schemas.InferRequest) -> list[str]:
    """The one input tensor of an inference request, checked against the model's input."""
    expected = model.task.input_name
    if len(body.inputs) != 1 or body.inputs[0].name != expected:
        names = [i.name for i in body.inputs]
        raise ApiError(422, f"inputs: expected one input named {expected!r}, got {names}")
    tensor = body.inputs[0]
    if tensor.datatype != "BYTES":
        raise ApiError(422, f"inputs.0.datatype: expected 'BYTES', got {tensor.datatype!r}")
    if tensor.shape != [len(tensor.data)]:
        raise ApiError(
            422,
            f"inputs.0.shape: expected [{len(tensor.data)}] (the data's length), got "
            f"{tensor.shape}",
        )
    if body.outputs is not None:
        known = {model.task.output_name, "attention"}
        unknown = [o.name for o in body.outputs if o.name not in known]
        if unknown:
            raise ApiError(422, f"outputs: unknown output(s) {unknown} (known: {sorted(known)})")
    return tensor.data


def _floats(values: np.ndarray) -> list[float | None]:
    """float32 to Python floats for JSON (which has no NaN: a non-finite score is null)."""
    return [v if math.isfinite(v) else None for v in values.reshape(-1).tolist()]


def _tensor(name: str, values: np.ndarray) -> schemas.InferOutput:
    """An FP32 output tensor: its shape and the values flattened row-major."""
    return schemas.InferOutput(
        name=name, datatype="FP32", shape=list(values.shape), data=_floats(values)
    )


def _metadata(model: ServedModel) -> schemas.ModelMetadata:
    info = model.info
    return schemas.ModelMetadata(
        name=info.name,
        versions=["1"],
        platform="tensorflow_keras",
        inputs=[schemas.TensorMetadata(name=model.task.input_name, datatype="BYTES", shape=[-1])],
        outputs=[schemas.TensorMetadata(name=model.task.output_name, datatype="FP32", shape=[-1])],
        job_id=info.job_id,
        model_type=info.model_type,
        task=info.task,
        dataset=info.dataset,
        wild_type=info.wild_type,
        offset=info.offset,
        attention=info.attention,
        test_metrics=dict(info.test_metrics),
        provenance=schemas.Provenance(
            dmsweep_version=info.dmsweep_version,
            git_commit=info.git_commit,
            data_files=dict(info.data_files),
        ),
    )
