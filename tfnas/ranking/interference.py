"""Interference between child models that share an operator: the gradient-similarity measurement.

Xu et al., Analyzing and Mitigating Interference in Neural Architecture Search, arXiv
2108.12821, Sec. 3: two child models of a weight-sharing supernet that both contain an
operator pull its weights in directions whose agreement (the cosine similarity of the two
gradients of that operator's weights on the same batch) falls as the number of operators in
which the children differ grows. That observation motivates MAGIC-T
(`tfnas.algorithms.magic`): consecutive training paths one operator apart.

The measurement here, on an NB201 single-path supernet (`mixing="gumbel"`: SPOS, MAGIC-T,
GDAS): for each distance d = 1 .. E-1 (E edges), `pairs_per_distance` times, draw an anchor
path uniformly with a plain convolution (`nor_conv_1x1` / `nor_conv_3x3`) on a probe edge,
and a second path equal to it except on d other edges, each given a different op; compute
the cross-entropy gradient of both paths on the same batch (BatchNorm in training mode, as
during supernet training) and, in every search cell of the network, the cosine similarity of
the two gradients of the probe edge's convolution kernel (`SearchCell.edge_op_slice`). A
probe op cut off from the output in either child (zero gradient) has no direction and is left
out (counted in `skipped`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfnas.supernets.cells import OP_KINDS, SearchCell


@dataclasses.dataclass(frozen=True)
class InterferenceReport:
    """Cosine similarities of a shared operator's gradients by distance between the two paths.

    Args:
        cosines: distance d -> the cosines measured at d (one per pair and search cell).
        skipped: distance d -> (pair, cell) measurements left out (probe op cut off).
    """

    cosines: dict[int, list[float]]
    skipped: dict[int, int]

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-able row per distance: distance, mean, std, count, skipped."""
        return [
            {"distance": d, "mean_cosine": float(np.mean(v)) if v else None,
             "std_cosine": float(np.std(v)) if v else None, "count": len(v), "skipped": self.skipped[d]}
            for d, v in sorted(self.cosines.items())
        ]


def _search_cells(supernet: keras.Model) -> list[SearchCell]:
    cells = [block for block in getattr(supernet, "blocks", []) if isinstance(block, SearchCell)]
    if not cells or getattr(supernet.config, "mixing", None) != "gumbel":
        raise ValueError("The gradient-similarity measurement needs an NB201 single-path supernet "
                         "(mixing='gumbel': spos, magic_t, gdas).")
    return cells


def path_gradients(supernet: keras.Model, path: Sequence[int], images: Any, labels: Any,
                   variables: Sequence[Any]) -> list[np.ndarray]:
    """The mean cross-entropy gradient of the child `path` (one op index per edge) on one
    batch, with respect to `variables` (zeros where the child does not use a variable)."""
    names = list(supernet.op_names)
    removed = [(e, o) for e, op in enumerate(path) for o in range(len(names)) if o != int(op)]
    labels = tf.reshape(tf.cast(labels, "int32"), [-1])
    with supernet.ops_removed(removed):
        with tf.GradientTape() as tape:
            logits = tf.cast(supernet(images, training=True), "float32")
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        grads = tape.gradient(loss, [v.value if isinstance(v, keras.Variable) else v for v in variables])
    return [np.zeros(v.shape, np.float32) if g is None else np.asarray(g) for v, g in zip(variables, grads)]


def _cosine(a: np.ndarray, b: np.ndarray) -> float | None:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return None
    return float(np.dot(a.ravel(), b.ravel()) / (na * nb))


def gradient_similarity(supernet: keras.Model, images: Any, labels: Any, *, pairs_per_distance: int = 10,
                        seed: int = 0) -> InterferenceReport:
    """Measures the cosine similarity of a shared operator's gradients against the number of
    operators in which two child models differ (see the module docstring).

    Args:
        supernet: An NB201 single-path supernet (trained or not).
        images: One batch `[B, H, W, 3]` (both children see the same).
        labels: Its int labels `[B]`.
        pairs_per_distance: Child pairs drawn at each distance.
        seed: Seed of the draws.

    Raises:
        ValueError: for a supernet that is not an NB201 single-path one, or a space without
            plain convolutions.
    """
    if pairs_per_distance < 1:
        raise ValueError(f"pairs_per_distance must be >= 1. Received: {pairs_per_distance}")
    cells = _search_cells(supernet)
    names = list(supernet.op_names)
    convs = [i for i, name in enumerate(names) if OP_KINDS[name][0] == "conv"]
    if not convs:
        raise ValueError(f"The space has no plain convolution to probe. Ops: {names}")
    num_edges, rng = len(supernet.edges), np.random.default_rng(seed)
    cosines: dict[int, list[float]] = {d: [] for d in range(1, num_edges)}
    skipped = dict.fromkeys(cosines, 0)
    for d in cosines:
        for _ in range(pairs_per_distance):
            probe = int(rng.integers(num_edges))
            anchor = rng.integers(len(names), size=num_edges)
            anchor[probe] = rng.choice(convs)
            other = anchor.copy()
            for e in rng.choice([e for e in range(num_edges) if e != probe], size=d, replace=False):
                other[e] = (anchor[e] + rng.integers(1, len(names))) % len(names)
            slices = [cell.edge_op_slice(probe, names[int(anchor[probe])]) for cell in cells]
            variables = [v for v, _ in slices]
            ga = path_gradients(supernet, anchor, images, labels, variables)
            gb = path_gradients(supernet, other, images, labels, variables)
            for (_, index), a, b in zip(slices, ga, gb):
                value = _cosine(a[index], b[index])
                if value is None:
                    skipped[d] += 1
                else:
                    cosines[d].append(value)
    return InterferenceReport(cosines=cosines, skipped=skipped)
