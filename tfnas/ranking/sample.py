"""The fixed, seeded sample of NAS-Bench-201 cells every ranking benchmark scores.

`sample_indices(num_cells, seed)` draws distinct table indices with
`numpy.random.Generator(PCG64(seed))`, so every scorer given the same seed and size rates
the same cells in the same order; `sample_cells` returns them as genotypes.

Example:
>>> sample_indices(5, seed=0).tolist() == sample_indices(5, seed=0).tolist()
True
>>> len(set(sample_indices(200, seed=0).tolist()))
200
"""

from __future__ import annotations

import numpy as np

from tfnas.genotypes.nb201 import NB201Genotype, all_nb201_genotypes
from tfnas.spaces import nb201 as nb201_space

#: Cells a ranking benchmark scores by default (as in the zero-cost proxy papers' subsets).
DEFAULT_NUM_CELLS = 200


def sample_indices(num_cells: int = DEFAULT_NUM_CELLS, seed: int = 0) -> np.ndarray:
    """Draws `num_cells` distinct NAS-Bench-201 table indices, reproducibly.

    Args:
        num_cells: Cells to draw, in `[1, 15625]`.
        seed: Seed of `numpy.random.default_rng` (a PCG64 `Generator`).

    Returns:
        An int64 array of distinct indices in `[0, 15625)`, in draw order.

    Raises:
        ValueError: if `num_cells` is out of range or not an integer, or `seed` is not an
            integer >= 0.

    Example:
    >>> sample_indices(3, seed=1).shape
    (3,)
    """
    if isinstance(num_cells, bool) or not isinstance(num_cells, (int, np.integer)):
        raise ValueError(f"num_cells must be an integer. Received: num_cells={num_cells!r}")
    if not 1 <= num_cells <= nb201_space.NUM_CELLS:
        raise ValueError(
            f"num_cells must be in [1, {nb201_space.NUM_CELLS}] (the NAS-Bench-201 cells). "
            f"Received: num_cells={num_cells}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0. Received: seed={seed!r}")
    rng = np.random.default_rng(int(seed))
    return rng.choice(nb201_space.NUM_CELLS, size=int(num_cells), replace=False).astype(np.int64)


def sample_cells(num_cells: int = DEFAULT_NUM_CELLS, seed: int = 0) -> list[NB201Genotype]:
    """Returns the genotypes of `sample_indices(num_cells, seed)`, in the same order.

    Example:
    >>> sample_cells(2, seed=0)[0].space
    'nb201'
    """
    cells = all_nb201_genotypes()
    return [cells[i] for i in sample_indices(num_cells, seed)]
