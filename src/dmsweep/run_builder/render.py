"""Render the run folder's text files from the Jinja2 templates shipped in the package
(`dmsweep/run_builder/templates/`, package data: a wheel or a plain `pip install .` has them).

Undefined names are errors (StrictUndefined), so a template and the code that fills it cannot
drift apart silently. Every `{{ value }}` must go through the escaping filter of the template's
language (`| submit` in `*.sub.j2`, `| sh` in `*.sh.j2`, `| md` in `*.md.j2`; see escaping.py);
anything else (a plain string, another language's filter) is refused when rendering, so no
value can add a line or a command. `$DMSWEEP_TEMPLATES` points at another templates folder.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from dmsweep.errors import DmsweepError
from dmsweep.run_builder.escaping import FILTER_LANGUAGES, FILTERS, LANGUAGE_OF_SUFFIX, Escaped

ENV_TEMPLATES = "DMSWEEP_TEMPLATES"
PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "templates"


def templates_dir() -> Path:
    folder = Path(os.environ.get(ENV_TEMPLATES) or PACKAGED_TEMPLATES)
    if not (folder / "sweep.sub.j2").is_file():
        source = f"${ENV_TEMPLATES}" if os.environ.get(ENV_TEMPLATES) else "the installed package"
        raise DmsweepError(
            f"templates not found in {folder} ({source}): expected sweep.sub.j2 there; "
            f"reinstall dmsweep or point {ENV_TEMPLATES} at a copy of its templates folder"
        )
    return folder


@cache
def _environment(folder: Path) -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=jinja2.pass_context(_only_escaped),
    )
    environment.filters.update(FILTERS)
    return environment


def _bytecode_cache() -> Any:
    """Compiled templates kept in dmsweep's cache (`templates/` beside `envs/` and `data/`), as
    Python keeps `.pyc` files: compiling the three templates was a fifth of a build. Jinja2
    checks each entry against the template source's checksum, so an edited template is
    compiled again. A cache entry is code that runs, so the folder must be the user's own and
    closed to group and others (a shared $DMSWEEP_CACHE_DIR is not): else, and when the folder
    cannot be created, None (no cache)."""
    import jinja2

    from dmsweep.data import default_cache_dir

    folder = default_cache_dir() / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


def _only_escaped(context: Any, value: Any) -> Any:
    """What `{{ ... }}` may output: text escaped for this template's language, or an int."""
    language = LANGUAGE_OF_SUFFIX.get(Path(str(context.name)).with_suffix("").suffix)
    if isinstance(value, Escaped) and value.language == language:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    wanted = next((name for name, lang in FILTER_LANGUAGES.items() if lang == language), "?")
    raise DmsweepError(
        f"template {context.name}: {str(value)[:60]!r} is output without its escaping filter "
        f"(use | {wanted})"
    )


def render(name: str, **context: Any) -> str:
    """The template `name` (e.g. "sweep.sub.j2") filled with `context`."""
    import jinja2

    try:
        return _environment(templates_dir()).get_template(name).render(**context)
    except jinja2.UndefinedError as err:
        raise DmsweepError(f"template {name}: {err.message}") from None
