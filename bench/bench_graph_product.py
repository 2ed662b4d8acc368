"""The GCN's graph product alone: (L, L) sparse adjacency by (L, batch * F) features, forward
and gradient, as `SharedGraphConv.aggregate` runs it (L 237, batch 32, F 128, 5% non-zero).
Three ways in the same run: `tf.sparse.sparse_dense_matmul`, TF's CSR kernel (what the layer
uses) and a dense matmul. Run it with each TensorFlow to compare stacks.

    .venv/bin/python bench/bench_graph_product.py [--steps 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from dmsweep._tf import csr_matmul, tf  # first: Keras 2, quiet start-up

# isort: split
import numpy as np

L, BATCH, FEATURES, DENSITY = 237, 32, 128, 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    steps = parser.parse_args().steps
    rng = np.random.default_rng(0)
    adjacency = tf.constant((rng.random((L, L)) < DENSITY).astype(np.float32))
    sparse = tf.sparse.from_dense(adjacency)
    x = tf.Variable(rng.standard_normal((L, BATCH * FEATURES)).astype(np.float32))
    ways: dict[str, Callable[[], tf.Tensor]] = {
        "sparse_dense_matmul": lambda: tf.sparse.sparse_dense_matmul(sparse, x),
        "csr (the layer's)": lambda: csr_matmul(sparse, x),
        "dense matmul": lambda: tf.matmul(adjacency, x),
    }
    print(f"TensorFlow {tf.__version__}; ms per forward + gradient, {steps} steps")
    for name, product in ways.items():
        step = _step(product, x)
        step()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{name:<22} {wall / steps * 1e3:7.2f} ms wall {cpu / steps * 1e3:7.2f} ms CPU")


def _step(product: Callable[[], tf.Tensor], x: tf.Variable) -> Callable[[], tf.Tensor]:
    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            y = product()
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, x)

    return step


if __name__ == "__main__":
    main()
