"""The NAS-Bench-201 search supernet (AutoDL-Projects `TinyNetworkDarts` / `TinyNetworkGDAS`).

Stem: 3x3 conv to `C` + BN; three stages of `layers` (N) search cells at C, 2C, 4C,
separated by residual reduction blocks (`ResNetBasicblock`, stride 2); BN + ReLU, global
average pooling, linear classifier. All search cells share one alpha matrix `[6, 5]`. The
search cells use BN with affine=False and batch statistics (`track_running_stats=False`),
as AutoDL-Projects' search model; stem, reduction blocks and the last BN are the
ordinary (affine, running statistics) ones.

References:
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

Example:
>>> from tfnas.supernets import SupernetConfig, build_supernet
>>> net = build_supernet(SupernetConfig(space="nb201", channels=4, layers=1,
...                                     input_shape=(8, 8, 3)))
>>> net.export().ops  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.ops import cell_ops
from tfnas.spaces import nb201 as nb201_space
from tfnas.supernets.base import Supernet
from tfnas.supernets.cells import SearchCell
from tfnas.supernets.config import SupernetConfig

_MASKED = -1e9


@keras.saving.register_keras_serializable(package="tfnas")
class NB201Supernet(Supernet):
    """The NAS-Bench-201 search network (one cell kind, `"cell"`).

    References:
        - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

    Args:
        config: A `SupernetConfig` with `space="nb201"`.

    Raises:
        ValueError: for a config of another space.
    """

    cell_kinds = ("cell",)

    def __init__(self, config: SupernetConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        config = self.config
        if config.space != "nb201":
            raise ValueError(f"NB201Supernet needs space='nb201'. Received: space={config.space!r}")
        self.edges = nb201_space.EDGES
        self.op_names = nb201_space.OPS
        c = config.channels
        height, width, depth = config.input_shape
        inputs = keras.Input((height, width, depth))
        x = cell_ops.conv2d(inputs, c, 3, name="stem_conv")
        x = cell_ops.batch_norm(x, affine=True, name="stem_bn")
        self.stem = keras.Model(inputs, x, name="stem")
        self.blocks = []
        size = (height, width)
        c_curr = c
        index = 0
        for stage in range(3):
            if stage > 0:
                block_in = keras.Input((size[0], size[1], c_curr))
                block_out = cell_ops.resnet_basic_block(
                    block_in, channels=2 * c_curr, stride=2, affine=True, name=f"reduce_{stage}")
                c_curr *= 2
                size = (size[0] // 2, size[1] // 2)
                self.blocks.append(keras.Model(block_in, block_out, name=f"block_{index}"))
                index += 1
            for _ in range(config.layers):
                cell = SearchCell(
                    "nb201", c_curr, self.op_names, mixing=config.mixing,
                    partial_channels=config.partial_channels, aux_skip=config.aux_skip,
                    seed=config.seed * 1000 + index, binarized=config.binarized, name=f"cell_{index}",
                )
                cell.build()
                self.blocks.append(cell)
                index += 1
        head_in = keras.Input((size[0], size[1], c_curr))
        head = cell_ops.batch_norm(head_in, affine=True, name="lastact_bn")
        head = keras.layers.ReLU(name="lastact_relu")(head)
        self.lastact = keras.Model(head_in, head, name="lastact")
        self.classifier = keras.layers.Dense(
            config.num_classes,
            kernel_initializer=cell_ops.KERNEL_INITIALIZER,
            bias_initializer=keras.initializers.RandomUniform(
                -1.0 / np.sqrt(c_curr), 1.0 / np.sqrt(c_curr), seed=config.seed),
            name="classifier",
        )
        self.classifier.build((None, c_curr))
        self._make_arch_variables()
        self._op_mask = None
        if config.edge_ops is not None:
            mask = np.zeros((len(self.edges), len(self.op_names)), dtype="float32")
            for k, allowed in enumerate(config.edge_ops):
                for j, op in enumerate(self.op_names):
                    if op not in allowed:
                        mask[k, j] = _MASKED
            self._op_mask = mask
        self.built = True

    def _op_logits(self, kind: str):
        """The op logits with the ops outside `config.edge_ops` masked out.

        A masked op's logit is lowered by 1e9 before the softmax / Gumbel sampling: its
        weight is exactly 0 (softmax mixing) and it is never sampled (gumbel mixing).
        """
        alpha = self._alphas[kind]
        if self._op_mask is None:
            return alpha
        return alpha + ops.convert_to_tensor(self._op_mask, dtype=alpha.dtype)

    def arch_probabilities(self) -> list:
        """Per edge, the (differentiable) softmax over its allowed ops: the input of
        `tfnas.budgets.losses.expected_cost` (decisions = edges, choices = `OPS`); inside
        `ops_removed`, the removed ops have probability 0 (the others unchanged)."""
        logits = self._op_logits("cell")
        probs = ops.softmax(logits, axis=-1)
        keep = self._removal_keep("cell", probs.dtype)
        if keep is not None:
            probs = probs * keep
        return [probs[e] for e in range(len(self.edges))]

    def arch_state(self) -> dict[str, np.ndarray]:
        """As `Supernet.arch_state`; with `edge_ops`, masked ops have probability 0."""
        state = super().arch_state()
        if self._op_mask is not None:
            alpha = np.asarray(self._alphas["cell"].numpy(), dtype=np.float64) + self._op_mask
            z = np.exp(alpha - alpha.max(axis=-1, keepdims=True))
            state["cell/alpha"] = z / z.sum(axis=-1, keepdims=True)
        return state

    def call(self, images, training=None, arch=None):
        """Logits; `arch` (`{"cell": ...}`, e.g. `child_arch`'s) replaces the sampled architecture."""
        return self.features(images, training=training, arch=None if arch is None else arch["cell"])[0]

    def path_arch(self, path) -> dict[str, Any]:
        """The architecture tensors of the child `path` (one op index per edge, int tensor):
        what `arch_inputs` returns for a sampled path, without noise or gradient to alpha."""
        index = ops.cast(path, "int32")
        return {"hard": ops.one_hot(index, len(self.op_names), dtype=self.compute_dtype), "index": index}

    def features(self, images, training=None, path=None, arch=None) -> tuple[Any, list[Any]]:
        """`(logits, cell outputs)`: the forward pass, with the output of every search cell.

        Args:
            images: `[B, H, W, 3]`.
            training: BatchNorm mode of the stem and reduction blocks.
            path: Optional op index per edge: run that child (single-path mixing only)
                instead of the architecture `arch_inputs` gives.
            arch: Optional architecture tensors of the cell (e.g. `child_arch("cell", ...)`).
        """
        if path is not None and self.config.mixing != "gumbel":
            raise ValueError(f"A fixed path needs single-path (gumbel) mixing. Received: {self.config.mixing!r}")
        if arch is None:
            arch = self.arch_inputs("cell") if path is None else self.path_arch(path)
        x = self.stem(images, training=training)
        cell_outputs = []
        for block in self.blocks:
            if isinstance(block, SearchCell):
                x = block(x, arch)
                cell_outputs.append(x)
            else:
                x = block(x, training=training)
        x = self.lastact(x, training=training)
        return self.classifier(ops.mean(x, axis=(1, 2))), cell_outputs

    def export(self, choices: Sequence[int] | None = None) -> NB201Genotype:
        """Derives the cell: the argmax op of every edge (`none` included, as AutoDL; with
        `config.edge_ops`, among the edge's allowed ops), or the ops `choices` names.

        Args:
            choices: Optional op index per edge (e.g. from `tfnas.budgets.losses.meet_budget`).

        Returns:
            An `NB201Genotype`.

        Raises:
            ValueError: if `choices` picks an op outside an edge's allowed subset.
        """
        weights = self.arch_state()["cell/alpha"]
        if choices is None:
            choices = [int(np.argmax(row)) for row in weights]
        if len(choices) != len(self.edges):
            raise ValueError(f"choices needs one op index per edge ({len(self.edges)}). Received: {choices!r}")
        for e, j in enumerate(choices):
            if self._op_mask is not None and self._op_mask[e, int(j)] != 0:
                raise ValueError(f"Op {self.op_names[int(j)]!r} is not allowed on edge {e} by config.edge_ops.")
        return NB201Genotype(tuple(self.op_names[int(j)] for j in choices))
