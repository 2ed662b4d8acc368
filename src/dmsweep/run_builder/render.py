"""Render the run folder's text files from the Jinja2 templates in the repository's `templates/`.

Undefined names are errors (StrictUndefined), so a template and the code that fills it cannot
drift apart silently. `$DMSWEEP_TEMPLATES` points at another templates folder.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from dmsweep.errors import DmsweepError

ENV_TEMPLATES = "DMSWEEP_TEMPLATES"
_REPO_TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


def templates_dir() -> Path:
    folder = Path(os.environ.get(ENV_TEMPLATES) or _REPO_TEMPLATES)
    if not (folder / "sweep.sub.j2").is_file():
        raise DmsweepError(
            f"templates not found in {folder}: run from a checkout of dmsweep (pip install -e .) "
            f"or set {ENV_TEMPLATES} to its templates/ folder"
        )
    return folder


@cache
def _environment(folder: Path) -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(name: str, **context: Any) -> str:
    """The template `name` (e.g. "sweep.sub.j2") filled with `context`."""
    import jinja2

    try:
        return _environment(templates_dir()).get_template(name).render(**context)
    except jinja2.UndefinedError as err:
        raise DmsweepError(f"template {name}: {err.message}") from None
