"""ROME: single-path search with disentangled topology and gradient accumulation over K samples.

The supernet (`mixing="rome"`) samples, on every call, exactly two incoming edges per node
(Gumbel top-2 over the topology logits) and one op per kept edge (hard Gumbel-softmax over
the 7 non-`none` ops). The algorithm does two accumulation rounds per step:

1. K independent sub-models on the validation batch; their architecture gradients are
   AVERAGED and the architecture is updated first;
2. K new independent sub-models on the training batch; their weight gradients are SUMMED
   (clipped as one gradient, plus coupled weight decay) and the weights are updated once.

Each round is one `tf.while_loop` whose body runs one sampled forward/backward pass and adds
its gradients to loop-carried accumulators: the graph holds one copy of the supernet step
whatever K is (trace time does not grow with K), and the iterations run one after the other
(`parallel_iterations=1`), so peak memory is that of one sampled sub-model.
"""

from __future__ import annotations

from typing import Any, ClassVar

import tensorflow as tf

from tfnas.algorithms.base import ALGORITHMS, sum_over_replicas
from tfnas.algorithms.gdas import SamplingSearch


@ALGORITHMS.register("rome")
class Rome(SamplingSearch):
    """ROME: robust memory-efficient single-path search (v2, Gumbel top-2 topology).

    Defaults: K=7 samples per round, 50 epochs, batch 64, SGD momentum 0.9 lr 0.05 cosine to
    0.001, wd 3e-4, clip 5; architecture Adam 3e-4, betas (0.5, 0.999), wd 1e-3; Gumbel
    temperature 10 -> 0.1 linear per epoch.

    References:
        Wang et al., ROME: Robustifying Memory-Efficient NAS via Topology Disentanglement
        and Gradient Accumulation, arXiv 2011.11233.

    Args:
        supernet: A supernet with `mixing="rome"` that draws a fresh sample on every call.
        config: Search hyper-parameters (`num_samples` is K).
        **kwargs: Passed to `keras.Model`.

    Raises:
        ValueError: if the supernet has no `temperature` variable.

    Example:
    >>> Rome.default_config().num_samples
    7
    """

    algorithm_name: ClassVar[str] = "rome"
    mixing: ClassVar[str] = "rome"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"cifar": {"num_samples": 7, "learning_rate": 0.05}}


    def accumulated_gradients(self, images, labels, variables, average: bool):
        """Gradients accumulated over `num_samples` independently sampled sub-models.

        Args:
            images: The batch.
            labels: Its labels.
            variables: The variables to differentiate.
            average: Divide the sum by K (architecture round) or not (weight round).

        Returns:
            `(gradients, cross_entropy, correct)`: gradients summed over replicas, and the
            per-example cross-entropy and correctness averaged over the K samples.
        """
        variables = list(variables)
        samples = int(self.config.num_samples)
        labels_flat = tf.reshape(tf.cast(labels, "int32"), [-1])
        zeros_per_example = tf.zeros_like(labels_flat, dtype="float32")

        def body(i, grads, cross_entropy, correct):
            with tf.GradientTape() as tape:
                loss, ce, ok = self.loss_terms(images, labels)
            step = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            grads = [a + g for a, g in zip(grads, step)]
            return i + 1, grads, cross_entropy + ce, correct + ok

        init = (
            tf.constant(0),
            [tf.zeros(v.shape, v.dtype) for v in variables],
            zeros_per_example,
            zeros_per_example,
        )
        _, grads, cross_entropy, correct = tf.while_loop(
            lambda i, *_: i < samples, body, init, parallel_iterations=1, maximum_iterations=samples
        )
        if average:
            grads = [g / float(samples) for g in grads]
        return sum_over_replicas(grads), cross_entropy / float(samples), correct / float(samples)

    def arch_gradients(self, x_train, y_train, x_val, y_val):
        return self.accumulated_gradients(x_val, y_val, self.supernet.arch_variables, average=True)

    def weight_gradients(self, x_train, y_train):
        return self.accumulated_gradients(x_train, y_train, self.supernet.weight_variables, average=False)
