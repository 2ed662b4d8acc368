"""Random and quasi-random (Sobol) points over the ranges of a `samples` section.

A point set is a pure function of (method, n, seed, ranges in spec order): unit-cube points
come from `numpy.random.default_rng(seed).random((n, d))` (method `random`) or from
`scipy.stats.qmc.Sobol(d, scramble=True, rng=numpy.random.default_rng(seed)).random(n)`
(method `sobol`); each coordinate u in [0, 1) is then mapped onto its range:

- float: low + u (high - low), or on a log scale exp(log low + u (log high - log low));
  rounded to 6 significant digits so that configs and job ids stay readable
- integer keys: floor over [low, high + 1) (both bounds included), log scale likewise
- choices: choices[floor(u * len(choices))]
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dmsweep.run_builder.spec import Range, Samples

SIGNIFICANT_DIGITS = 6


def unit_points(method: str, n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if method == "random":
        return rng.random((n, d))
    from scipy.stats import qmc

    sampler = qmc.Sobol(d, scramble=True, rng=rng)
    with warnings.catch_warnings():
        # n that is not a power of 2 loses some balance; documented, not an error.
        warnings.simplefilter("ignore", UserWarning)
        return sampler.random(n)


def draw(samples: Samples) -> tuple[dict[str, Any], ...]:
    keys = list(samples.ranges)
    unit = unit_points(samples.method, samples.n, len(keys), samples.seed)
    return tuple(
        {key: map_unit(samples.ranges[key], float(u)) for key, u in zip(keys, row, strict=True)}
        for row in unit
    )


def map_unit(r: Range, u: float) -> Any:
    if r.choices is not None:
        return r.choices[min(int(u * len(r.choices)), len(r.choices) - 1)]
    assert r.low is not None and r.high is not None
    if r.integer:
        low, high = float(r.low), float(r.high) + 1.0
        if r.log:
            value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        else:
            value = low + u * (high - low)
        return int(min(max(math.floor(value), r.low), r.high))
    if r.log:
        value = math.exp(math.log(r.low) + u * (math.log(r.high) - math.log(r.low)))
    else:
        value = r.low + u * (r.high - r.low)
    value = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return min(max(value, r.low), r.high)
