"""Results -> summary.csv/.parquet, failures.csv, best.csv, plots and report.html.

    from dmsweep.aggregate import aggregate
    result = aggregate(Path("runs/gfp_main"))          # a run folder or a results folder
    print(result.completeness, result.out)

Never imports TensorFlow. See docs/aggregate.md.
"""

from __future__ import annotations

from dmsweep.aggregate.pipeline import AggregateResult, aggregate, default_output

__all__ = ["AggregateResult", "aggregate", "default_output"]
