"""One step of every algorithm on the real supernets (`tfnas.supernets.build_supernet`), tiny sizes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas.algorithms import ALGORITHMS, build_search

# ROME samples two inputs per node, which the NB201 space (every edge kept) does not have.
CASES = [("darts", "nb201"), ("darts2", "nb201"), ("darts_minus", "nb201"), ("pc_darts", "nb201"),
         ("gdas", "nb201"), ("gdas_reference", "darts"), ("rome", "darts"), ("darts", "darts")]


@pytest.mark.slow
@pytest.mark.parametrize("name, space", CASES)
def test_one_step_on_real_supernet(name, space):
    cls = ALGORITHMS.get(name)
    config = cls.default_config().replace(
        channels=8 if name == "pc_darts" else 4, layers=1 if space == "nb201" else 3,
        num_samples=2, arch_warmup_epochs=0, batch_size=4,
    )
    search = build_search(config, space, 10, (8, 8, 3), steps_per_epoch=1)
    rng = np.random.default_rng(0)
    data = tuple((rng.normal(size=(4, 8, 8, 3)).astype("float32"), rng.integers(0, 10, 4).astype("int32"))
                 for _ in range(2))
    arch0 = [np.array(v) for v in search.supernet.arch_variables]
    weights0 = [np.array(v) for v in search.supernet.weight_variables]
    history = search.fit(tf.data.Dataset.from_tensors(data).repeat(), epochs=1, steps_per_epoch=1, verbose=0,
                         callbacks=search.callbacks())
    assert all(not np.array_equal(a, np.array(v)) for a, v in zip(arch0, search.supernet.arch_variables))
    assert any(not np.array_equal(w, np.array(v)) for w, v in zip(weights0, search.supernet.weight_variables))
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["val_loss"][0])
    assert search.export().space == space
