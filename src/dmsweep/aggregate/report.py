"""report.html: one self-contained page (plots embedded as PNG) that opens from the output folder.

Sections: completeness and warnings, outcomes per model type, the selected configuration of
each model type, the top configurations, the spread over replicates, resources, failures,
then every plot with its caption and a link to its SVG. Links to the CSV files and job
folders are relative, so the output folder can be copied next to its results and still work.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from dmsweep import __version__

if TYPE_CHECKING:
    from dmsweep.aggregate.plots import PlotFile

MAX_FAILURE_ROWS = 200
TOP_CONFIGURATIONS = 10
MAX_REPLICATE_ROWS = 100

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>dmsweep summary: {{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.complete { font-size: 1.2em; font-weight: bold; }
.warn { color: #8a4b00; } figure { margin: 1.5em 0; } img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; max-width: 900px; }
nav a { margin-right: 1em; }
</style></head><body>
<h1>dmsweep summary: {{ title }}</h1>
<p>Results: <code>{{ results }}</code>{% if run %} (run folder <code>{{ run }}</code>){% endif %}.
Generated {{ generated }} by dmsweep {{ version }}.
Selection metric: <b>{{ select_metric }}</b>; plotted metric: <b>{{ metric }}</b>.</p>
<p class="complete">{{ completeness }}</p>
<nav>{% for name in files %}<a href="{{ name }}">{{ name }}</a>{% endfor %}</nav>
{% if warnings %}<h2>Warnings</h2><ul class="warn">
{% for w in warnings %}<li>{{ w }}</li>{% endfor %}</ul>{% endif %}
<h2>Outcomes per model type</h2>{{ outcomes }}
<h2>Selected configuration of each model type</h2>
<p>Best mean {{ select_metric }} over seeds/resamples; the job is that configuration's best
replicate, the one to use.</p>{{ best }}
<h2>Top configurations</h2>{{ top }}
<h2 id="replicates">Replicates</h2>
<p>Per configuration (model type and design parameters; trainings that differ only in seed,
split seed or split replicate are its replicates): n, and mean and standard deviation of
every test metric (<a href="replicates.csv">replicates.csv</a>).</p>{{ replicates }}
<h2>Resources</h2>{{ resources }}
<h2>Failures</h2>{{ failure_counts }}{{ failures }}
<h2>Plots</h2>
{% for plot in plots %}<figure id="{{ plot.name }}"><h3>{{ plot.title }}</h3>
<img alt="{{ plot.title }}" src="data:image/png;base64,{{ plot.png }}">
<figcaption>{{ plot.caption }}{% if plot.svg %} <a href="{{ plot.svg }}">SVG</a>{% endif %}
</figcaption></figure>
{% else %}<p>No plots: no valid results, or plots were turned off.</p>{% endfor %}
</body></html>
"""


def write_report(
    path: Path,
    *,
    results: Path,
    run: Path | None,
    completeness: str,
    warnings: Sequence[str],
    outcomes: pd.DataFrame,
    best: pd.DataFrame,
    configurations: pd.DataFrame,
    replicates: pd.DataFrame,
    resources: pd.DataFrame,
    failures: pd.DataFrame,
    plots: Sequence[PlotFile],
    metric: str,
    select_metric: str,
    files: Sequence[str],
) -> Path:
    out = path.parent
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    failure_counts = failures["reason"].value_counts().rename_axis("reason").reset_index()
    shown = failures[["job_id", "reason", "detail", "model"]].head(MAX_FAILURE_ROWS)
    note = ""
    if len(failures) > MAX_FAILURE_ROWS:
        note = f"<p>First {MAX_FAILURE_ROWS} of {len(failures)}: see failures.csv.</p>"
    page = env.from_string(_TEMPLATE).render(
        title=str(run or results),
        results=results,
        run=run,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        metric=metric,
        select_metric=select_metric,
        completeness=completeness,
        warnings=warnings,
        files=files,
        outcomes=_table(outcomes),
        best=_table(_with_links(best, out)),
        top=_top(configurations),
        replicates=_table(_shown_replicates(replicates)),
        resources=_table(resources),
        failure_counts=_table(failure_counts) if len(failures) else Markup("<p>None.</p>"),
        failures=Markup(_table(shown) + note) if len(failures) else "",
        plots=[_embed(p, out) for p in plots],
    )
    path.write_text(page, encoding="utf-8")
    return path


def _embed(plot: PlotFile, out: Path) -> dict[str, str]:
    png = next((f for f in plot.files if f.suffix == ".png"), None)
    svg = next((f for f in plot.files if f.suffix == ".svg"), None)
    data = base64.b64encode(png.read_bytes()).decode("ascii") if png else ""
    return {
        "name": plot.name,
        "title": plot.title,
        "caption": plot.caption,
        "png": data,
        "svg": os.path.relpath(svg, out) if svg else "",
    }


def _with_links(best: pd.DataFrame, out: Path) -> pd.DataFrame:
    if "folder" not in best.columns:
        return best
    best = best.copy()
    best["folder"] = [os.path.relpath(f, out) for f in best["folder"]]
    return best


def _top(configurations: pd.DataFrame) -> Markup:
    if configurations.empty:
        return Markup("<p>No valid results yet.</p>")
    parts = []
    for model, group in configurations.groupby("model", sort=True):
        swept = [c for c in group.columns if group[c].nunique(dropna=True) > 1]
        keep = [c for c in group.columns if c in swept or c.endswith(("_mean", "_sd"))]
        head = ["job_id", "n_replicates"]
        columns = head + [c for c in keep if c not in head and c != "config"]
        parts.append(f"<h3>{html.escape(str(model))}</h3>")
        parts.append(_table(group[columns].head(TOP_CONFIGURATIONS)))
    return Markup("".join(parts))


def _shown_replicates(replicates: pd.DataFrame) -> pd.DataFrame:
    """The report's view of replicates.csv: the configurations with two or more replicates
    (all of them when none has), the first MAX_REPLICATE_ROWS."""
    several = replicates[replicates["n"] > 1] if "n" in replicates.columns else replicates
    return (several if len(several) else replicates).head(MAX_REPLICATE_ROWS)


def _table(df: pd.DataFrame) -> Markup:
    if df is None or df.empty:
        return Markup("<p>None.</p>")
    df = df.copy()
    for column in df.columns:  # nullable integers print <NA>, whatever na_rep says
        if not isinstance(df[column].dtype, np.dtype):
            df[column] = df[column].astype(object).where(df[column].notna(), "")
    text = df.to_html(index=False, escape=True, na_rep="", float_format=lambda v: f"{v:.4g}")
    return Markup(text)
