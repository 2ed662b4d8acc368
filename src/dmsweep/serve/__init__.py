"""`dmsweep serve`: trained models behind an HTTP endpoint (docs/serve.md).

    settings.py  what the command was asked for (ServeSettings), checked without FastAPI
    models.py    which job folders a TARGET names (best.csv); ServedModel and its Task
    batching.py  the micro-batcher: concurrent requests share one model call
    schemas.py   request and response bodies (the OpenAPI document)
    guard.py     token, body size limit, access log, no traceback to clients
    app.py       the FastAPI routes; server.py: uvicorn, signals, exit status

The job's side: it imports `dmsweep.train.predict`, `dmsweep.data` and the core, and nothing
outside this package imports it but `dmsweep.cli` (lazily, so `dmsweep --help` stays
instant). Importing this package imports neither FastAPI nor TensorFlow.
"""

from __future__ import annotations
