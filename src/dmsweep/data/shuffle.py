"""The order in which a training epoch visits its examples: one rule for a variant table held
in memory and for a protein set streamed from a document store.

Epoch `e` of a job with seed `s` draws from NumPy's `default_rng([s, e])` (PCG64, whose
streams NumPy keeps stable across versions, unlike tf.data's shuffle). Held in memory, the
order is that generator's permutation of the training rows; streamed, the same generator
drives a bounded shuffle buffer (`dmsweep.db.stream.shuffled_records`), and a training split
that fits in the buffer is visited in exactly the in-memory order. So the same variants, in
the same row order, give the same batches either way (docs/train.md, "avGFP variants as
protein documents").
"""

from __future__ import annotations

import numpy as np


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of one epoch's order (a new order every epoch, from the job seed)."""
    return np.random.default_rng([seed, epoch])


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """int64 positions 0..n-1 in the order epoch `epoch` visits them."""
    return epoch_rng(seed, epoch).permutation(n)
