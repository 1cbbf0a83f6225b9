"""`MotifSupernet`: K whole NAS-Bench-201 cells (motifs) in parallel at every cell position.

AutoSpace (arXiv 2103.11833) evolves a population of cell *motifs* (small DAGs of
operations, the paper's 4-node motifs encoded as a 4x4 matrix of ops) and scores the K
sampled ones by placing them in parallel: the layer's output is `sum_i softmax(alpha)_i *
cell_i(x)`, alpha trained by backprop, each cell with its own weights. An NB201 cell is such
a motif (4 nodes, an op on each of the 6 edges `j -> i`, `j < i`), so this supernet is the
NB201 network (`tfnas.children.nb201_net`: stem, 3 stages of N cell positions, residual
reduction blocks, BN-ReLU, pooling, classifier) with the K motifs in parallel at each cell
position. The benchmark ties one cell to every position (the table indexes one cell), so
there is one decision, the cell, and one alpha of K logits shared by all positions.

Softmax mixing (`config.mixing == "softmax"`): the engine's first-order `darts` trains it
(`tfnas.algorithms.mobile_search.run_search`). `arch_probabilities()` is one decision of K
choices (a budget prices each motif: `tfnas.budgets.losses.motif_cost_table`), `export()`
the most likely motif, `ops_removed([(0, i)])` takes motif `i` out (its weight 0, the
others unchanged) for the perturbation fitness of `tfnas.algorithms.autospace`.

References:
    - Zhou et al., AutoSpace, arXiv 2103.11833.
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

Example:
>>> net = MotifSupernet(["|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
...                      "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"],
...                     channels=4, cells_per_stage=1, input_shape=(8, 8, 3))
>>> tuple(net(keras.ops.zeros((2, 8, 8, 3))).shape)
(2, 10)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from tfnas.children.nb201_net import infer_cell
from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.ops import cell_ops


@dataclasses.dataclass(frozen=True)
class MotifSupernetConfig:
    """What fixes a motif supernet (cells as architecture strings)."""

    cells: tuple[str, ...]
    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    input_shape: tuple[int, int, int] = (32, 32, 3)
    seed: int = 0
    mixing: str = "softmax"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["cells"], data["input_shape"] = list(self.cells), list(self.input_shape)
        return data


@keras.saving.register_keras_serializable(package="tfnas")
class MotifSupernet(keras.Model):
    """K NB201 cell motifs mixed by softmax at every cell position (module docstring).

    References:
        Zhou et al., AutoSpace, arXiv 2103.11833.

    Args:
        cells: The K motifs (`NB201Genotype`s or their strings), distinct.
        channels: First-stage width (doubled at each reduction).
        cells_per_stage: Cell positions per stage.
        num_classes: Classifier width.
        input_shape: `(H, W, C)`.
        seed: Seed of the alpha initializer.

    Raises:
        ValueError: for no cell, a repeated cell, an invalid cell string or a bad size.
    """

    def __init__(
        self,
        cells: Sequence[NB201Genotype | str],
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        input_shape: Sequence[int] = (32, 32, 3),
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        motifs = tuple(c if isinstance(c, NB201Genotype) else NB201Genotype.from_string(c) for c in cells)
        if not motifs:
            raise ValueError("MotifSupernet needs at least one cell.")
        if len(set(motifs)) != len(motifs):
            raise ValueError(f"MotifSupernet cells must be distinct. Received: {[c.to_string() for c in motifs]}")
        for name, value in (("channels", channels), ("cells_per_stage", cells_per_stage),
                            ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (H, W, C). Received: input_shape={input_shape!r}")
        self.motifs = motifs
        self.config = MotifSupernetConfig(tuple(c.to_string() for c in motifs), channels, cells_per_stage,
                                          num_classes, input_shape, int(seed))
        inputs = keras.Input(input_shape)
        x = cell_ops.batch_norm(cell_ops.conv2d(inputs, channels, 3, name="stem_conv"), name="stem_bn")
        self.stem = keras.Model(inputs, x, name="stem")
        shape = tuple(int(d) for d in x.shape[1:])
        self.reductions: list[keras.Model] = []
        self.positions: list[list[keras.Model]] = []  # per cell position, its K motif models
        self._plan: list[str] = []  # "reduce" or "cells", in network order
        for stage in range(3):
            width = channels * 2**stage
            if stage:
                block_in = keras.Input(shape)
                y = cell_ops.resnet_basic_block(block_in, channels=width, stride=2, name=f"reduce{stage}")
                self.reductions.append(keras.Model(block_in, y, name=f"reduce{stage}"))
                self._plan.append("reduce")
                shape = tuple(int(d) for d in y.shape[1:])
            for position in range(cells_per_stage):
                index = stage * cells_per_stage + position
                models = []
                for k, motif in enumerate(motifs):
                    cell_in = keras.Input(shape)
                    y = infer_cell(cell_in, motif, channels=width, name=f"pos{index:02d}_m{k}")
                    models.append(keras.Model(cell_in, y, name=f"pos{index:02d}_motif{k}"))
                self.positions.append(models)
                self._plan.append("cells")
        head_in = keras.Input(shape)
        h = keras.layers.ReLU(name="lastact_relu")(cell_ops.batch_norm(head_in, name="lastact_bn"))
        h = keras.layers.GlobalAveragePooling2D(name="global_pool")(h)
        h = keras.layers.Dense(num_classes, kernel_initializer=cell_ops.KERNEL_INITIALIZER, name="classifier")(h)
        self.head = keras.Model(head_in, h, name="head")
        self.alpha = self.add_weight(name="motif_alpha", shape=(len(motifs),),
                                     initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=seed),
                                     trainable=True)
        self._removed: tuple[int, ...] = ()
        self.built = True

    # ------------------------------------------------------------------ variables
    @property
    def arch_variables(self) -> list:
        """The K motif logits."""
        return [self.alpha]

    @property
    def weight_variables(self) -> list:
        """Every trainable variable that is not the motif logits."""
        return [v for v in self.trainable_variables if v is not self.alpha]

    # ------------------------------------------------------------------ call
    def _weights(self):
        weights = ops.softmax(self.alpha)
        if self._removed:  # Read when the forward pass runs: eager evaluation only.
            keep = np.ones(len(self.motifs), dtype="float32")
            keep[list(self._removed)] = 0.0
            weights = weights * ops.convert_to_tensor(keep, dtype=weights.dtype)
        return weights

    def call(self, images, training=None):
        x = self.stem(images, training=training)
        weights = self._weights()
        reductions, positions = iter(self.reductions), iter(self.positions)
        for kind in self._plan:
            if kind == "reduce":
                x = next(reductions)(x, training=training)
            else:
                x = sum(weights[k] * cell(x, training=training) for k, cell in enumerate(next(positions)))
        return self.head(x, training=training)

    # ------------------------------------------------------------------ architecture
    def arch_probabilities(self) -> list:
        """One decision (the cell): the K motif weights (0 for a removed motif)."""
        return [self._weights()]

    def arch_state(self) -> dict[str, np.ndarray]:
        """`{"motifs/alpha": softmax(alpha)}` for logging."""
        v = np.asarray(self.alpha.numpy(), dtype=np.float64)
        z = np.exp(v - v.max())
        return {"motifs/alpha": z / z.sum()}

    def export(self, choices: Sequence[int] | None = None) -> NB201Genotype:
        """The most likely motif, or the one `choices[0]` names.

        Raises:
            ValueError: for not one choice or an index out of range.
        """
        if choices is None:
            return self.motifs[int(np.argmax(self.arch_state()["motifs/alpha"]))]
        if len(choices) != 1 or not 0 <= int(choices[0]) < len(self.motifs):
            raise ValueError(f"A motif supernet has one decision of {len(self.motifs)} choices. Received: {choices!r}")
        return self.motifs[int(choices[0])]

    @contextlib.contextmanager
    def ops_removed(self, removed: Sequence[tuple[int, int]]) -> Iterator[None]:
        """Inside the block, the motifs `(0, i)` of `removed` get weight 0 (others unchanged).

        Raises:
            ValueError: for a decision other than 0 or a motif index out of range.
        """
        indices = []
        for decision, index in removed:
            if int(decision) != 0 or not 0 <= int(index) < len(self.motifs):
                raise ValueError(f"A motif supernet has decision 0 with {len(self.motifs)} motifs. "
                                 f"Received: {(decision, index)!r}")
            indices.append(int(index))
        self._removed = tuple(indices)
        try:
            yield
        finally:
            self._removed = ()

    def get_config(self) -> dict[str, Any]:
        c = self.config
        return {"cells": list(c.cells), "channels": c.channels, "cells_per_stage": c.cells_per_stage,
                "num_classes": c.num_classes, "input_shape": list(c.input_shape), "seed": c.seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MotifSupernet:
        return cls(**config)
