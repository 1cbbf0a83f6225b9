"""Training a child network from scratch: the DARTS evaluation recipe, resumable.

The recipe of the DARTS evaluation (arXiv 1806.09055, section A.2): SGD with momentum 0.9,
cosine learning rate from 0.025 to 0, weight decay 3e-4 as a coupled L2 term (the gradient
gets `wd * w` before momentum, as PyTorch's `SGD(weight_decay=...)` does, not Keras's
decoupled decay), gradient clipping at global norm 5, cutout 16, drop-path rising linearly
from 0 to `drop_path_rate` over the epochs, and an auxiliary head weighted 0.4. Label
smoothing, an exponential moving average of the weights and mixed precision are options.

Training is resumable: `EpochCheckpoint` writes the model and optimizer state at the end of
every epoch with a sha256 beside it, and a rerun with the same workdir continues from the
last epoch. A checkpoint whose hash does not match is reported (`CorruptCheckpointError`),
never silently replaced. A non-finite loss stops training at once (`NonFiniteLossError`) and
leaves the last good checkpoint in place.

This module (with `tfnas/algorithms` later) is where TensorFlow-specific training code
lives: `tf.distribute` strategies and `tf.data` plumbing.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfnas import runtime
from tfnas.ops.binary import MODES as BINARY_MODES
from tfnas.ops.drop_path import DropPath
from tfnas.runs import (  # noqa: F401  (re-exported for callers of the recipe)
    CorruptCheckpointError,
    EpochCheckpoint,
    EpochTimer,
    NonFiniteLossError,
    NonFiniteLossGuard,
    check_run_config,
    combine_scaled,
    is_chief,
    make_strategy,
    reducible_logs,
    task_workdir,
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a child-training run; written to `<workdir>/config.json`.

    Args:
        genotype: A published name (`darts_v2`), a canonical genotype string or JSON.
        dataset: `"cifar10"`, `"digits"` or a folder of images (`tfnas.data.user`).
        data_dir: Folder holding the raw data (`cifar10/cifar10_jpg.tar.gz`); None reads
            `TFNAS_DATA_DIR`. Unused for `digits`.
        epochs: Number of epochs (DARTS: 600).
        batch_size: Global batch size, split evenly over the replicas (DARTS: 96).
        learning_rate: Initial learning rate of the cosine schedule (DARTS: 0.025).
        min_learning_rate: Final learning rate of the cosine schedule (DARTS: 0).
        momentum: SGD momentum.
        weight_decay: Coupled L2 coefficient on every trainable variable (DARTS: 3e-4).
        grad_clip: Global-norm clipping threshold; 0 disables (DARTS: 5).
        label_smoothing: Label smoothing of the cross-entropy (DARTS CIFAR: 0; ImageNet 0.1).
        cutout: Cutout square side in pixels; 0 disables (DARTS: 16).
        drop_path_rate: Final drop-path probability, reached linearly (DARTS: 0.2).
        auxiliary_weight: Weight of the auxiliary-head loss; 0 builds no head (DARTS: 0.4).
        channels: Initial channels of a cell network (None: the space's default).
        layers: Number of cells (None: the space's default).
        input_size: Square input resolution (None: the dataset's native size).
        ema_decay: Decay of the weight moving average used for evaluation; None disables.
        mixed_precision: `None`, `"mixed_float16"` or `"mixed_bfloat16"`.
        max_train_examples: Use only the first N training examples (None: all); for short runs.
        seed: Seed of initialisation, shuffling and augmentation.
        binarized: None, `"weights"`, `"weights_activations"` or `"pcnn"`: a binarized cell network
            (`build_child(binarized=...)`, `tfnas.ops.binary`); the report adds its size with
            1-bit kernels packed (`packed_bytes`).
    """

    genotype: str
    dataset: str = "cifar10"
    data_dir: str | None = None
    epochs: int = 600
    batch_size: int = 96
    learning_rate: float = 0.025
    min_learning_rate: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    label_smoothing: float = 0.0
    cutout: int = 16
    drop_path_rate: float = 0.2
    auxiliary_weight: float = 0.4
    channels: int | None = None
    layers: int | None = None
    input_size: int | None = None
    ema_decay: float | None = None
    mixed_precision: str | None = None
    max_train_examples: int | None = None
    seed: int = 0
    binarized: str | None = None

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size}
        for name, value in positive.items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0. Received: learning_rate={self.learning_rate}")
        for name in ("weight_decay", "grad_clip", "auxiliary_weight", "min_learning_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0. Received: {name}={getattr(self, name)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1). Received: {self.label_smoothing}")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1). Received: {self.drop_path_rate}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None. Received: {self.ema_decay}")
        if self.mixed_precision not in (None, "mixed_float16", "mixed_bfloat16"):
            raise ValueError(
                "mixed_precision must be None, 'mixed_float16' or 'mixed_bfloat16'. "
                f"Received: {self.mixed_precision!r}"
            )
        if self.binarized is not None and self.binarized not in BINARY_MODES:
            raise ValueError(f"binarized must be None or one of {', '.join(BINARY_MODES)}. Received: {self.binarized!r}")
        if self.max_train_examples is not None and self.max_train_examples <= 0:
            raise ValueError(f"max_train_examples must be > 0. Received: {self.max_train_examples}")

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as a JSON-able dict (`binarized` only when set, so older workdirs resume)."""
        data = dataclasses.asdict(self)
        if data["binarized"] is None:
            del data["binarized"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Builds a config from `to_dict()` output; unknown keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown TrainConfig fields: {unknown}. Known: {sorted(names)}")
        return cls(**data)


@keras.saving.register_keras_serializable(package="tfnas")
class ChildTask(keras.Model):
    """A child network plus its training loss: cross-entropy, auxiliary head, coupled L2.

    The child is a functional model whose outputs are `logits` or `[logits, aux_logits]`.
    `call` returns what the child returns; `compute_loss` adds the auxiliary loss with
    `auxiliary_weight` and `weight_decay / 2 * sum(w^2)` over the trainable variables
    (so the gradient gets `weight_decay * w`, PyTorch-style coupled decay).

    Args:
        child: The network to train.
        auxiliary_weight: Weight of the auxiliary cross-entropy (used when the child has two
            outputs).
        weight_decay: L2 coefficient.
        label_smoothing: Label smoothing of both cross-entropies.
    """

    def __init__(
        self,
        child: keras.Model,
        auxiliary_weight: float = 0.4,
        weight_decay: float = 3e-4,
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.child = child
        self.auxiliary_weight = float(auxiliary_weight)
        self.weight_decay = float(weight_decay)
        self.label_smoothing = float(label_smoothing)
        self.has_auxiliary = len(child.outputs) == 2
        self._ce = keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=self.label_smoothing, reduction="sum_over_batch_size"
        )

    def call(self, inputs, training: bool | None = None):
        return self.child(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        num_classes = self.child.outputs[0].shape[-1]
        y_onehot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y, (-1,)), "int32"), num_classes)
        if self.has_auxiliary:
            logits, aux_logits = y_pred
        else:
            logits, aux_logits = y_pred, None
        loss = self._ce(y_onehot, keras.ops.cast(logits, "float32"))
        if aux_logits is not None and training and self.auxiliary_weight > 0:
            loss = loss + self.auxiliary_weight * self._ce(y_onehot, keras.ops.cast(aux_logits, "float32"))
        if self.weight_decay > 0 and training:
            l2 = keras.ops.sum([keras.ops.sum(keras.ops.square(keras.ops.cast(v, "float32")))
                                for v in self.trainable_variables])
            # The cross-entropies above are already divided by the replica count (Keras's
            # "sum_over_batch_size" reduction does it under tf.distribute), so that the
            # gradients summed over replicas give the global-batch mean; the L2 term, the same
            # on every replica, needs the same division.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            loss = loss + 0.5 * self.weight_decay * l2 / replicas
        return loss

    def set_build_spec(self, element_spec: Any) -> None:
        """Builds the model from `element_spec` (the training dataset's) in `fit`, not from a batch.

        Keras's `fit`, for a model made under a strategy, pulls one batch from the training
        iterator and `strategy.reduce`s it to build the model and metrics symbolically:
        that batch is lost to training, and under `MultiWorkerMirroredStrategy` the reduce
        fails ("Attempt to convert a value (PerReplica...) to a Tensor"). With the spec the
        symbolic build reads shapes and dtypes only.
        """
        object.__setattr__(self, "_build_spec", element_spec)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        spec = getattr(self, "_build_spec", None)
        if spec is not None and data_batch is None:
            return super()._maybe_symbolic_build(data_batch=spec)
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        return reducible_logs(super().train_step(data))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logits = y_pred[0] if self.has_auxiliary else y_pred
        return super().compute_metrics(x, y, logits, sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            "child": keras.saving.serialize_keras_object(self.child),
            "auxiliary_weight": self.auxiliary_weight,
            "weight_decay": self.weight_decay,
            "label_smoothing": self.label_smoothing,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ChildTask:
        config = dict(config)
        config["child"] = keras.saving.deserialize_keras_object(config["child"])
        return cls(**config)


class DropPathSchedule(keras.callbacks.Callback):
    """Sets every `DropPath` layer's rate to `final_rate * epoch / epochs` at each epoch start.

    References:
        DARTS (arXiv 1806.09055) evaluation code: `model.drop_path_prob = p * epoch / epochs`.

    Args:
        final_rate: The rate reached at the last epoch.
        epochs: Total number of epochs.
    """

    def __init__(self, final_rate: float, epochs: int) -> None:
        super().__init__()
        self.final_rate = float(final_rate)
        self.epochs = int(epochs)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        rate = self.final_rate * epoch / self.epochs
        for layer in _walk_layers(self.model):
            if isinstance(layer, DropPath):
                layer.rate.assign(rate)


def train_and_score(child: keras.Model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                    y_val: np.ndarray, *, epochs: int, batch_size: int, learning_rate: float = 0.1,
                    weight_decay: float = 5e-4, verbose: int = 0) -> float:
    """Trains `child` on in-memory arrays with the NAS-Bench-201 recipe, shortened; returns its
    held-out accuracy (%) on `(x_val, y_val)`.

    The recipe of the short proxies (the multi-trial training evaluator, the ranking
    benchmark's standalone reference): SGD with Nesterov momentum 0.9, `learning_rate` cosine
    to 0 over all steps, coupled weight decay (`ChildTask`), no augmentation (arXiv
    2001.00326 trains 200 epochs at batch 256 with crop and flip).
    """
    task = ChildTask(child, weight_decay=weight_decay)
    task.compile(optimizer=_proxy_optimizer(learning_rate, epochs * int(np.ceil(len(x_train) / batch_size))))
    # Built here, not inside the first traced step: variables made inside a `tf.function`
    # leave their initialisation `cond` branches in the eager context for good (about 90
    # functions a network), which a loop over hundreds of networks piles up.
    task.optimizer.build(task.trainable_variables)
    with runtime.released_custom_gradients():
        task.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
        return _held_out_accuracy(child, x_val, y_val)


def _proxy_optimizer(learning_rate: float, steps: int) -> keras.optimizers.Optimizer:
    """The short proxies' optimizer: SGD, Nesterov momentum 0.9, cosine to 0 over `steps`."""
    return keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(learning_rate, steps),
                                momentum=0.9, nesterov=True)


def _held_out_accuracy(child: keras.Model, x_val: np.ndarray, y_val: np.ndarray) -> float:
    """Top-1 accuracy (%) of `child` on in-memory arrays."""
    logits = child.predict(x_val, batch_size=256, verbose=0)
    return 100.0 * float(np.mean(np.argmax(logits, axis=-1) == np.asarray(y_val).reshape(-1)))


def train_and_score_sharded(child: keras.Model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                            y_val: np.ndarray, *, share: tuple[int, int], combine, epochs: int, batch_size: int,
                            learning_rate: float = 0.1, weight_decay: float = 5e-4, seed: int = 0) -> float:
    """`train_and_score`'s recipe, data-parallel over the tasks of a cluster (`share = (0, 1)`: one
    process, no all-reduce); returns the held-out accuracy (%), the same on every task. The
    batch order comes from `seed`, so one task and n tasks train on the same global batches.

    Every task draws the same batch order (from `seed` and the epoch) and computes the gradient
    of its rows `position::count` of each global batch (`share = (position, count)`); `combine`
    (the cluster's all-reduce sum, e.g. `ScoringContext.combine`) adds the tasks' gradients,
    each weighted by its share of the batch's rows, so every task applies the gradient of the
    whole batch to its copy and the copies stay equal. BatchNorm normalises each task's rows by
    their own statistics (as `MultiWorkerMirroredStrategy` does without sync BN); its moving
    statistics are averaged over the tasks after every epoch, so every task also evaluates
    with the same ones. One all-reduce a step. The last partial batch of an epoch is dropped
    (a batch needs a row for every task); the cosine schedule counts full batches.

    Raises:
        ValueError: if `batch_size` is smaller than the task count or than the training set.
    """
    position, count = share
    steps = len(x_train) // batch_size
    if batch_size < count or steps == 0:
        raise ValueError(f"batch_size={batch_size} needs at least one row per task ({count} tasks) and at most "
                         f"the {len(x_train)} training images.")
    task = ChildTask(child, weight_decay=weight_decay)
    optimizer = _proxy_optimizer(learning_rate, epochs * steps)
    variables = task.trainable_variables
    optimizer.build(variables)
    statistics = [v for v in child.non_trainable_variables if "float" in str(v.dtype)]

    @tf.function
    def gradients(images, labels):
        with tf.GradientTape() as tape:
            loss = task.compute_loss(y=labels, y_pred=task(images, training=True))
        return loss, tape.gradient(loss, variables)

    @tf.function
    def apply(grads):
        optimizer.apply(grads, variables)

    @tf.function
    def step(images, labels):  # one task: both in one graph, no all-reduce
        loss, grads = gradients(images, labels)
        apply(grads)
        return loss

    def cluster_step(images, labels, weight):
        loss, grads = gradients(images, labels)
        total = combine_scaled(combine, weight, [loss, *grads])
        apply([tf.constant(piece, v.dtype) for piece, v in zip(total[1:], variables)])
        return float(total[0])

    with runtime.released_custom_gradients():
        for epoch in range(epochs):
            order = np.random.default_rng([seed, 2001, epoch]).permutation(len(x_train))
            for s in range(steps):
                batch = order[s * batch_size:(s + 1) * batch_size]
                rows = batch[position::count]
                images, labels = tf.constant(x_train[rows]), tf.constant(y_train[rows])
                loss = float(step(images, labels)) if count == 1 else cluster_step(images, labels, len(rows) / len(batch))
                if not np.isfinite(loss):
                    raise NonFiniteLossError(f"training loss became {loss} at epoch {epoch + 1}, step {s + 1}; "
                                             "lower the learning rate.")
            if statistics and count > 1:
                for v, mean in zip(statistics, combine_scaled(combine, 1 / count, statistics)):
                    v.assign(mean.astype(str(v.dtype)))
        return _held_out_accuracy(child, x_val, y_val)


def _walk_layers(model: keras.layers.Layer):
    """Yields every layer nested inside `model` (depth first), each once."""
    seen = set()
    stack = [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        stack.extend(getattr(layer, "_layers", []) or [])
        for attr in ("child",):
            sub = getattr(layer, attr, None)
            if isinstance(sub, keras.layers.Layer):
                stack.append(sub)


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """SGD with momentum, cosine schedule over all steps, optional global-norm clipping and EMA."""
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate,
        decay_steps=max(1, config.epochs * steps_per_epoch),
        alpha=config.min_learning_rate / config.learning_rate,
    )
    optimizer = keras.optimizers.SGD(
        learning_rate=schedule,
        momentum=config.momentum,
        global_clipnorm=config.grad_clip or None,
        use_ema=config.ema_decay is not None,
        ema_momentum=config.ema_decay if config.ema_decay is not None else 0.99,
    )
    if config.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _datasets(config: TrainConfig):
    """Returns (train batches, test batches, train example count) for `config`.

    Batches are global: under a `MirroredStrategy`, Keras `fit` splits each batch over the
    replicas (per-replica batch = batch_size / replicas).
    """
    from tfnas import data

    from tfnas.data.pipeline import resize_examples

    native = data.get_dataset_spec(config.dataset).image_shape[0]
    resize = config.input_size is not None and config.input_size != native
    kwargs = {"image_size": config.input_size} if resize and config.dataset == "digits" else {}
    train_ds, test_ds = data.load_splits(config.dataset, data_dir=config.data_dir, **kwargs)
    if resize and config.dataset != "digits":  # area resampling, as the search's proxies see their images
        train_ds, test_ds = (ds.map(resize_examples(config.input_size)) for ds in (train_ds, test_ds))
    if config.max_train_examples is not None:
        train_ds = train_ds.take(config.max_train_examples)
    count = int(train_ds.cardinality())
    if count < 0:  # unknown or infinite: count once
        count = int(train_ds.reduce(0, lambda n, _: n + 1).numpy())
    train_batches = data.make_train_dataset(
        train_ds,
        dataset=config.dataset,
        batch_size=config.batch_size,
        augment=True,
        cutout=config.cutout,
        # The crop's padding scales with the image as the search's does (4 pixels at 32x32):
        # a 4-pixel shift of an 8x8 digit moves half of it out of the frame.
        padding=max(1, round(4 * (config.input_size or native) / 32)),
        seed=config.seed,
    )
    test_batches = data.make_eval_dataset(test_ds, dataset=config.dataset, batch_size=config.batch_size)
    return train_batches, test_batches, count


def train(
    config: TrainConfig, workdir: str, verbose: int | str = "auto", strategy: tf.distribute.Strategy | None = None
) -> dict[str, Any]:
    """Trains the child of `config.genotype` in `workdir`, resuming from its last checkpoint.

    Writes `<workdir>/config.json` (a rerun must pass the same config), checkpoints in
    `<workdir>/checkpoints`, TensorBoard logs in `<workdir>/tensorboard`, the trained model
    as `<workdir>/model.keras` (inference network, logits) and `<workdir>/report.json`.

    Args:
        config: The run's configuration.
        workdir: The run's folder; reusing it resumes the run.
        verbose: Keras progress-bar verbosity.
        strategy: Distribution strategy; default `tfnas.runs.make_strategy()`. Under a
            `MultiWorkerMirroredStrategy` only the chief writes the model, the report and
            TensorBoard logs into `workdir`; every worker checkpoints (the others in
            `tfnas.runs.task_workdir`), so a restarted cluster resumes on every worker.

    Returns:
        The report: test accuracy and loss, parameters, MAdds, seconds per epoch, ...

    Raises:
        ValueError: if `workdir` holds a run with a different config.
        CorruptCheckpointError: if the last checkpoint fails its hash check.
        NonFiniteLossError: if the loss becomes NaN or infinite.
    """
    from tfnas.budgets.counters import count_madds, count_params
    from tfnas.children.factory import build_child, dataset_defaults
    from tfnas.genotypes import codec

    strategy = strategy or make_strategy()
    chief = is_chief(strategy)
    run_dir = task_workdir(workdir, strategy)
    check_run_config(run_dir, config.to_dict())

    genotype = codec.load(config.genotype)
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_dtype_policy(config.mixed_precision)
    train_batches, test_batches, count = _datasets(config)
    steps_per_epoch = count // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"batch_size={config.batch_size} exceeds the {count} training examples; lower it."
        )
    size = config.input_size or dataset_defaults(config.dataset)[0]
    build_spec = train_batches.element_spec
    if strategy.num_replicas_in_sync > 1:  # each step's global batch is the one-device step's
        from tfnas.data import distribute_global_batches

        one_device_batches = train_batches
        train_batches = distribute_global_batches(strategy, config.batch_size, lambda: one_device_batches)
    with strategy.scope():
        child = build_child(
            genotype,
            dataset=config.dataset,
            channels=config.channels,
            layers=config.layers,
            input_size=config.input_size,
            auxiliary=config.auxiliary_weight > 0 and genotype.space == "darts",
            drop_path_rate=config.drop_path_rate if genotype.space != "nb201" else 0.0,
            binarized=config.binarized,
        )
        task = ChildTask(
            child,
            auxiliary_weight=config.auxiliary_weight,
            weight_decay=config.weight_decay,
            label_smoothing=config.label_smoothing,
        )
        task.compile(
            optimizer=make_optimizer(config, steps_per_epoch),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        task.build((None, size, size, 3))
        task.optimizer.build(task.trainable_variables)
        task.set_build_spec(build_spec)
    checkpoint = EpochCheckpoint(os.path.join(run_dir, "checkpoints"))
    initial_epoch = checkpoint.restore(task)
    timer = EpochTimer()
    callbacks = [
        NonFiniteLossGuard(),
        DropPathSchedule(config.drop_path_rate, config.epochs),
        checkpoint,
        timer,
        *([keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), update_freq="epoch")] if chief else []),
    ]
    if initial_epoch < config.epochs:
        task.fit(
            train_batches,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )
    inference = keras.Model(child.inputs, child.outputs[0], name=child.name)
    test_loss, test_acc = _evaluate(inference, test_batches)
    params = count_params(inference)
    report = {
        "genotype": genotype.to_string(),
        "space": genotype.space,
        "dataset": config.dataset,
        "epochs": config.epochs,
        "resumed_from_epoch": initial_epoch,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "trainable_params": params.trainable,
        "total_params": params.total,
        "madds": count_madds(inference),
        "seconds_per_epoch": float(np.median(timer.seconds)) if timer.seconds else None,
        "train_images_per_second": (
            steps_per_epoch * config.batch_size / float(np.median(timer.seconds)) if timer.seconds else None
        ),
        "history": checkpoint.history,
        "workdir": os.path.abspath(workdir),
        "model_path": os.path.abspath(os.path.join(workdir, "model.keras")),
    }
    if config.binarized is not None:
        from tfnas.ops.binary import packed_bytes

        report["size"] = packed_bytes(inference)
    report["chief"] = chief
    report["replicas"] = strategy.num_replicas_in_sync
    if chief:
        inference.save(report["model_path"])
        with open(os.path.join(workdir, "report.json"), "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    return report


def _evaluate(model: keras.Model, batches) -> tuple[float, float]:
    """Returns (mean cross-entropy, top-1 accuracy) of `model`'s logits over `batches`."""
    loss = keras.metrics.Mean()
    acc = keras.metrics.SparseCategoricalAccuracy()
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    def _predict(x):
        return model(x, training=False)

    predict = tf.function(_predict, autograph=False)
    for x, y in batches:
        logits = tf.cast(predict(x), tf.float32)
        loss.update_state(ce(y, logits))
        acc.update_state(y, logits)
    return float(loss.result()), float(acc.result())
