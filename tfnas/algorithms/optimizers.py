"""`FusedSGD`: Keras's SGD with momentum, each variable's update one TensorFlow kernel.

Keras 3's `SGD.update_step` writes the momentum update as separate ops (casts, reads, two
multiplies, a subtract, an assign and an assign-add: about ten graph ops per variable). A
DARTS supernet has about 400 weight variables, so its search step's graph holds about 4,000
optimizer ops; each costs trace and Grappler time in the step's first call, which is most
of that call (`launch.bench search_step` prints it). TensorFlow's
`ResourceApplyKerasMomentum` kernel computes the same update in one op: `m = momentum * m -
lr * g; w += m` (Nesterov: `w += momentum * m - lr * g`), the formula Keras's SGD uses
(and the one tf.keras 2's SGD ran through this kernel).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfnas")
class FusedSGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose momentum update runs as one kernel per variable.

    Same arguments, slots, checkpoints and results as `keras.optimizers.SGD`: only the graph
    of `update_step` differs, and only where it can (TensorFlow backend, momentum > 0, a
    dense gradient); elsewhere Keras's own update runs.

    Example:
        >>> import numpy as np
        >>> w = keras.Variable(np.ones(3, np.float32))
        >>> opt = FusedSGD(0.1, momentum=0.9)
        >>> opt.apply_gradients([(np.full(3, 2.0, np.float32), w)])
        >>> [round(float(v), 4) for v in w.numpy()]
        [0.8, 0.8, 0.8]
    """

    def update_step(self, gradient, variable, learning_rate):
        if (self.momentum == 0 or isinstance(gradient, tf.IndexedSlices)
                or keras.backend.backend() != "tensorflow"):
            return super().update_step(gradient, variable, learning_rate)
        momentum = self.momentums[self._get_variable_index(variable)]
        target = variable.value if isinstance(variable, keras.Variable) else variable
        slot = momentum.value if isinstance(momentum, keras.Variable) else momentum
        dtype = target.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=target.handle,
            accum=slot.handle,
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=tf.constant(self.momentum, dtype),
            use_nesterov=self.nesterov,
        )
