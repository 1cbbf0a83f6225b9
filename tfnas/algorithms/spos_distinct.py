"""SPOS over distinct cells: each step's path drawn uniformly from the non-isomorphic NB201 cells.

Ning et al., Evaluating Efficient Performance Estimators of Neural Architectures, arXiv
2008.03064: of NAS-Bench-201's 15,625 op encodings, many compute the same graph (an edge fed
by a zero node, or ops that only relabel nodes), and uniform sampling over encodings trains
the shared weights on those graphs as often as they have encodings. Sampling each distinct
cell with equal probability ("de-isomorphic sampling") is one of the remedies the paper finds
to improve a one-shot supernet's ranking.

Here: the 6,466 classes of the benchmark's own isomorphism key
(`NB201Genotype.unique_str`, NAS-Bench-201's `UniqueString`), each represented by its
encoding of lowest table index; before each step one class is drawn uniformly (the
supernet's checkpointed seed generator) and its representative becomes the path
(`tfnas.algorithms.spos.HeldPathSpos`). Everything else is SPOS.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from tfnas.algorithms.base import ALGORITHMS
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.spos import HeldPathSpos


@functools.cache
def distinct_cell_paths() -> np.ndarray:
    """`[6466, 6]` op indices (NB201 `OPS` order): one encoding per `unique_str` class, the one
    of lowest table index, in table order.

    Example:
    >>> distinct_cell_paths().shape
    (6466, 6)
    """
    from tfnas.genotypes.nb201 import all_nb201_genotypes
    from tfnas.spaces import nb201 as nb201_space

    seen: set[str] = set()
    rows = []
    for cell in all_nb201_genotypes():
        key = cell.unique_str()
        if key not in seen:
            seen.add(key)
            rows.append([nb201_space.OPS.index(op) for op in cell.ops])
    return np.asarray(rows, dtype=np.int32)


@ALGORITHMS.register("spos_distinct")
class SposDistinct(HeldPathSpos):
    """SPOS whose paths are drawn uniformly over distinct (non-isomorphic) NB201 cells.

    References:
        Ning et al., Evaluating Efficient Performance Estimators of Neural Architectures,
        arXiv 2008.03064 (de-isomorphic sampling); Guo et al., SPOS, arXiv 1904.00420.

    Raises:
        ValueError: for a supernet that is not in the NB201 space.

    Example:
    >>> SposDistinct.default_config().epochs
    50
    """

    algorithm_name: ClassVar[str] = "spos_distinct"

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        from tfnas.spaces import nb201 as nb201_space

        if tuple(getattr(supernet, "op_names", ())) != tuple(nb201_space.OPS) or len(supernet.cell_kinds) != 1:
            raise ValueError(f"spos_distinct samples NB201 cells; the supernet is {type(supernet).__name__}.")
        super().__init__(supernet, config, **kwargs)

    def first_paths(self, rng: np.random.Generator) -> list[np.ndarray]:
        classes = distinct_cell_paths()
        return [classes[rng.integers(len(classes))]]

    def next_paths(self) -> list[Any]:
        classes = distinct_cell_paths()
        pick = keras.random.randint((), 0, len(classes), seed=self.supernet.seed_generator, dtype="int32")
        return [ops.take(ops.convert_to_tensor(classes), pick, axis=0)]
