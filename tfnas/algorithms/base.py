"""`BilevelSearch`: the Keras model that runs a differentiable architecture search.

The algorithm owns the supernet (the pattern of Keras's GAN example) and overrides
`train_step` with the bilevel step: the architecture parameters take a step on the
validation batch, the weights a step on the training batch, each with its own optimizer
applied only to its own variable group. This is the one place of tfnas where TensorFlow
training code (`tf.GradientTape`, `tf.distribute`, `tf.while_loop`) lives.

Distribution. Under a `tf.distribute` strategy every replica computes the mean loss of its
slice of the global batch divided by the number of replicas, and the gradients are summed
over replicas explicitly (`ReplicaContext.all_reduce`) BEFORE clipping and weight decay, so a
step equals the single-device step on the whole batch (Keras's own `global_clipnorm` clips
each replica's partial gradient before the sum, which would not). Keras's optimizer then sums
the gradients over replicas once more; they are handed to it divided by the replica count,
which makes that sum the identity (exactly, for a power-of-two replica count). BatchNorm
batch statistics are per replica, as with any data-parallel Keras model.

Conditional architecture steps (the PC-DARTS warm-up) are not a `tf.cond` in the graph:
a cross-replica synchronisation point (the optimizer update) inside a `tf.cond` is refused by
`MirroredStrategy`. Instead `make_train_function` traces two step functions, with and
without the architecture step, and each call runs the one `arch_enabled` selects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import keras
import tensorflow as tf

from tfnas.algorithms.config import SearchConfig
from tfnas.registry import Registry
from tfnas.runs import reducible_logs

#: Name -> `BilevelSearch` subclass, under the CLI names (darts, darts2, darts_minus, ...).
ALGORITHMS: Registry[type] = Registry("algorithm")

#: Default (channels, layers) of the search networks per space: DARTS 16 channels, 8 cells;
#: NAS-Bench-201 16 channels, 5 cells per stage.
SPACE_DEFAULTS: dict[str, tuple[int, int]] = {"darts": (16, 8), "nb201": (16, 5)}


def num_replicas() -> int:
    """Returns the number of replicas of the current strategy (1 without one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def _in_replica_context_of_strategy() -> bool:
    return tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()


def sum_over_replicas(tensors: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    """Sums each tensor over the replicas (identity without a strategy or with one replica)."""
    tensors = list(tensors)
    if not tensors or num_replicas() == 1 or not _in_replica_context_of_strategy():
        return tensors
    return list(tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, tensors))


def apply_global_gradients(optimizer: keras.optimizers.Optimizer, grads: Sequence[tf.Tensor],
                           variables: Sequence[keras.Variable]) -> None:
    """Applies gradients that are already the global ones (summed over replicas) with `optimizer`.

    In a replica context of a multi-replica strategy Keras's optimizer sums the gradients over
    the replicas once more, so they are handed to it divided by the replica count (exactly the
    identity for a power-of-two replica count). Elsewhere they are applied as they are.
    """
    grads = list(grads)
    replicas = num_replicas()
    if replicas > 1 and _in_replica_context_of_strategy():
        grads = [g / float(replicas) for g in grads]
    optimizer.apply(grads, list(variables))


def _tf_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


def _assign(variable, value):
    return variable.assign(value)


def assign_variables(variables: Sequence[keras.Variable], values: Sequence[tf.Tensor]) -> None:
    """Assigns `values` to `variables` inside a (possibly distributed) train step.

    In a replica context of a strategy, a mirrored variable cannot be assigned directly;
    the assignment goes through `merge_call` and `strategy.extended.update`, each replica's
    copy receiving that replica's value (the values here are identical on every replica,
    since they are computed from gradients summed over replicas).
    """
    variables = [_tf_variable(v) for v in variables]
    values = list(values)
    if not _in_replica_context_of_strategy():
        for variable, value in zip(variables, values):
            variable.assign(value)
        return

    def _merge(strategy, *per_replica_values):
        for variable, value in zip(variables, per_replica_values):
            strategy.extended.update(variable, _assign, args=(value,), group=False)

    tf.distribute.get_replica_context().merge_call(_merge, args=tuple(values))


def read_variables(variables: Sequence[keras.Variable]) -> list[tf.Tensor]:
    """Returns tensor snapshots of `variables` (this replica's copy under a strategy)."""
    return [tf.identity(_tf_variable(v)) for v in variables]



def classification_terms(logits, labels) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-example cross-entropy (from logits, in float32) and correctness (1.0 / 0.0)."""
    labels = tf.reshape(tf.cast(labels, "int32"), [-1])
    logits = tf.cast(logits, "float32")
    cross_entropy = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), "float32")
    return cross_entropy, correct


class BilevelSearch(keras.Model):
    """A differentiable architecture search: a supernet plus its bilevel train step.

    Subclasses set `algorithm_name`, `mixing` (the supernet's mixing mode), `PRESETS`
    (paper defaults) and override `arch_gradients` / `weight_gradients` where the method
    differs from first-order DARTS. The step is: architecture step on `(x_val, y_val)`, then
    weight step on `(x_train, y_train)` (`arch_step_first = False` swaps them, as GDAS's
    reference code does).

    Weight step: gradients of the mean cross-entropy, summed over replicas, clipped to
    `config.grad_clip` global norm, plus the coupled weight decay `config.weight_decay * w`
    (PyTorch style: before momentum), then `weight_optimizer`. Architecture step: gradient
    plus `config.arch_weight_decay * alpha` (PyTorch Adam's coupled decay), then
    `arch_optimizer`. Neither optimizer touches the other group.

    Metrics (`keras.metrics.Mean`): `loss` and `accuracy` on the training batches,
    `val_loss` and `val_accuracy` on the validation batches of the architecture step.

    References:
        Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.

    Args:
        supernet: A `tfnas.supernets.Supernet` (or any `keras.Model` with `arch_variables`
            and `weight_variables`).
        config: The search hyper-parameters; None uses `default_config()`.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    Raises:
        ValueError: if `supernet` lacks `arch_variables` / `weight_variables`, or `config`
            asks for something the algorithm cannot do (e.g. `order=2` on GDAS).
        TypeError: if `config` is not a `SearchConfig`.

    Example:
    >>> search = build_search(Darts.default_config(), "nb201", 10, (32, 32, 3),
    ...                       steps_per_epoch=390)  # doctest: +SKIP
    >>> search.fit(data, epochs=50, steps_per_epoch=390,
    ...            callbacks=search.callbacks())  # doctest: +SKIP
    """

    algorithm_name: ClassVar[str] = ""
    #: True where the method changes the built-in cell supernet (a space written in Keras is refused)
    needs_cell_supernet: ClassVar[bool] = False
    mixing: ClassVar[str] = "softmax"
    arch_step_first: ClassVar[bool] = True
    supports_second_order: ClassVar[bool] = False
    DEFAULT_PRESET: ClassVar[str] = "cifar"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"cifar": {}}
    #: Supernet-structure overrides implied by the method (aux_skip, partial channels, ...).
    SUPERNET_FIELDS: ClassVar[tuple[str, ...]] = ("partial_channels", "edge_normalization", "aux_skip")

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for attr in ("arch_variables", "weight_variables"):
            if not hasattr(supernet, attr):
                raise ValueError(
                    f"supernet must expose `{attr}` (a tfnas.supernets.Supernet). "
                    f"Received: supernet={type(supernet).__name__}"
                )
        if config is None:
            config = self.default_config()
        if not isinstance(config, SearchConfig):
            raise TypeError(f"config must be a SearchConfig. Received: config={type(config).__name__}")
        if config.order == 2 and not self.supports_second_order:
            raise ValueError(
                f"{type(self).__name__} has no second-order (unrolled) step. Received: order={config.order}"
            )
        self.supernet = supernet
        self.config = config
        self.arch_enabled = keras.Variable(1.0, trainable=False, dtype="float32", name="arch_enabled")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.val_loss_tracker = keras.metrics.Mean(name="val_loss")
        self.val_accuracy_tracker = keras.metrics.Mean(name="val_accuracy")
        self.weight_optimizer = None
        self.arch_optimizer = None
        self._arch_step_traced = True
        self._step_forward = None  # the shared forward function while train_step is traced

    # ------------------------------------------------------------------ defaults
    @classmethod
    def default_config(cls, preset: str | None = None) -> SearchConfig:
        """Returns the paper's defaults (`preset`: e.g. `"cifar"`, `"imagenet"`, `"nb201"`).

        Raises:
            ValueError: for an unknown `preset`.
        """
        preset = preset or cls.DEFAULT_PRESET
        if preset not in cls.PRESETS:
            raise ValueError(f"Unknown preset for {cls.algorithm_name}: known {sorted(cls.PRESETS)}. "
                             f"Received: preset={preset!r}")
        return SearchConfig(algorithm=cls.algorithm_name, **cls.PRESETS[preset])

    @classmethod
    def supernet_config(
        cls,
        search_config: SearchConfig,
        space: str,
        num_classes: int = 10,
        input_shape: tuple[int, int, int] = (32, 32, 3),
        **overrides: Any,
    ):
        """Returns the `SupernetConfig` this algorithm searches with.

        Args:
            search_config: The search hyper-parameters (channels, layers, seed, method flags).
            space: `"darts"` or `"nb201"`.
            num_classes: Number of classes.
            input_shape: `(H, W, C)` of the images.
            **overrides: Any other `SupernetConfig` field.

        Returns:
            A `tfnas.supernets.config.SupernetConfig`.

        Raises:
            ValueError: for an unknown `space`.
        """
        from tfnas.supernets.config import SupernetConfig

        if space not in SPACE_DEFAULTS:
            raise ValueError(f"space must be one of {sorted(SPACE_DEFAULTS)}. Received: space={space!r}")
        channels, layers = SPACE_DEFAULTS[space]
        fields = {
            "space": space,
            "channels": search_config.channels or channels,
            "layers": search_config.layers or layers,
            "num_classes": int(num_classes),
            "input_shape": tuple(int(s) for s in input_shape),
            "mixing": cls.mixing,
            "partial_channels": search_config.partial_channels,
            "edge_normalization": search_config.edge_normalization,
            "aux_skip": search_config.aux_skip,
            "seed": search_config.seed,
        }
        fields.update(overrides)
        return SupernetConfig(**fields)

    def callbacks(self, config: SearchConfig | None = None) -> list[keras.callbacks.Callback]:
        """Returns the schedule callbacks the method needs (pass them to `fit`)."""
        from tfnas.algorithms.schedules import ArchWarmup

        config = config or self.config
        return [ArchWarmup(config.arch_warmup_epochs)] if config.arch_warmup_epochs > 0 else []

    # ------------------------------------------------------------------ Keras plumbing
    def call(self, images, training: bool | None = None):
        return self.supernet(images, training=training)

    def build(self, input_shape=None) -> None:
        """Builds the supernet for `input_shape` (`(batch, H, W, C)`)."""
        if input_shape is not None and not self.supernet.built:
            self.supernet.build(tuple(input_shape))
        self.built = True

    def compile(
        self,
        weight_optimizer: keras.optimizers.Optimizer,
        arch_optimizer: keras.optimizers.Optimizer,
        jit_compile: bool = False,
        **kwargs: Any,
    ) -> None:
        """Sets the two optimizers (weights: `weight_optimizer`, architecture: `arch_optimizer`).

        `jit_compile` defaults to False: XLA-compiling a whole supernet step does not finish
        in reasonable time (environment.md). Other arguments go to `keras.Model.compile`.

        Raises:
            ValueError: if an optimizer is missing or both are the same object.
        """
        if weight_optimizer is None or arch_optimizer is None:
            raise ValueError("compile needs both weight_optimizer and arch_optimizer.")
        if weight_optimizer is arch_optimizer:
            raise ValueError("weight_optimizer and arch_optimizer must be two different optimizers.")
        super().compile(optimizer=weight_optimizer, jit_compile=jit_compile, **kwargs)
        self.weight_optimizer = weight_optimizer
        self.arch_optimizer = arch_optimizer

    def build_optimizers(self) -> None:
        """Builds both optimizers on their variable groups (call inside `strategy.scope()`).

        Keras's `fit` under a strategy needs them built before it starts (environment.md).
        """
        if self.weight_optimizer is None:
            raise ValueError("Call compile(weight_optimizer, arch_optimizer) before build_optimizers().")
        if not self.weight_optimizer.built:
            self.weight_optimizer.build(self.supernet.weight_variables)
        if not self.arch_optimizer.built:
            self.arch_optimizer.build(self.supernet.arch_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras's fit, for a model created under a strategy, pulls one batch from the
        # iterator and `strategy.reduce`s it to build the model symbolically. That batch is
        # lost to training, and under MultiWorkerMirroredStrategy the reduce of a nested
        # batch fails ("Attempt to convert a value (PerReplica...) to a Tensor"). A search
        # is built explicitly (`build` + `build_optimizers`, which fit under a strategy needs
        # anyway), so the symbolic build is skipped then.
        optimizers_built = all(o is not None and o.built for o in (self.weight_optimizer, self.arch_optimizer))
        if self.built and self.supernet.built and optimizers_built:
            return
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.accuracy_tracker, self.val_loss_tracker, self.val_accuracy_tracker]

    def make_train_function(self, force: bool = False):
        """Traces (lazily) one step with and one without the architecture step.

        Each call runs the step `arch_enabled` selects (read on the host once per call);
        both tracings happen at most once.
        """
        if self.train_function is not None and not force:
            return self.train_function
        variants = {}
        for enabled in (True, False):
            self._arch_step_traced = enabled
            super().make_train_function(force=True)
            variants[enabled] = self.train_function

        def train_function(iterator):
            enabled = bool(float(keras.ops.convert_to_numpy(self.arch_enabled)) > 0.5)
            self._arch_step_traced = enabled  # Read only while tracing this variant.
            return variants[enabled](iterator)

        self.train_function = train_function
        return train_function

    def export(self):
        """Returns the supernet's derived genotype."""
        return self.supernet.export()

    # ------------------------------------------------------------------ losses and gradients
    def loss_terms(self, images, labels) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Forward pass in training mode (while `train_step` is traced: one shared function).

        Returns:
            `(loss, cross_entropy, correct)`: the replica's share of the global mean
            cross-entropy (its local mean divided by the replica count, so that the sum over
            replicas is the global mean), and per-example cross-entropy and correctness.
        """
        forward = self._step_forward
        if forward is not None:
            return forward(images, labels)
        return self._loss_terms(images, labels)

    def _loss_terms(self, images, labels):
        cross_entropy, correct = classification_terms(self.supernet(images, training=True), labels)
        loss = tf.reduce_mean(cross_entropy) / float(num_replicas())
        return loss, cross_entropy, correct

    def gradients(self, images, labels, variables) -> tuple[list[tf.Tensor], tf.Tensor, tf.Tensor]:
        """Gradients of the global mean cross-entropy w.r.t. `variables`, summed over replicas.

        Returns:
            `(gradients, cross_entropy, correct)`; unconnected variables get zeros.
        """
        with tf.GradientTape() as tape:
            loss, cross_entropy, correct = self.loss_terms(images, labels)
        variables = list(variables)
        # Zeros made here, not by `UnconnectedGradients.ZERO`: TF builds those from the
        # variable's dtype, which a Keras variable gives as a string (AttributeError
        # `_type_enum`). A weight is unconnected when a cell's op only feeds a `none` edge.
        grads = tape.gradient(loss, variables)
        grads = [tf.zeros(v.shape, v.dtype) if g is None else g for g, v in zip(grads, variables)]
        return sum_over_replicas(grads), cross_entropy, correct

    def arch_gradients(self, x_train, y_train, x_val, y_val):
        """Architecture gradients of the validation loss (first order: weights held fixed).

        Returns:
            `(gradients, cross_entropy, correct)` on the validation batch.
        """
        return self.gradients(x_val, y_val, self.supernet.arch_variables)

    def weight_gradients(self, x_train, y_train):
        """Weight gradients of the training loss.

        Returns:
            `(gradients, cross_entropy, correct)` on the training batch.
        """
        return self.gradients(x_train, y_train, self.supernet.weight_variables)

    # ------------------------------------------------------------------ updates
    def _apply(self, optimizer: keras.optimizers.Optimizer, grads, variables) -> None:
        # Keras sums over replicas again; the gradients are already the global ones.
        apply_global_gradients(optimizer, grads, variables)

    def apply_weight_gradients(self, grads) -> None:
        """Clips (global norm), adds coupled weight decay, applies `weight_optimizer`."""
        variables = self.supernet.weight_variables
        if self.config.grad_clip > 0:
            grads, _ = tf.clip_by_global_norm(grads, self.config.grad_clip)
        if self.config.weight_decay > 0:
            grads = [g + self.config.weight_decay * tf.convert_to_tensor(v) for g, v in zip(grads, variables)]
        self._apply(self.weight_optimizer, grads, variables)

    def apply_arch_gradients(self, grads) -> None:
        """Adds coupled weight decay on the architecture parameters, applies `arch_optimizer`."""
        variables = self.supernet.arch_variables
        if self.config.arch_weight_decay > 0:
            grads = [g + self.config.arch_weight_decay * tf.convert_to_tensor(v) for g, v in zip(grads, variables)]
        self._apply(self.arch_optimizer, grads, variables)

    def arch_step(self, x_train, y_train, x_val, y_val) -> None:
        """One architecture update on the validation batch."""
        grads, cross_entropy, correct = self.arch_gradients(x_train, y_train, x_val, y_val)
        self.val_loss_tracker.update_state(cross_entropy)
        self.val_accuracy_tracker.update_state(correct)
        self.apply_arch_gradients(grads)

    def weight_step(self, x_train, y_train) -> None:
        """One weight update on the training batch."""
        grads, cross_entropy, correct = self.weight_gradients(x_train, y_train)
        self.loss_tracker.update_state(cross_entropy)
        self.accuracy_tracker.update_state(correct)
        self.apply_weight_gradients(grads)

    def train_step(self, data):
        """The bilevel step on `data = ((x_train, y_train), (x_val, y_val))`.

        While the step is traced, every forward pass of it (`loss_terms`: the architecture
        step's, the weight step's, the unrolled step's, ROME's K samples) calls one nested
        `tf.function`, so the supernet and its gradient are traced once per step, not once
        per pass (a GDAS step's graph is over 100k nodes; the trace took half its first
        step). The function is made anew for each trace and dropped after it, so nothing
        read at trace time (`Supernet.ops_removed`, the traced variant) goes stale; TF
        inlines it before optimizing the graph, so the step computes the same thing.
        """
        (x_train, y_train), (x_val, y_val) = data
        run_arch = self._arch_step_traced
        if tf.inside_function():
            self._step_forward = tf.function(self._loss_terms, autograph=False)
        try:
            if self.arch_step_first:
                if run_arch:
                    self.arch_step(x_train, y_train, x_val, y_val)
                self.weight_step(x_train, y_train)
            else:
                self.weight_step(x_train, y_train)
                if run_arch:
                    self.arch_step(x_train, y_train, x_val, y_val)
        finally:
            self._step_forward = None
        return self._step_logs()

    def _step_logs(self) -> dict[str, tf.Tensor]:
        return reducible_logs({m.name: m.result() for m in self.metrics})

    def test_step(self, data):
        """Evaluates the supernet (inference mode) on `(x, y)`: `loss` and `accuracy`."""
        x, y = data[0], data[1]
        labels = tf.reshape(tf.cast(y, "int32"), [-1])
        logits = tf.cast(self.supernet(x, training=False), "float32")
        self.loss_tracker.update_state(
            keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        )
        self.accuracy_tracker.update_state(
            tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), "float32")
        )
        logs = self._step_logs()
        return {"loss": logs["loss"], "accuracy": logs["accuracy"]}
