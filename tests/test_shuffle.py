"""One epoch order for both pipelines (dmsweep.data.shuffle): the variant table's in-memory
batches and a protein set's streamed shuffle buffer visit a split that fits in the buffer in
the same order, a new one every epoch, from the job seed."""

from __future__ import annotations

import numpy as np

from dmsweep.data.shuffle import epoch_order, epoch_rng
from dmsweep.db.stream import shuffled_records


def test_a_split_that_fits_the_buffer_streams_in_the_in_memory_order():
    for seed, epoch in ((0, 0), (0, 1), (7, 3)):
        streamed = list(shuffled_records(iter(range(300)), buffer=4096, rng=epoch_rng(seed, epoch)))
        assert streamed == epoch_order(300, seed, epoch).tolist()


def test_each_epoch_has_its_own_order_and_a_seed_repeats_it():
    assert not np.array_equal(epoch_order(300, 0, 0), epoch_order(300, 0, 1))
    assert not np.array_equal(epoch_order(300, 0, 0), epoch_order(300, 1, 0))
    assert np.array_equal(epoch_order(300, 5, 2), epoch_order(300, 5, 2))


def test_in_memory_batches_follow_the_epoch_order():
    from dmsweep.train.job import train_batches

    features = np.arange(70, dtype=np.int8).reshape(70, 1)
    scores = np.arange(70, dtype=np.float32)
    batches = train_batches(features, scores, batch_size=32, seed=3)
    assert int(batches.cardinality()) == 3  # known: Keras needs it with steps_per_execution
    for epoch in range(3):
        seen = [(f.numpy()[:, 0], s.numpy()) for f, s in batches]
        assert [len(s) for _, s in seen] == [32, 32, 6]
        order = epoch_order(70, 3, epoch)
        assert np.array_equal(np.concatenate([s for _, s in seen]), order)
        assert np.array_equal(np.concatenate([f for f, _ in seen]), order)
