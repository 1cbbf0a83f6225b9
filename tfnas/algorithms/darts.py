"""DARTS, first order (`darts`) and second order (`darts2`).

First order (xi = 0) takes the architecture gradient of the validation loss at the current
weights. Second order follows the reference `architect.py`: the architecture gradient of
`L_val(w', alpha)` at the virtually stepped weights

    w' = w - xi * (momentum * buf + grad_w L_train(w, alpha) + wd * w)

(one step of the weight optimizer, its momentum and coupled weight decay included, no
clipping, xi = the weight learning rate of this step), minus xi times the Hessian-vector
product `grad_alpha grad_w L_train(w, alpha) . grad_w' L_val(w', alpha)`, taken by central
finite differences at `w +- eps * grad_w' L_val` with `eps = 0.01 / ||grad_w' L_val||`.

The virtual step temporarily assigns the weight variables inside the traced step and
restores them from tensor snapshots taken before it, so the weights are bitwise those of
before the architecture step (the reference restores by adding and subtracting, which
leaves rounding error). With Keras's SGD the momentum slot holds `m = momentum * m - lr * g`
(the learning rate applied when accumulated) rather than PyTorch's raw buffer; the virtual
step uses it as the real Keras step would, `w' = w + momentum * m - xi * (g + wd * w)`
(Nesterov variant likewise), which equals the reference whenever the learning rate is
constant between two steps.
"""

from __future__ import annotations

from typing import Any, ClassVar

import tensorflow as tf

from tfnas.algorithms.base import (
    ALGORITHMS,
    BilevelSearch,
    assign_variables,
    read_variables,
)


@ALGORITHMS.register("darts")
class Darts(BilevelSearch):
    """DARTS: softmax-weighted sum of all ops per edge, alternating bilevel steps.

    `config.order == 2` switches to the unrolled (second-order) architecture gradient; the
    `darts2` algorithm is this class with `order=2` by default.

    References:
        Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.

    Args:
        supernet: A supernet with `mixing="softmax"`.
        config: Search hyper-parameters; default `Darts.default_config()` (50 epochs,
            batch 64, SGD 0.025 cosine to 0.001, momentum 0.9, wd 3e-4, clip 5; Adam 3e-4,
            betas (0.5, 0.999), wd 1e-3).
        **kwargs: Passed to `keras.Model`.

    Example:
    >>> config = Darts.default_config().replace(epochs=1)
    >>> search = build_search(config, "nb201", 10, (16, 16, 3), steps_per_epoch=4)  # doctest: +SKIP
    """

    algorithm_name: ClassVar[str] = "darts"
    supports_second_order: ClassVar[bool] = True
    #: `nb201`: the NAS-Bench-201 benchmark's DARTS configuration (arXiv 2001.00326, its
    #: released DARTS config: 50 epochs, batch 64, SGD lr 0.025 -> 0.001, weight decay 5e-4,
    #: Nesterov momentum), which gave the published 54.30 collapse.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"cifar": {}, "nb201": {"weight_decay": 5e-4, "nesterov": True}}

    @property
    def search_step_passes(self) -> int:
        """Forward-backward passes of one step, for `launch.bench`'s FLOP count.

        First order: validation and training batches (2). Second order adds the virtual
        step's training pass and the two finite-difference passes (5).
        """
        return 5 if self.config.order == 2 else 2

    def arch_gradients(self, x_train, y_train, x_val, y_val):
        if self.config.order == 2:
            return self.unrolled_arch_gradients(x_train, y_train, x_val, y_val)
        return super().arch_gradients(x_train, y_train, x_val, y_val)

    def _virtual_weights(self, weights, grads, xi):
        """One step of the weight optimizer from `weights` (tensors), without clipping."""
        optimizer = self.weight_optimizer
        momentum = float(self.config.momentum)
        decay = float(self.config.weight_decay)
        stepped = []
        for variable, w, g in zip(self.supernet.weight_variables, weights, grads):
            direction = g + decay * w if decay > 0 else g
            if momentum > 0:
                slot = optimizer.momentums[optimizer._get_variable_index(variable)]
                m_new = momentum * tf.convert_to_tensor(slot) - xi * direction
                step = momentum * m_new - xi * direction if self.config.nesterov else m_new
            else:
                step = -xi * direction
            stepped.append(w + step)
        return stepped

    def unrolled_arch_gradients(self, x_train, y_train, x_val, y_val):
        """Second-order architecture gradient (DARTS eq. 7-8).

        Returns:
            `(gradients, cross_entropy, correct)`, the last two on the validation batch at
            the virtually stepped weights. Gradients are summed over replicas.
        """
        weight_vars = self.supernet.weight_variables
        arch_vars = self.supernet.arch_variables
        num_arch = len(arch_vars)
        xi = tf.cast(self.weight_optimizer.learning_rate, "float32")
        original = read_variables(weight_vars)

        train_grads, _, _ = self.gradients(x_train, y_train, weight_vars)
        assign_variables(weight_vars, self._virtual_weights(original, train_grads, xi))

        val_grads, cross_entropy, correct = self.gradients(x_val, y_val, list(arch_vars) + list(weight_vars))
        arch_grads, vector = val_grads[:num_arch], val_grads[num_arch:]
        norm = tf.maximum(tf.linalg.global_norm(vector), 1e-12)
        radius = self.config.unrolled_eps / norm

        assign_variables(weight_vars, [w + radius * v for w, v in zip(original, vector)])
        grads_plus, _, _ = self.gradients(x_train, y_train, arch_vars)
        assign_variables(weight_vars, [w - radius * v for w, v in zip(original, vector)])
        grads_minus, _, _ = self.gradients(x_train, y_train, arch_vars)
        assign_variables(weight_vars, original)  # Exact restore from the snapshots.

        hypergrads = [
            g - xi * (p - m) / (2.0 * radius) for g, p, m in zip(arch_grads, grads_plus, grads_minus)
        ]
        return hypergrads, cross_entropy, correct


@ALGORITHMS.register("darts2")
class Darts2(Darts):
    """Second-order DARTS: `Darts` with `order=2` (the unrolled architecture step).

    References:
        Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.
    """

    algorithm_name: ClassVar[str] = "darts2"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "cifar": {"order": 2}, "nb201": {"order": 2, "weight_decay": 5e-4, "nesterov": True},
    }
