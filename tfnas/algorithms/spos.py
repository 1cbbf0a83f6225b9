"""SPOS: the one-shot supernet trained by uniform single-path sampling (weights only).

Guo et al., Single Path One-Shot Neural Architecture Search with Uniform Sampling,
arXiv 1904.00420. The supernet is trained with one path per step, each edge's op drawn
uniformly and independently; no architecture parameters are learned. Candidates are then
rated with the inherited weights (`tfnas.strategies.SupernetEvaluator`: BatchNorm statistics
of the evaluation batches, i.e. recomputed per candidate) and searched by a multi-trial
strategy (the paper: evolution).

Here the sampling supernet is the GDAS/ROME one (`mixing="gumbel"`: only the sampled op of
each edge is computed). The architecture logits are set to 0 and never stepped, so the hard
Gumbel-max sample is exactly uniform (argmax of i.i.d. Gumbel noise), the straight-through
weight of the sampled op is exactly 1 in the forward pass, and the step is the weight step
alone on the training half of the bilevel split; the other half is left for rating
candidates. The weight recipe is the NAS-Bench-201 one (SGD Nesterov 0.9, lr 0.025 cosine to
0.001, weight decay 5e-4, clip 5, batch 64), as for the benchmark's weight-sharing baselines
(arXiv 2001.00326).
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from tfnas.algorithms.base import ALGORITHMS, BilevelSearch, assign_variables
from tfnas.algorithms.config import SearchConfig

SPOS_RECIPE: dict[str, Any] = {
    "learning_rate": 0.025, "min_learning_rate": 0.001, "momentum": 0.9, "nesterov": True,
    "weight_decay": 5e-4, "grad_clip": 5.0, "epochs": 50, "batch_size": 64,
}


@ALGORITHMS.register("spos")
class Spos(BilevelSearch):
    """Uniform single-path supernet training (SPOS), the weight step only.

    References:
        Guo et al., Single Path One-Shot Neural Architecture Search with Uniform Sampling,
        arXiv 1904.00420.

    Raises:
        ValueError: if the supernet does not sample (no `temperature` variable).

    Example:
    >>> Spos.default_config().epochs
    50
    """

    algorithm_name: ClassVar[str] = "spos"
    mixing: ClassVar[str] = "gumbel"
    DEFAULT_PRESET: ClassVar[str] = "nb201"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"nb201": dict(SPOS_RECIPE), "darts": dict(SPOS_RECIPE)}

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        super().__init__(supernet, config, **kwargs)
        if getattr(supernet, "temperature", None) is None:
            raise ValueError(
                f"SPOS needs a sampling supernet (mixing='gumbel'). Received: supernet={type(supernet).__name__}"
            )
        for variable in supernet.arch_variables:  # Uniform sampling: every logit 0, never stepped.
            variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
        self.arch_enabled.assign(0.0)

    def make_train_function(self, force: bool = False):
        """Traces only the step without the architecture step (SPOS learns no architecture)."""
        if self.train_function is not None and not force:
            return self.train_function
        self._arch_step_traced = False
        return keras.Model.make_train_function(self, force=True)


#: The logit of a held path's op (the others are 0): far beyond any Gumbel noise in float32.
PATH_LOGIT = 1e4


class HeldPathSpos(Spos):
    """Single-path training whose path is chosen by the algorithm, not drawn by the supernet.

    The path is held in the architecture logits (`alpha = PATH_LOGIT * one_hot(path)`): the
    supernet's Gumbel-max sample is then exactly that path and the straight-through weight of
    each sampled op exactly 1. Before each step `next_paths()` gives the step's path (one op
    index per edge, per cell kind), written in-graph. The path lives in the architecture
    variables, so it is in every checkpoint; draws from the supernet's (checkpointed) seed
    generator continue where they stopped after a resume.

    Subclasses implement `next_paths` and may override `first_paths` (default: uniform,
    seeded by `config.seed`).

    Raises:
        ValueError: for edges with fewer than two ops.
    """

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        super().__init__(supernet, config, **kwargs)
        self._path_variables = [v for v in supernet.arch_variables if len(v.shape) == 2]
        self.num_ops = int(self._path_variables[0].shape[1]) if self._path_variables else 0
        if self.num_ops < 2:
            raise ValueError(f"{self.algorithm_name} needs edges with at least two ops. "
                             f"Received: {self.num_ops} op(s) per edge.")
        for variable, path in zip(self._path_variables, self.first_paths(np.random.default_rng(self.config.seed))):
            variable.assign(PATH_LOGIT * np.eye(self.num_ops, dtype=np.float32)[np.asarray(path)])

    @property
    def path_sizes(self) -> list[int]:
        """Edges per cell kind."""
        return [int(v.shape[0]) for v in self._path_variables]

    def first_paths(self, rng: np.random.Generator) -> list[np.ndarray]:
        """The path before the first step (uniform)."""
        return [rng.integers(0, self.num_ops, size=size) for size in self.path_sizes]

    def paths(self) -> list[np.ndarray]:
        """The current path: one op index per edge, per cell kind."""
        return [np.argmax(keras.ops.convert_to_numpy(v), axis=-1) for v in self._path_variables]

    def current_paths(self) -> list[Any]:
        """The current path as int32 tensors (inside the step)."""
        return [ops.cast(ops.argmax(v, axis=-1), "int32") for v in self._path_variables]

    def next_paths(self) -> list[Any]:
        """The path of the coming step, one int32 tensor per cell kind."""
        raise NotImplementedError

    def train_step(self, data):
        values = [PATH_LOGIT * ops.one_hot(path, self.num_ops, dtype=variable.dtype)
                  for path, variable in zip(self.next_paths(), self._path_variables)]
        assign_variables(self._path_variables, values)
        return super().train_step(data)
