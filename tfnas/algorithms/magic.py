"""MAGIC: single-path supernet training that mitigates interference (MAGIC-T, MAGIC-A, MAGIC-AT).

Xu et al., Analyzing and Mitigating Interference in Neural Architecture Search, arXiv
2108.12821 (ICML 2022). The paper measures that the interference on a shared operator
between two child models (the disagreement of its gradients from the two) grows with the
number of operators in which the children differ, and proposes MAGIC-T: instead of drawing
every step's path independently (SPOS), modify one operator of the previous step's path, so
that consecutive updates of every shared operator come from children one operator apart.

Here: the SPOS sampling supernet and weight step, with the path held in the architecture
logits (`tfnas.algorithms.spos.HeldPathSpos`). The first path is uniform (seeded by
`config.seed`); before each step one edge is drawn uniformly over all edges of all cell kinds and its op is replaced by
one of the other ops, uniformly. Because the path lives in the architecture variables it is
saved in every checkpoint, and the draws use the supernet's checkpointed seed generator, so a
resumed run continues the same walk.

MAGIC-A: the paper's second observation is that the interference on a shared operator is
smaller when its inputs and outputs are similar across children; MAGIC-A aligns them to those
of an anchor child, a top-performing one. Here (`AnchorAlignment`, NB201 supernets): the
weight loss is the cross-entropy of the sampled child plus `config.anchor_weight` times the
relative squared difference (`relative_squared_error`) between each search cell's output in
the sampled child and in the anchor child on the same batch, averaged over cells
(`Supernet.features(..., path=anchor)`, the anchor's outputs held fixed); the output of one cell is the input of the next cell's operators, so aligning
cell outputs aligns every operator's input, and its output through the cell's sum. Every
`config.anchor_every` steps the anchor becomes the best of itself and
`config.anchor_candidates` uniform children by accuracy on the step's held-out batch (the
architecture half of the bilevel split, which SPOS otherwise leaves unused; the anchor's
choice is all that sees it). The anchor path is a checkpointed variable.

`magic_t` (gradual modification), `magic_a` (alignment on uniform sampling) and `magic_at`
(both) are registered.

What is not reproduced: the paper's search spaces are BERT and MobileNet-like layer spaces
with its own training budget, and its alignment is per operator. The anchor schedule and the
loss weight (`anchor_every` 100, `anchor_candidates` 4, `anchor_weight` 1.0) are ours: the
paper's values were not available offline.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfnas.algorithms.base import ALGORITHMS, assign_variables, classification_terms, num_replicas
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.spos import SPOS_RECIPE, HeldPathSpos, Spos


@ALGORITHMS.register("magic_t")
class MagicT(HeldPathSpos):
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

    def modify_one_op(self) -> list[Any]:
        """The current path with the op of one uniformly drawn edge (over every cell kind)
        replaced by one of its other ops, uniformly."""
        seed = self.supernet.seed_generator
        pick = keras.random.randint((), 0, sum(self.path_sizes), seed=seed, dtype="int32")
        shift = keras.random.randint((), 1, self.num_ops, seed=seed, dtype="int32")  # (old + shift) mod ops != old
        offset, paths = 0, []
        for current, size in zip(self.current_paths(), self.path_sizes):
            changed = ops.equal(ops.arange(size, dtype="int32") + offset, pick)
            paths.append(ops.where(changed, ops.mod(current + shift, self.num_ops), current))
            offset += size
        return paths

    def next_paths(self) -> list[Any]:
        return self.modify_one_op()


def relative_squared_error(output, anchor) -> tf.Tensor:
    """`sum((output - anchor)^2) / sum(anchor^2)`, the anchor held fixed (no gradient through it).

    Relative, so that the supernet cannot lower it by shrinking every cell's output: the
    anchor runs on the same shared weights, and a plain squared error would be minimised by
    collapsing the features (a first run at the proxy did exactly that: the sampled children's
    training accuracy fell to chance, 12-15 % after 7 epochs, where SPOS reaches 35 %).
    """
    output, anchor = tf.cast(output, "float32"), tf.stop_gradient(tf.cast(anchor, "float32"))
    return tf.reduce_sum(tf.square(output - anchor)) / (tf.reduce_sum(tf.square(anchor)) + 1e-12)


class AnchorAlignment:
    """MAGIC-A for a `Spos`-family algorithm: the alignment loss to an anchor child and the
    anchor's refresh (see the module docstring). Mixed in before the algorithm class."""

    DEFAULT_PRESET: ClassVar[str] = "nb201"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"nb201": {**SPOS_RECIPE, "anchor_weight": 1.0}}

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        super().__init__(supernet, config, **kwargs)
        self._init_anchor()

    def _init_anchor(self) -> None:
        supernet = self.supernet
        if not hasattr(supernet, "features"):
            raise ValueError(f"MAGIC-A needs a supernet with per-cell outputs (`features`: NB201). "
                             f"Received: {type(supernet).__name__}")
        if not self.config.anchor_weight > 0:
            raise ValueError(f"MAGIC-A needs anchor_weight > 0. Received: {self.config.anchor_weight!r}")
        rng = np.random.default_rng(self.config.seed + 1)
        first = rng.integers(0, len(supernet.op_names), size=len(supernet.edges)).astype("int32")
        self.anchor_path = keras.Variable(first, trainable=False, dtype="int32", name="anchor_path")

    def _refresh_anchor(self, images, labels) -> tf.Tensor:
        supernet = self.supernet
        labels = tf.reshape(tf.cast(labels, "int32"), [-1])
        shape = (len(supernet.edges),)
        candidates = [tf.identity(self.anchor_path.value)] + [
            tf.cast(keras.random.randint(shape, 0, len(supernet.op_names), seed=supernet.seed_generator), tf.int32)
            for _ in range(self.config.anchor_candidates)]
        accuracies = []
        for path in candidates:
            logits, _ = supernet.features(images, training=True, path=path)
            hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels)
            accuracies.append(tf.reduce_mean(tf.cast(hits, "float32")))
        best = tf.argmax(tf.stack(accuracies), output_type=tf.int32)  # ties: the current anchor stays
        assign_variables([self.anchor_path], [tf.gather(tf.stack(candidates), best)])
        return best

    def train_step(self, data):
        (_, _), (x_val, y_val) = data
        step = tf.convert_to_tensor(self.optimizer.iterations)
        tf.cond(tf.equal(step % self.config.anchor_every, 0), lambda: self._refresh_anchor(x_val, y_val),
                lambda: tf.constant(0, tf.int32))
        return super().train_step(data)

    def _loss_terms(self, images, labels):
        supernet = self.supernet
        logits, cells = supernet.features(images, training=True)
        _, anchor_cells = supernet.features(images, training=True, path=tf.identity(self.anchor_path.value))
        alignment = tf.add_n([relative_squared_error(c, a) for c, a in zip(cells, anchor_cells)]) / float(len(cells))
        cross_entropy, correct = classification_terms(logits, labels)
        loss = (tf.reduce_mean(cross_entropy) + self.config.anchor_weight * alignment) / float(num_replicas())
        return loss, cross_entropy, correct


@ALGORITHMS.register("magic_a")
class MagicA(AnchorAlignment, Spos):
    """SPOS (uniform paths) with MAGIC-A's alignment to an anchor child.

    References:
        Xu et al., Analyzing and Mitigating Interference in Neural Architecture Search,
        arXiv 2108.12821 (MAGIC-A).

    Example:
    >>> MagicA.default_config().anchor_weight
    1.0
    """

    algorithm_name: ClassVar[str] = "magic_a"


@ALGORITHMS.register("magic_at")
class MagicAT(AnchorAlignment, MagicT):
    """MAGIC-AT: gradual modification (MAGIC-T) and alignment to an anchor child (MAGIC-A).

    References:
        Xu et al., Analyzing and Mitigating Interference in Neural Architecture Search,
        arXiv 2108.12821 (MAGIC-AT).

    Example:
    >>> MagicAT.default_config().anchor_weight
    1.0
    """

    algorithm_name: ClassVar[str] = "magic_at"
