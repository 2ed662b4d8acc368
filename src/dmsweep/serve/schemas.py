"""The request and response bodies of the API (pydantic), hence its OpenAPI document.

Two conventional forms: TensorFlow Serving's `POST /v1/models/{name}:predict` with
`{"instances": [...]}`, and the Open Inference Protocol (KServe v2) for health, metadata and
`POST /v2/models/{name}/infer`. Unknown fields are refused (a misspelt `parameters` key is a
422, not silently ignored).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every error: one line; `instance` is the 0-based index of the instance at fault."""

    error: str
    instance: int | None = None


class Parameters(BaseModel):
    model_config = STRICT
    attention: bool = Field(False, description="add per-residue attention (attention GCNs)")


class PredictRequest(BaseModel):
    model_config = STRICT
    instances: list[str] = Field(
        description="variants ('A108D,N144D', '_wt') or full mutant sequences"
    )
    parameters: Parameters | None = None


class ScoredInstance(BaseModel):
    score: float | None
    attention: list[float]


class PredictResponse(BaseModel):
    predictions: list[float | None] | list[ScoredInstance] = Field(
        description="one score per instance (null if not a finite number); objects with "
        "score and attention when attention was asked for"
    )


class InferInput(BaseModel):
    model_config = STRICT
    name: str
    datatype: str
    shape: list[int]
    data: list[str]
    parameters: dict[str, str | int | float | bool] | None = None


class RequestedOutput(BaseModel):
    model_config = STRICT
    name: str
    parameters: dict[str, str | int | float | bool] | None = None


class InferRequest(BaseModel):
    model_config = STRICT
    id: str | None = None
    inputs: list[InferInput]
    outputs: list[RequestedOutput] | None = None
    parameters: Parameters | None = None


class InferOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[float | None]


class InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    outputs: list[InferOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class Provenance(BaseModel):
    dmsweep_version: str | None
    git_commit: str | None
    data_files: dict[str, str] = Field(description="data file -> 'sha256:<hex>' it trained on")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    job_id: str
    model_type: str
    task: str
    dataset: str
    wild_type: str
    offset: int = Field(description="the position of the wild type's first residue")
    attention: bool
    test_metrics: dict[str, float | int | None]
    provenance: Provenance


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]
    models: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool
    models: dict[str, bool]
