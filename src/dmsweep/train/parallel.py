"""Data-parallel training: a job granted several GPUs trains under MirroredStrategy.

One replica per granted, visible GPU; `batch_size` is per device, so the global batch is
`batch_size x replicas`, and the learning rate is as given (`lr_scaling: none`, the default)
or multiplied by the replicas (`linear`). One GPU or the CPU: no strategy at all (no
overhead, the same code path as before). Every model type runs under the strategy (the GCN's
shared adjacency is a weight, not a per-sample sparse input, which is what fails there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dmsweep._tf import tf
from dmsweep.config import TrainConfig
from dmsweep.train.devices import DeviceRecord


@dataclass(frozen=True)
class Parallel:
    """The strategy of a training (None: one device) and what it changes."""

    strategy: Any = None
    replicas: int = 1

    @classmethod
    def over(cls, devices: Sequence[str]) -> Parallel:
        """MirroredStrategy across `devices` when there are two or more, else none."""
        if len(devices) < 2:
            return cls()
        return cls(tf.distribute.MirroredStrategy(list(devices)), len(devices))

    def global_batch(self, config: TrainConfig) -> int:
        return config.optim.batch_size * self.replicas

    def learning_rate(self, config: TrainConfig) -> float:
        factor = self.replicas if config.optim.lr_scaling == "linear" else 1
        return config.optim.learning_rate * factor

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        if self.strategy is None:
            yield
        else:
            with self.strategy.scope():
                yield

    def provenance(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "strategy": type(self.strategy).__name__ if self.strategy else None,
        }


def replica_devices(device: DeviceRecord) -> list[str]:
    """The GPUs to mirror across (`DeviceRecord.replicas` of them)."""
    return [f"/gpu:{i}" for i in range(device.replicas)]
