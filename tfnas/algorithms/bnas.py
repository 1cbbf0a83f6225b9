"""BNAS: binarized architecture search with channel sampling and operation-space reduction.

Chen et al., "Binarized Neural Architecture Search", arXiv 1911.10862. The supernet is
PC-DARTS's (partial channels K=4, edge normalization, 15 warm-up epochs with the architecture
frozen) with every convolution of the cells binarized: 1-bit weights `mean|W| * sign(W)` per
output channel of each edge's op with a straight-through gradient, activations in full
precision, as the released code does (`SupernetConfig.binarized`, `tfnas.ops.binary`).

Operation-space reduction (the paper's performance-based strategy): after the warm-up,
every `reduce_every` epochs is one round. During a round, every `child_every`-th step
samples a child: on each edge one op drawn uniformly from the edge's *candidates*, the
remaining ops with the smaller half of alpha (rounded up), and the child's accuracy on the
step's validation batch (inherited weights, BatchNorm on the batch) is added to the
likelihood statistics of every (edge, op) it used. The children sample without replacement:
in each cycle of `n` children (`n` candidates per edge) every edge visits each of its
candidates once, in its own random order, as the BNAS group's search framework describes
("sample the operation without replacement for each edge ... K times"). At the end of the round each edge
abandons its candidate with the lowest mean child accuracy (an op no child used first, then
the lowest alpha): its logit is set to -1e9, so its mixing weight is exactly 0 from then on
and it is never sampled again. The search ends when one op is left per edge
(`epochs = arch_warmup_epochs + rounds * reduce_every`, checked), and the genotype is
DARTS's derivation over what is left: the op of each edge, the two strongest edges per node.
In the DARTS space `none` is abandoned before the first step: the derivation never picks it,
so the last op of an edge must be a real one (7 ops, 6 rounds); NB201 keeps its 5 ops (4
rounds).

Where this differs from the paper, and why: the paper's schedule per reduction round and its
sample count could not be read offline; the defaults here (rounds of 5 epochs after the 15
warm-up epochs, a child every 5 steps) fill PC-DARTS's 50-epoch budget (45 epochs in the
DARTS space). Each round's step is traced again without the abandoned ops
(`make_train_function`): an op abandoned on every edge of an edge group leaves the graph, and
an op with weights kept on at most half of a group's edges runs on those edges alone
(`SearchCell.restrict_ops`); an op kept on more edges is still computed on the whole group
(weight 0 where abandoned), since there edge by edge costs more than it saves. Measured in
the DARTS space (WORKSPACE.md): the last two rounds' steps are about 0.7-0.75 of PC-DARTS's,
the six rounds about 0.89 on average, against the paper's 0.60 for the whole search.

Published (arXiv 1911.10862): CIFAR-10 96.53% for the binarized (1-bit weights) network of
the searched cell, 97.22% full precision.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from tfnas.algorithms.base import ALGORITHMS, assign_variables, read_variables, sum_over_replicas
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.pc_darts import PCDarts

#: The logit of an abandoned op: its softmax weight is exactly 0 in float32.
ABANDONED = -1e9


def remaining(alpha: np.ndarray) -> np.ndarray:
    """`[E, O]` bool: the ops not abandoned."""
    return np.asarray(alpha) > ABANDONED / 2


def candidates(alpha: np.ndarray) -> np.ndarray:
    """`[E, O]` 0/1: per edge, the remaining ops with the smaller half of alpha (rounded up).

    >>> candidates(np.array([[0.3, 0.1, 0.2, -1e9]])).tolist()
    [[0.0, 1.0, 1.0, 0.0]]
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    keep = remaining(alpha)
    out = np.zeros(alpha.shape, np.float32)
    for e in range(alpha.shape[0]):
        ops = np.flatnonzero(keep[e])
        lowest = ops[np.argsort(alpha[e, ops], kind="stable")][: (len(ops) + 1) // 2]
        out[e, lowest] = 1.0
    return out


def worst_candidates(alpha: np.ndarray, total: np.ndarray, count: np.ndarray) -> list[int]:
    """Per edge, the candidate op to abandon: the lowest mean child accuracy, an op no child
    used before any that was, ties broken by the lower alpha."""
    alpha = np.asarray(alpha, dtype=np.float64)
    picks = []
    cand = candidates(alpha)
    for e in range(alpha.shape[0]):
        ops = np.flatnonzero(cand[e])
        scores = [(total[e, o] / count[e, o] if count[e, o] > 0 else -np.inf, alpha[e, o]) for o in ops]
        picks.append(int(ops[min(range(len(ops)), key=lambda i: scores[i])]))
    return picks


def child_order(mask, child, seed: int):
    """Each edge's op for the `child`-th sampled child: `[E]` int32.

    Children `c*n .. c*n + n-1` (n = candidates per edge, read from `mask[0]`) use, on each
    edge, its candidates in a random order drawn from `(seed, c)`: sampling without
    replacement, so a cycle of `n` children rates every candidate of every edge once.
    """
    mask = tf.convert_to_tensor(mask, "float32")
    n = tf.maximum(tf.cast(tf.reduce_sum(mask[0]), "int32"), 1)
    cycle, position = child // n, child % n
    keys = tf.random.stateless_uniform(tf.shape(mask), seed=tf.stack([tf.constant(seed, "int32"), cycle]))
    order = tf.argsort(tf.where(mask > 0, keys, 2.0 + keys), axis=1, stable=True)  # candidates first
    return tf.gather(order, position, axis=1)


class OperationSpaceReduction(keras.callbacks.Callback):
    """BNAS's reduction rounds (module docstring): sets the candidates at every epoch's start
    and abandons one op per edge at the end of each round; stops training when one op is
    left per edge.

    Args:
        start: The first epoch of the first round (the architecture warm-up).
        every: Epochs per round.
    """

    def __init__(self, start: int, every: int) -> None:
        super().__init__()
        self.start, self.every = int(start), int(every)

    def round_ends(self, epoch: int) -> bool:
        """Whether 0-based `epoch` is the last epoch of a round.

        >>> OperationSpaceReduction(15, 5).round_ends(19), OperationSpaceReduction(15, 5).round_ends(20)
        (True, False)
        """
        done = epoch + 1 - self.start
        return done > 0 and done % self.every == 0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.model.refresh_candidates()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.round_ends(epoch):
            self.model.reduce_operations()
            if self.model.ops_left() <= 1:
                self.model.stop_training = True


@ALGORITHMS.register("bnas")
class Bnas(PCDarts):
    """BNAS: PC-DARTS over binarized cells with operation-space reduction (module docstring).

    References:
        Chen et al., Binarized Neural Architecture Search, arXiv 1911.10862.
        Xu et al., PC-DARTS, arXiv 1907.05737 (channel sampling, edge normalization).

    Args:
        supernet: A softmax-mixing cell supernet (binarized, as `supernet_config` builds it).
        config: Search hyper-parameters; default the `cifar` preset.
        **kwargs: Passed to `keras.Model`.

    Raises:
        ValueError: if `epochs` is not `arch_warmup_epochs + rounds * reduce_every`, or the
            supernet has no op logits.

    Example:
    >>> config = Bnas.default_config()
    >>> config.reduce_every, config.arch_warmup_epochs, config.partial_channels
    (5, 15, 4)
    """

    algorithm_name: ClassVar[str] = "bnas"
    supports_second_order: ClassVar[bool] = False
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "cifar": {**PCDarts.PRESETS["cifar"], "reduce_every": 5, "child_every": 5, "epochs": 45},
        "nb201": {**PCDarts.PRESETS["cifar"], "reduce_every": 5, "child_every": 5, "epochs": 35},
    }

    @classmethod
    def supernet_config(cls, search_config: SearchConfig, space: str, num_classes: int = 10,
                        input_shape: tuple[int, int, int] = (32, 32, 3), **overrides: Any):
        return super().supernet_config(search_config, space, num_classes, input_shape,
                                       **{"binarized": True, **overrides})

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        super().__init__(supernet, config, **kwargs)
        config = self.config
        logits = getattr(supernet, "op_logit_variables", None)
        if not logits:
            raise ValueError(f"bnas needs a cell supernet with op logits. Received: {type(supernet).__name__}")
        if config.reduce_every < 1:
            raise ValueError(f"bnas needs reduce_every >= 1. Received: reduce_every={config.reduce_every}")
        names = list(supernet.op_names)
        self._dropped_first = [names.index("none")] if "none" in names and supernet.config.space == "darts" else []
        rounds = len(names) - len(self._dropped_first) - 1
        expected = config.arch_warmup_epochs + rounds * config.reduce_every
        if config.epochs != expected:
            raise ValueError(
                f"bnas ends when one op is left per edge: {rounds} rounds of reduce_every={config.reduce_every} "
                f"epochs after arch_warmup_epochs={config.arch_warmup_epochs}, so epochs must be {expected}. "
                f"Received: epochs={config.epochs}")
        self.rounds = rounds
        self.logits = list(logits)
        shape = [tuple(int(d) for d in v.shape) for v in self.logits]
        self.candidate_mask = [keras.Variable(np.zeros(s, np.float32), trainable=False, name=f"candidates_{i}")
                               for i, s in enumerate(shape)]
        # summed over replicas in `train_step`: each evaluates the same child (same seed) on its shard
        self.child_total = [keras.Variable(np.zeros(s, np.float32), trainable=False, name=f"child_total_{i}")
                            for i, s in enumerate(shape)]
        self.child_count = [keras.Variable(np.zeros(s, np.float32), trainable=False, name=f"child_count_{i}")
                            for i, s in enumerate(shape)]
        for variable in self.logits:  # `none` leaves before the first step (a no-op on a resume)
            value = variable.numpy()
            value[:, self._dropped_first] = ABANDONED
            variable.assign(value)

    def callbacks(self, config: SearchConfig | None = None) -> list[keras.callbacks.Callback]:
        config = config or self.config
        return super().callbacks(config) + [OperationSpaceReduction(config.arch_warmup_epochs, config.reduce_every)]

    def make_train_function(self, force: bool = False):
        """Traces the step with the abandoned ops left out of the graph (an op abandoned on
        every edge of a cell's edge group is not computed), so each round's step is cheaper:
        the operation-space reduction's saving. `reduce_operations` traces it again."""
        if self.train_function is not None and not force:
            return self.train_function
        self.supernet.restrict_ops([remaining(v.numpy()) for v in self.logits])
        return super().make_train_function(force=True)

    # ------------------------------------------------------------------ reduction
    def ops_left(self) -> int:
        """The most ops any edge still has."""
        return int(max(remaining(v.numpy()).sum(axis=1).max() for v in self.logits))

    def abandon_at_random(self, rounds: int, seed: int = 0) -> None:
        """Abandons `rounds` ops per edge drawn at random, as that many rounds would (the op
        space of a later round, for measuring its step: `launch.bench search_step
        --bnas_rounds=N`); the next trace leaves them out.

        Raises:
            ValueError: unless `0 <= rounds < ` the rounds of the search.
        """
        if not 0 <= rounds < self.rounds:
            raise ValueError(f"rounds must be in [0, {self.rounds}). Received: {rounds}")
        rng = np.random.default_rng(seed)
        for variable in self.logits:
            value = variable.numpy()
            for e in range(value.shape[0]):
                value[e, rng.choice(np.flatnonzero(remaining(value[e])), size=rounds, replace=False)] = ABANDONED
            variable.assign(value)
        self.refresh_candidates()
        self.supernet.restrict_ops([remaining(v.numpy()) for v in self.logits])
        self.train_function = None

    def refresh_candidates(self) -> None:
        """Sets each edge's candidates (the lower half of its remaining ops by alpha)."""
        for variable, mask in zip(self.logits, self.candidate_mask):
            mask.assign(candidates(variable.numpy()))

    def reduce_operations(self) -> list[list[int]]:
        """Ends a round: abandons each edge's worst candidate, clears the statistics; returns
        the abandoned op per edge of each cell kind."""
        abandoned = []
        for variable, total, count in zip(self.logits, self.child_total, self.child_count):
            alpha = variable.numpy()
            if remaining(alpha).sum(axis=1).min() <= 1:
                abandoned.append([])
                continue
            picks = worst_candidates(alpha, total.numpy(), count.numpy())
            alpha[np.arange(len(picks)), picks] = ABANDONED
            variable.assign(alpha)
            total.assign(np.zeros(total.shape, np.float32))
            count.assign(np.zeros(count.shape, np.float32))
            abandoned.append(picks)
        self.refresh_candidates()
        if self.train_function is not None:  # the next steps without the abandoned ops
            self.make_train_function(force=True)
        return abandoned

    def _sample_child(self, step):
        """One op per edge from the candidates, for each cell kind: `[E, O]` one-hots.

        Without replacement, per edge: the round's children come in cycles of `n` (the
        candidates per edge, the same on every edge since each round abandons one op per
        edge), and within a cycle each edge visits its candidates in its own random order, so
        every candidate is rated once per cycle (`child_order`). The cycles count children
        from the first step, so a cycle that straddles an epoch's start (where the candidates
        are refreshed from alpha) may rate an op twice or skip one.
        """
        seed = int(self.config.seed)
        child = step // int(self.config.child_every)
        return [tf.one_hot(child_order(mask, child, seed * 7 + k), int(mask.shape[1]), dtype="float32")
                for k, mask in enumerate(self.candidate_mask)]

    def child_accuracy(self, x_val, y_val, children):
        """One sampled child's accuracy on the validation batch (this replica's shard)."""
        arch = {kind: self.supernet.child_arch(kind, child)
                for kind, child in zip(self.supernet.cell_kinds, children)}
        logits = self.supernet(x_val, training=True, arch=arch)
        labels = tf.reshape(tf.cast(y_val, "int32"), [-1])
        return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels),
                                      "float32"))

    def train_step(self, data):
        logs = super().train_step(data)
        if self._arch_step_traced:  # rounds run once the architecture warm-up is over
            (_, _), (x_val, y_val) = data
            step = tf.cast(self.weight_optimizer.iterations, "int32")
            children = self._sample_child(step)
            evaluated = tf.equal(step % int(self.config.child_every), 0)
            accuracy = tf.cond(evaluated, lambda: self.child_accuracy(x_val, y_val, children),
                               lambda: tf.constant(0.0))
            # Added at every step (zeros when no child was evaluated), outside the `tf.cond`:
            # under a multi-replica strategy the sum over replicas is a synchronisation,
            # which TensorFlow refuses inside control flow. The sum is explicit (each replica
            # rated the same child on its shard) and every replica assigns the same result.
            deltas = sum_over_replicas([accuracy * child for child in children]
                                       + [tf.cast(evaluated, "float32") * child for child in children])
            statistics = self.child_total + self.child_count
            assign_variables(statistics, [v + d for v, d in zip(read_variables(statistics), deltas)])
        return logs
