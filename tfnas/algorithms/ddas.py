"""DDAS: Direct Differentiable Augmentation Search, with the exact direct policy gradient.

One search step on `((x_train, y_train), (x_val, y_val))` (normalised, cropped and flipped):

1. Draw each training image's sample from the two-level policy: apply with probability
   `s`, and if so one `(op, level)` entry per stage; augment the batch grouped by op.
   The mean loss of this batch is an unbiased estimate of the relaxed training loss
   `L_train(w) = (1 - s) L_clean(w) + s * sum_k p(k) L_k(w)`.
2. Gradient `g = grad_w L_train(w)` (one forward/backward pass) and the inner plain-SGD
   step `w' = w - eta g` (`eta` = the current weight learning rate; no momentum, no decay,
   which is what makes step 4 exact).
3. `g_val = grad_w L_val(w')` on the validation batch (one forward/backward pass at `w'`).
4. The direct gradient `dL_val(w')/dtheta = -eta sum_k dp_k/dtheta <g_val, grad_w L_k(w)>`
   needs, for every training image i, `r_i = <g_val, grad_w l_i(w)>`. All `r_i` come from ONE
   forward-mode pass (`tf.autodiff.ForwardAccumulator`: the directional derivative of each
   image's loss along `g_val`), exact, with no per-image backward pass, no finite
   differences and no Gumbel-softmax. Estimates per batch, with the clean images' mean
   `R_c` as the baseline (the paper's clean-batch inner product):
   `dL/ds = -eta (R_aug - R_c)`, `dL/dtheta = -eta s mean_{i augmented} grad log p(k_i) (r_i - R_c)`.
5. Policy update (Adam, logits lr 0.005, apply lr 0.001), then the real weight update with
   the same `g` (clipped, coupled weight decay, SGD with momentum, cosine learning rate).

Distribution. Under a `tf.distribute` strategy the step is the one-device step on the global
batch: the sample is the global batch's (`PolicySampler`), `g` and `g_val` are summed over the
replicas, the inner step and its restore are assigned identically on every replica
(`assign_variables`: a mirrored variable cannot be assigned directly in a replica context),
the counts `n_aug`, `n_clean` and the sums of `r_i` over the clean and the augmented images
are summed over the replicas before the means are formed, and the policy gradient is summed
over the replicas (each `r_i` is computed on the replica holding image i).

Cost: two forward/backward passes plus one forward-mode pass on a batch, against one
forward/backward pass for plain training: about 3x a plain step (measured by
`python -m launch.bench augment_step --method=ddas`; TensorFlow computes the forward-mode pass
as a double backward, so it costs about a training step).

`inner_product="last_layer"` (an approximation, not the paper's): `r_i` is taken over the
classifier's weights only, `r_i = (softmax(z_i) - onehot(y_i)) . (h_i G_W + G_b)` with `h_i`
the classifier's input and `z_i` the logits of step 2's forward pass, and `G_W, G_b` the
classifier's part of `g_val`; step 3 then back-propagates only into the classifier. No
forward-mode pass and a cheaper validation pass: about 1.5x a plain step. The classifier's
gradient is the usual stand-in for a per-example gradient where the full one is too dear
(Katharopoulos & Fleuret, arXiv 1803.00942; GRAD-MATCH, Killamsetty et al., arXiv
2103.00123); it keeps the sign and scale of how an image's loss moves the logits the
validation batch wants, and drops how it moves the features. The official code estimates the sum
over k with three sub-policies each applied to a whole copy of the batch plus a clean copy
(about five passes); grouping one batch by sampled sub-policy replaces the copies.

References:
    Liu et al., Direct Differentiable Augmentation Search, arXiv 2104.04282.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import keras
import tensorflow as tf

from tfnas.algorithms.augment_search import AUGMENT_SEARCHES, AugmentSearch, global_mean
from tfnas.algorithms.base import assign_variables, num_replicas, read_variables, sum_over_replicas


def directional_derivatives(search: AugmentSearch, images: tf.Tensor, labels: tf.Tensor,
                            tangents: list[tf.Tensor]) -> tf.Tensor:
    """Returns `[B]` `r_i = <tangents, grad_w l_i(w)>` for every image, by one forward-mode pass.

    Args:
        search: The search (its network and weight variables).
        images: The batch.
        labels: Its labels.
        tangents: One tensor per weight variable (the direction, e.g. `grad_w L_val(w')`).

    Returns:
        The per-image directional derivatives of the training-mode cross-entropy.
    """
    variables = [v.value if hasattr(v, "value") else v for v in search.weight_variables]
    with tf.autodiff.ForwardAccumulator(variables, tangents) as accumulator:
        ce, _ = search.per_example_loss(images, labels)
    return accumulator.jvp(ce, unconnected_gradients=tf.UnconnectedGradients.ZERO)


@dataclasses.dataclass(frozen=True)
class ClassifierHead:
    """A network's linear classifier and a model mapping its input to `[classifier input, logits]`.

    A plain object, not a Keras one, so a search holding it saves no second copy of the
    network's variables in its checkpoints.
    """

    layer: keras.layers.Dense
    features: keras.Model

    @classmethod
    def of(cls, network: keras.Model) -> ClassifierHead:
        """The head of a network whose last layer is a linear `Dense` on logits (sharing its layers).

        Raises:
            ValueError: if the network's last layer is not a linear `Dense` layer.
        """
        layer = network.layers[-1] if network.layers else None
        if not isinstance(layer, keras.layers.Dense) or layer.activation not in (None, keras.activations.linear):
            raise ValueError(
                f"inner_product='last_layer' needs a network whose last layer is a linear Dense classifier; "
                f"{network.name!r} ends in {type(layer).__name__}. Use inner_product='exact'.")
        return cls(layer, keras.Model(network.inputs, [layer.input, network.outputs[0]],
                                      name=f"{network.name}_features"))

    @property
    def variables(self) -> list:
        """The classifier's kernel, then its bias if it has one."""
        return [self.layer.kernel] + ([self.layer.bias] if self.layer.use_bias else [])


def last_layer_inner_products(features: tf.Tensor, logits: tf.Tensor, labels: tf.Tensor,
                              kernel_grad: tf.Tensor, bias_grad: tf.Tensor | None) -> tf.Tensor:
    """`[B]` `<(G_W, G_b), grad_{W, b} l_i>` for the cross-entropy of a linear classifier, in closed form.

    For logits `z_i = h_i W + b`, `grad_W l_i = h_i^T e_i` and `grad_b l_i = e_i` with
    `e_i = softmax(z_i) - onehot(y_i)`, so the inner product is `e_i . (h_i G_W + G_b)`.

    Args:
        features: `[B, D]` classifier inputs `h_i`.
        logits: `[B, C]` logits `z_i`.
        labels: `[B]` int labels.
        kernel_grad: `[D, C]` `G_W`.
        bias_grad: `[C]` `G_b`, or None for a classifier without bias.
    """
    features = tf.cast(features, tf.float32)
    logits = tf.cast(logits, tf.float32)
    errors = tf.nn.softmax(logits) - tf.one_hot(tf.reshape(tf.cast(labels, tf.int32), [-1]), tf.shape(logits)[-1])
    direction = tf.matmul(features, tf.cast(kernel_grad, tf.float32))
    if bias_grad is not None:
        direction += tf.cast(bias_grad, tf.float32)[None]
    return tf.reduce_sum(errors * direction, axis=-1)


@AUGMENT_SEARCHES.register("ddas")
class DdasSearch(AugmentSearch):
    """DDAS on a fixed network: the direct policy gradient through one inner SGD step, exact
    (default) or with last-layer inner products (`config.inner_product`).

    References:
        Liu et al., Direct Differentiable Augmentation Search, arXiv 2104.04282.

    Example:
    >>> search = build_augment_search(AugmentSearchConfig(method="ddas"), (32, 32, 3), 10,
    ...                               steps_per_epoch=31)  # doctest: +SKIP
    """

    method: ClassVar[str] = "ddas"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._head = None
        if self.config.inner_product == "last_layer":
            self._head = ClassifierHead.of(self.network)

    def policy_gradients(self, r: tf.Tensor, apply: tf.Tensor, picks: tf.Tensor,
                         eta: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The direct gradients `(dL_val/dlogits, dL_val/dapply_logit)` from the inner products `r`.

        Under a strategy `r`, `apply` and `picks` are this replica's rows; the counts and sums
        are taken over the global batch and the returned gradients are the global ones (the
        same on every replica).
        """
        n_aug, n_clean, sum_clean, sum_aug = sum_over_replicas([
            tf.reduce_sum(apply), tf.reduce_sum(1.0 - apply), tf.reduce_sum((1.0 - apply) * r),
            tf.reduce_sum(apply * r)])
        r_clean = tf.math.divide_no_nan(sum_clean, n_clean)
        r_aug = tf.math.divide_no_nan(sum_aug, n_aug)
        both = tf.cast((n_aug > 0) & (n_clean > 0), tf.float32)
        policy = self.policy
        with tf.GradientTape() as tape:
            s = policy.apply_probability()
            # Identical on every replica: its share, so that the sum over replicas counts it once.
            term_s = s * tf.stop_gradient((r_aug - r_clean) * both) / float(num_replicas())
            log_p = policy.entry_log_prob(picks)
            term_theta = tf.stop_gradient(s) * tf.math.divide_no_nan(
                tf.reduce_sum(apply * log_p * tf.stop_gradient(r - r_clean)), n_aug)
            surrogate = -eta * (term_s + term_theta)
        grads = tape.gradient(
            surrogate, [policy.logits, policy.apply_logit], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        logits_grad, apply_grad = sum_over_replicas(grads)
        return logits_grad, apply_grad

    def train_step(self, data):
        (x_train, y_train), (x_val, y_val) = data
        variables = self.weight_variables
        x_aug, apply, picks = self.learner.sampler.augment(x_train, self.seed())
        # 1-2: training gradient at w (summed over replicas), inner step.
        grads, ce, correct, outputs = self.weight_gradients(
            x_aug, y_train, model=None if self._head is None else self._head.features)
        eta = tf.cast(self.weight_optimizer.learning_rate, tf.float32)
        originals = read_variables(variables)
        assign_variables(variables, [w - eta * g for w, g in zip(originals, grads)])
        # 3: validation gradient at w' (summed over replicas); only the classifier's for last_layer.
        targets = variables if self._head is None else self._head.variables
        with tf.GradientTape() as tape:
            val_ce, val_correct = self.per_example_loss(x_val, y_val)
            val_loss = tf.reduce_mean(val_ce) / float(num_replicas())
        val_grads = sum_over_replicas(
            tape.gradient(val_loss, targets, unconnected_gradients=tf.UnconnectedGradients.ZERO))
        assign_variables(variables, originals)  # exact restore from the snapshots
        # 4: per-image inner products at w, then the policy update.
        if self._head is None:
            r = directional_derivatives(self, x_aug, y_train, val_grads)
        else:
            features, logits = outputs
            r = last_layer_inner_products(features, logits, y_train, val_grads[0],
                                          val_grads[1] if len(val_grads) > 1 else None)
        logits_grad, apply_grad = self.policy_gradients(r, apply, picks, eta)
        self.learner.apply_gradients(logits_grad, apply_grad)
        # 5: the real weight update with the same training gradient.
        self.apply_weight_gradients(grads)
        self.loss_tracker.update_state(ce)
        self.accuracy_tracker.update_state(correct)
        self.val_loss_tracker.update_state(val_ce)
        self.val_accuracy_tracker.update_state(val_correct)
        self.reward_tracker.update_state(-global_mean(val_ce))
        self.track_policy()
        return self.logs()
