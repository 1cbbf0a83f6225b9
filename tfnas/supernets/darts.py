"""The DARTS-space search supernet (`model_search.Network` of the DARTS code).

Stem: 3x3 conv to `stem_multiplier * C` channels + BN; `layers` search cells, reductions
at `layers // 3` and `2 * layers // 3` (channels doubled there); each cell preprocesses its
two inputs (FactorizedReduce after a reduction, else ReLU-1x1 conv-BN, all BN non-affine),
computes 4 intermediate nodes over 14 mixed edges and concatenates them; global average
pooling and a linear classifier.

References:
    - Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.

Example:
>>> from tfnas.supernets import SupernetConfig, build_supernet
>>> net = build_supernet(SupernetConfig(channels=4, layers=3, input_shape=(8, 8, 3)))
>>> tuple(net(keras.ops.zeros((2, 8, 8, 3))).shape)
(2, 10)
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from tfnas.genotypes.cell import DartsGenotype
from tfnas.ops import cell_ops
from tfnas.spaces import darts as darts_space
from tfnas.supernets.base import Supernet
from tfnas.supernets.cells import SearchCell
from tfnas.supernets.config import SupernetConfig


@keras.saving.register_keras_serializable(package="tfnas")
class DartsSupernet(Supernet):
    """The DARTS search network: normal and reduction cells sharing one alpha per kind.

    References:
        - Liu et al., DARTS, arXiv 1806.09055.

    Args:
        config: A `SupernetConfig` with `space="darts"`.

    Raises:
        ValueError: for a config of another space.
    """

    cell_kinds = ("normal", "reduce")

    def __init__(self, config: SupernetConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        config = self.config
        if config.space != "darts":
            raise ValueError(f"DartsSupernet needs space='darts'. Received: space={config.space!r}")
        self.edges = darts_space.supernet_edges(config.steps)
        self.op_names = darts_space.CHILD_OPS if config.mixing == "rome" else darts_space.OPS
        c = config.channels
        height, width, depth = config.input_shape
        inputs = keras.Input((height, width, depth))
        stem = cell_ops.conv2d(inputs, config.stem_multiplier * c, 3, name="stem_conv")
        stem = cell_ops.batch_norm(stem, affine=True, name="stem_bn")
        self.stem = keras.Model(inputs, stem, name="stem")
        c_prev_prev, c_prev, c_curr = config.stem_multiplier * c, config.stem_multiplier * c, c
        reduction_prev = False
        self.cells = []
        self.reductions = []
        for i in range(config.layers):
            reduction = i in (config.layers // 3, 2 * config.layers // 3)
            if reduction:
                c_curr *= 2
            cell = SearchCell(
                "darts", c_curr, self.op_names, mixing=config.mixing, reduction=reduction,
                reduction_prev=reduction_prev, prev_prev_channels=c_prev_prev,
                prev_channels=c_prev, partial_channels=config.partial_channels,
                aux_skip=config.aux_skip, steps=config.steps, seed=config.seed * 1000 + i,
                binarized=config.binarized, name=f"cell_{i}",
            )
            cell.build()
            self.cells.append(cell)
            self.reductions.append(reduction)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, config.steps * c_curr
        self.classifier = keras.layers.Dense(
            config.num_classes,
            kernel_initializer=cell_ops.KERNEL_INITIALIZER,
            bias_initializer=keras.initializers.RandomUniform(
                -1.0 / np.sqrt(c_prev), 1.0 / np.sqrt(c_prev), seed=config.seed),
            name="classifier",
        )
        self.classifier.build((None, c_prev))
        self._make_arch_variables()
        self.built = True

    def call(self, images, training=None, arch=None):
        """Logits; `arch` (per cell kind, e.g. `child_arch`'s) replaces the sampled architecture."""
        if arch is None:
            arch = {kind: self.arch_inputs(kind) for kind in self.cell_kinds}
        s0 = s1 = self.stem(images, training=training)
        for cell, kind in self.cells_with_kinds():
            s0, s1 = s1, cell((s0, s1), arch[kind])
        return self.classifier(ops.mean(s1, axis=(1, 2)))

    def cells_with_kinds(self) -> list[tuple[Any, str]]:
        return [(cell, "reduce" if reduction else "normal") for cell, reduction in zip(self.cells, self.reductions)]

    def export(self) -> DartsGenotype:
        """Derives the genotype: per node the 2 strongest incoming edges, op = argmax but `none`.

        Edge strength is the largest non-`none` op weight (softmax(alpha); times the
        node's softmax(beta) with edge normalization). With ROME mixing, the 2 edges are
        those with the largest topology logits and the op the argmax alpha. The auxiliary
        skip of DARTS- is not part of the genotype.

        Returns:
            A `DartsGenotype` (edges of a node strongest first, as the reference).
        """
        state = self.arch_state()
        cells = {}
        for kind in self.cell_kinds:
            weights = state[f"{kind}/alpha"]
            edge = state.get(f"{kind}/edge")
            if self.config.mixing == "rome":
                scores = edge
            else:
                if edge is not None:
                    weights = weights * edge[:, None]
                usable = [i for i, op in enumerate(self.op_names) if op != "none"]
                scores = weights[:, usable].max(axis=1)
            gene = []
            for rows in self._node_rows:
                ranked = sorted(rows, key=lambda r: -scores[r])[:2]
                for row in ranked:
                    candidates = [
                        (weights[row, i], op) for i, op in enumerate(self.op_names) if op != "none"
                    ]
                    best = max(range(len(candidates)), key=lambda i: candidates[i][0])
                    gene.append((candidates[best][1], self.edges[row][1]))
            cells[kind] = tuple(gene)
        concat = darts_space.default_concat(self.config.steps)
        return DartsGenotype(
            normal=cells["normal"], reduce=cells["reduce"],
            normal_concat=concat, reduce_concat=concat,
        )


__all__ = ["DartsSupernet"]
