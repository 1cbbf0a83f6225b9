"""MAGIC-T: single-path supernet training whose adjacent paths differ in one operator.

Xu et al., Analyzing and Mitigating Interference in Neural Architecture Search, arXiv
2108.12821 (ICML 2022). The paper measures that the interference on a shared operator
between two child models (the disagreement of its gradients from the two) grows with the
number of operators in which the children differ, and proposes MAGIC-T: instead of drawing
every step's path independently (SPOS), modify one operator of the previous step's path, so
that consecutive updates of every shared operator come from children one operator apart.

Here: the SPOS sampling supernet and weight step (`tfnas.algorithms.spos`), with the path
held in the architecture logits themselves (`alpha = 1e4 * one_hot(path)`: the Gumbel-max
sample of the supernet is then exactly the path, and the straight-through weight of the
sampled op is exactly 1). The first path is uniform (seeded by `config.seed`); before each
step one edge is drawn uniformly over all edges of all cell kinds and its op is replaced by
one of the other ops, uniformly. Because the path lives in the architecture variables it is
saved in every checkpoint, and the draws use the supernet's checkpointed seed generator, so a
resumed run continues the same walk.

What is not reproduced: the paper's search spaces are BERT and MobileNet-like layer spaces
with its own training budget; MAGIC-A (aligning each shared operator's inputs and outputs to
an anchor child) is not part of this class.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from tfnas.algorithms.base import ALGORITHMS, assign_variables
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.spos import Spos

#: The logit of the path's op (the others are 0): far beyond any Gumbel noise in float32.
PATH_LOGIT = 1e4


@ALGORITHMS.register("magic_t")
class MagicT(Spos):
    """SPOS with gradual modification: each step's path is the previous one with one op changed.

    References:
        Xu et al., Analyzing and Mitigating Interference in Neural Architecture Search,
        arXiv 2108.12821 (MAGIC-T).

    Raises:
        ValueError: if the supernet does not sample (no `temperature` variable), or has an
            edge with a single op (nothing to modify).

    Example:
    >>> MagicT.default_config().epochs
    50
    """

    algorithm_name: ClassVar[str] = "magic_t"

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        super().__init__(supernet, config, **kwargs)
        self._path_variables = [v for v in supernet.arch_variables if len(v.shape) == 2]
        num_ops = int(self._path_variables[0].shape[1]) if self._path_variables else 0
        if num_ops < 2:
            raise ValueError(f"MAGIC-T needs edges with at least two ops. Received: {num_ops} op(s) per edge.")
        rng = np.random.default_rng(self.config.seed)
        for variable in self._path_variables:  # The first path: uniform.
            path = rng.integers(0, num_ops, size=int(variable.shape[0]))
            variable.assign(PATH_LOGIT * np.eye(num_ops, dtype=np.float32)[path])

    def paths(self) -> list[np.ndarray]:
        """The current path: one op index per edge, per cell kind."""
        return [np.argmax(keras.ops.convert_to_numpy(v), axis=-1) for v in self._path_variables]

    def modify_one_op(self) -> None:
        """Replaces the op of one uniformly drawn edge by one of its other ops, uniformly."""
        seed = self.supernet.seed_generator
        sizes = [int(v.shape[0]) for v in self._path_variables]
        num_ops = int(self._path_variables[0].shape[1])
        pick = keras.random.randint((), 0, sum(sizes), seed=seed, dtype="int32")
        shift = keras.random.randint((), 1, num_ops, seed=seed, dtype="int32")  # (old + shift) mod ops: never old
        offset, values = 0, []
        for variable, size in zip(self._path_variables, sizes):
            current = ops.cast(ops.argmax(variable, axis=-1), "int32")
            changed = ops.equal(ops.arange(size, dtype="int32") + offset, pick)
            path = ops.where(changed, ops.mod(current + shift, num_ops), current)
            values.append(PATH_LOGIT * ops.one_hot(path, num_ops, dtype=variable.dtype))
            offset += size
        assign_variables(self._path_variables, values)

    def train_step(self, data):
        self.modify_one_op()
        return super().train_step(data)
