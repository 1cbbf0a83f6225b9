"""The seeded cell sample: deterministic, distinct, in range, and the table's indices."""

from __future__ import annotations

import numpy as np
import pytest

from tfnas.genotypes.nb201 import all_nb201_genotypes
from tfnas.ranking import sample_cells, sample_indices


def test_deterministic_distinct_and_in_range():
    a = sample_indices(200, seed=0)
    assert np.array_equal(a, sample_indices(200, seed=0))
    assert len(set(a.tolist())) == 200
    assert a.min() >= 0 and a.max() < 15625
    assert not np.array_equal(a, sample_indices(200, seed=1))
    # numpy's Generator(seed), so anyone can draw the same sample without tfnas.
    assert np.array_equal(a, np.random.default_rng(0).choice(15625, size=200, replace=False))
    assert len(set(sample_indices(15625, seed=3).tolist())) == 15625


def test_cells_are_the_table_order_genotypes():
    everything = all_nb201_genotypes()
    indices = sample_indices(6, seed=2)
    assert sample_cells(6, seed=2) == [everything[i] for i in indices]


@pytest.mark.parametrize("num_cells", [0, -1, 15626, 2.5, True])
def test_num_cells_out_of_range(num_cells):
    with pytest.raises(ValueError, match="num_cells"):
        sample_indices(num_cells, seed=0)


def test_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        sample_indices(3, seed=-1)
