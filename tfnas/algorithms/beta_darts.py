"""beta-DARTS: first-order DARTS with the Beta-Decay regularisation of the architecture.

The architecture loss is `L_val + lambda(e) * mean_edges logsumexp(alpha_edge)` over every
edge of every cell kind's op logits (the official code's `mlc_loss`). Its gradient,
`lambda * softmax(alpha_edge) / E` per edge, pulls every logit down in proportion to its
weight, so no op's logit can run away (the collapse to parameter-free ops comes from
logits that grow without bound) and the softmax stays sensitive. `lambda` rises linearly
from 0 at the first epoch, set once per epoch by `BetaDecaySchedule`:
`lambda(e) = beta_decay_max * e / epochs`. The official code writes `50 * epoch / 100` at its
default 100 epochs, which is this schedule with `beta_decay_max = 50`; a run with fewer
epochs reaches the same final weight. Everything else is first-order DARTS (the official
NB201 search runs DARTS's CIFAR hyper-parameters, 100 epochs: the `nb201` preset).

Published (arXiv 2203.01665, Table 1, NAS-Bench-201 CIFAR-10 test): 94.36 +- 0.00 (the
table's best cell on every run); CIFAR-100 73.51, ImageNet16-120 46.34.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import tensorflow as tf

from tfnas.algorithms.base import ALGORITHMS
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.darts import Darts


class BetaDecaySchedule(keras.callbacks.Callback):
    """Sets `algorithm.beta_decay_weight` to `beta_decay_max * e / epochs` at the start of
    0-based epoch `e` (resumed runs included).

    Example:
    >>> BetaDecaySchedule(100, 50.0).value(10)
    5.0
    """

    def __init__(self, epochs: int, beta_decay_max: float) -> None:
        super().__init__()
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer. Received: epochs={epochs!r}")
        self.epochs = epochs
        self.beta_decay_max = float(beta_decay_max)

    def value(self, epoch: int) -> float:
        """The regularisation weight of 0-based `epoch`."""
        return self.beta_decay_max * min(max(epoch, 0), self.epochs) / self.epochs

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.model.beta_decay_weight.assign(self.value(epoch))


def beta_decay_gradients(logits: list[Any], weight) -> list[Any]:
    """Gradients of `weight * mean over all edges of logsumexp(alpha_edge)` w.r.t. each
    `[E, O]` logit tensor: `weight * softmax(alpha, axis=-1) / total_edges`."""
    edges = sum(int(v.shape[0]) for v in logits)
    return [tf.cast(weight, v.dtype) * tf.nn.softmax(tf.convert_to_tensor(v), axis=-1) / float(edges)
            for v in logits]


@ALGORITHMS.register("beta_darts")
class BetaDarts(Darts):
    """beta-DARTS: first-order DARTS plus the Beta-Decay regularisation of alpha.

    References:
        Ye et al., beta-DARTS: Beta-Decay Regularization for Differentiable Architecture
        Search, arXiv 2203.01665 (official code: Sunshine-Ye/Beta-DARTS, `mlc_loss`).

    Args:
        supernet: A softmax-mixing cell supernet.
        config: Search hyper-parameters; default DARTS's with `beta_decay_max=50`.
        **kwargs: Passed to `keras.Model`.

    Raises:
        ValueError: for `order=2` (the regularised step is first order, as in the official
            NB201 search) or a supernet without op logits.

    Example:
    >>> BetaDarts.default_config("nb201").epochs, BetaDarts.default_config().beta_decay_max
    (100, 50.0)
    """

    algorithm_name: ClassVar[str] = "beta_darts"
    supports_second_order: ClassVar[bool] = False
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "cifar": {"beta_decay_max": 50.0},
        "nb201": {"beta_decay_max": 50.0, "epochs": 100},
    }

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        super().__init__(supernet, config, **kwargs)
        if not getattr(supernet, "op_logit_variables", None):
            raise ValueError(f"beta_darts needs a cell supernet with op logits. Received: {type(supernet).__name__}")
        self.beta_decay_weight = keras.Variable(0.0, trainable=False, dtype="float32", name="beta_decay_weight")

    def callbacks(self, config: SearchConfig | None = None) -> list[keras.callbacks.Callback]:
        config = config or self.config
        return super().callbacks(config) + [BetaDecaySchedule(config.epochs, config.beta_decay_max)]

    def arch_gradients(self, x_train, y_train, x_val, y_val):
        grads, cross_entropy, correct = super().arch_gradients(x_train, y_train, x_val, y_val)
        logits = self.supernet.op_logit_variables
        extra = dict(zip((id(v) for v in logits), beta_decay_gradients(logits, self.beta_decay_weight)))
        grads = [g + extra[id(v)] if id(v) in extra else g for g, v in zip(grads, self.supernet.arch_variables)]
        return grads, cross_entropy, correct
