"""Run the app under uvicorn: one process, or `--workers N` processes each with the models.

uvicorn handles SIGTERM and SIGINT gracefully: it stops accepting connections, lets
in-flight requests finish (up to GRACE seconds), runs the app's shutdown (the batchers
finish what is queued), then lets the signal end the process as it would have (a parent
that sent SIGTERM sees status -15). uvicorn's own access log is off: the app writes one
JSON line per request instead (dmsweep.serve.guard).
"""

from __future__ import annotations

import os

from dmsweep._cli import EXIT_ERROR, EXIT_OK
from dmsweep.serve.settings import SETTINGS_ENV, ServeSettings

GRACE = 30
"""Seconds in-flight requests get to finish after SIGTERM."""


def serve(settings: ServeSettings) -> int:
    """Serve until SIGTERM/SIGINT; exit status 0, or 2 when the models could not load or
    the port could not be bound (uvicorn has logged why)."""
    import uvicorn

    from dmsweep.serve.app import create_app

    holder: list[uvicorn.Server] = []

    def stop() -> None:  # the models could not load: stop serving, exit 2
        for running in holder:
            running.should_exit = True

    app = create_app(settings, on_fatal=stop)  # folders checked before binding (exit 2)
    common = {
        "host": settings.host,
        "port": settings.port,
        "access_log": False,
        "timeout_graceful_shutdown": GRACE,
        "log_level": "info",
    }
    try:
        if settings.workers == 1:
            holder.append(uvicorn.Server(uvicorn.Config(app, **common)))
            holder[0].run()
        else:
            os.environ[SETTINGS_ENV] = settings.to_json()
            uvicorn.run(
                "dmsweep.serve.app:app_from_environment",
                factory=True,
                workers=settings.workers,
                **common,
            )
    except SystemExit as exit_:  # uvicorn exits 1 when it cannot bind
        return EXIT_ERROR if exit_.code else EXIT_OK
    return EXIT_ERROR if app.state.serve.failed else EXIT_OK
