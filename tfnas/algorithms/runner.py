"""The search runner: one resumable, deterministic differentiable architecture search in a workdir.

`search(config, space=..., dataset=..., workdir=...)` runs a `tfnas.algorithms` search
(DARTS, DARTS-, PC-DARTS, GDAS, ROME, ...) end to end:

1. writes `<workdir>/config.json` (the search config plus the data settings); a rerun in
   the same workdir must pass the same config (it then resumes), any other is refused;
2. loads the training split (optionally its first `max_train_examples`, optionally resized
   to `image_size`), and for every epoch builds ONE bilevel dataset
   (`tfnas.data.make_bilevel_dataset`, weights part / architecture part) seeded by
   `(seed, epoch)`: inside the epoch Keras keeps one iterator over it, so each part is read
   by one long-lived pipeline, and a run resumed at epoch `e` sees exactly the batches an
   uninterrupted run sees at epoch `e`;
3. builds the algorithm with `build_search` under the distribution strategy, restores the
   last `EpochCheckpoint` (supernet weights and architecture variables, both optimizers'
   slots and iteration counters, the schedule variables, the supernet's sampling
   `SeedGenerator` state: all are variables of the algorithm model);
4. fits all epochs in one `fit` call (the epochs' datasets concatenated) with the
   algorithm's schedule callbacks, `NonFiniteLossGuard`, the
   epoch checkpoint, a TensorBoard writer (losses and accuracies, every `arch_state()`
   array as a histogram plus per-op mean scalars, the derived genotype as text) and the
   Keras progress bar;
5. writes `genotype.json` (the genotype's `to_dict()` plus a `search` metadata block; it
   loads back with `tfnas.genotypes.codec.from_dict` / `launch.train --genotype=PATH`),
   `cells.png`, `arch_weights.png` and `history.json`, and returns the report.

With `deterministic=True` (the default) `tf.config.experimental.enable_op_determinism()`
is switched on and every seed (Python, NumPy, TensorFlow, Keras) is set from
`config.seed`, so a search killed after any epoch and resumed ends with the same
architecture parameters and genotype as an uninterrupted one.

Batch size: `config.batch_size` is global (per step and per part, over all replicas);
under a `MirroredStrategy` of R replicas each replica gets `batch_size / R` examples of
each part.

References:
    - Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.

Example:
>>> from tfnas.algorithms import ALGORITHMS
>>> config = ALGORITHMS.get("darts_minus").default_config()  # doctest: +SKIP
>>> report = search(config, space="nb201", dataset="digits", workdir="runs/s1",
...                 image_size=16, max_train_examples=256)  # doctest: +SKIP
>>> report["genotype"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfnas.algorithms.config import SearchConfig
from tfnas.data.pipeline import resize_examples
from tfnas.runs import (
    CorruptCheckpointError,
    EpochCheckpoint,
    NonFiniteLossError,
    NonFiniteLossGuard,
    check_run_config,
    is_chief,
    jsonable,
    make_strategy,
    task_workdir,
    write_json,
)

__all__ = [
    "ArchHistory",
    "CorruptCheckpointError",
    "NonFiniteLossError",
    "SamplerState",
    "SearchTensorBoard",
    "epoch_seed",
    "load_history",
    "load_training_set",
    "make_search_config",
    "restore_search",
    "search",
]

_SPACES = ("darts", "nb201")
_EPOCH_SEED_STRIDE = 1_000_003
_RUN_FIELDS = ("space", "dataset", "max_train_examples", "image_size", "deterministic")


def epoch_seed(seed: int, epoch: int) -> int:
    """Returns the data seed of `epoch` (0-based) of a run seeded `seed`.

    Example:
    >>> epoch_seed(0, 3)
    3
    """
    return int(seed) * _EPOCH_SEED_STRIDE + int(epoch)


def _arch_state(supernet: Any) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in supernet.arch_state().items()}


class ArchHistory(keras.callbacks.Callback):
    """Records, at every epoch end, the logs, wall time, `arch_state()` and derived genotype.

    The record is written to `path` (JSON, atomically) after every epoch, so the
    per-epoch architecture weights of a killed-and-resumed run are complete:
    `truncate(n)` drops the epochs after the restored checkpoint.

    Args:
        supernet: The searched `Supernet` (`arch_state()`, `export()`).
        path: The `history.json` file.
    """

    def __init__(self, supernet: Any, path: str) -> None:
        super().__init__()
        self.supernet = supernet
        self.path = path
        self.epochs: list[dict[str, Any]] = []
        if os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as f:
                    self.epochs = list(json.load(f).get("epochs", []))
            except (OSError, ValueError, AttributeError):
                self.epochs = []
        self._start = 0.0

    def truncate(self, epochs: int) -> None:
        """Keeps the records of the first `epochs` epochs only."""
        self.epochs = [e for e in self.epochs if int(e.get("epoch", 0)) <= epochs]

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        seconds = time.perf_counter() - self._start
        record = {
            "epoch": epoch + 1,
            "seconds": seconds,
            "logs": {k: float(v) for k, v in (logs or {}).items()},
            "genotype": self.supernet.export().to_string(),
            "arch_state": _arch_state(self.supernet),
        }
        self.truncate(epoch)
        self.epochs.append(record)
        write_json(self.path, {"epochs": self.epochs})

    @property
    def states(self) -> list[dict[str, np.ndarray]]:
        """The per-epoch arch states, oldest first."""
        return [{k: np.asarray(v) for k, v in e["arch_state"].items()} for e in self.epochs]


class SearchTensorBoard(keras.callbacks.Callback):
    """Logs a search to TensorBoard once per epoch (step = epoch number, 1-based).

    Scalars: every entry of the epoch logs (`loss`, `accuracy`, `val_loss`,
    `val_accuracy`, ...) and, for every `arch_state()` array, the mean weight of each op
    (`<key>/<op index>`) for `[edges, ops]` arrays or each entry for 1-D arrays (up to 32).
    Histograms: every `arch_state()` array. Text: the derived genotype string.

    Args:
        supernet: The searched `Supernet`.
        logdir: The event-file folder.
    """

    def __init__(self, supernet: Any, logdir: str) -> None:
        super().__init__()
        self.supernet = supernet
        self.logdir = logdir
        self._writer = None

    def on_train_begin(self, logs=None) -> None:
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.logdir)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self._writer is None:
            self.on_train_begin()
        step = epoch + 1
        with self._writer.as_default(step=step):
            for name, value in (logs or {}).items():
                tf.summary.scalar(f"search/{name}", float(value))
            for key, array in _arch_state(self.supernet).items():
                tf.summary.histogram(f"arch/{key}", array)
                if array.ndim == 2:
                    for j, v in enumerate(array.mean(axis=0)):
                        tf.summary.scalar(f"arch/{key}/op{j}", float(v))
                elif array.ndim == 1 and array.size <= 32:
                    for j, v in enumerate(array):
                        tf.summary.scalar(f"arch/{key}/{j}", float(v))
            tf.summary.text("genotype", self.supernet.export().to_string())
        self._writer.flush()

    def on_train_end(self, logs=None) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class SamplerState(keras.layers.Layer):
    """Carries the `keras.random.SeedGenerator` states of a model into its weights file.

    Keras's weight saving stores a layer's own variables but not the state of the
    `SeedGenerator`s it owns, so a GDAS/ROME supernet restored from a checkpoint would
    draw different samples than the uninterrupted run. `attach(model)` collects every
    seed-generator state variable of `model` (`model.variables` paths ending in
    `seed_generator_state`) into this layer and hangs it on the model as the attribute
    `sampler_state`, which `model.save_weights` / `load_weights` then visit like any other
    sub-layer (it is not added to the model's tracked layers, so the built model's
    variable lists are unchanged).

    Args:
        states: The seed-generator state variables, in a fixed order.
    """

    ATTRIBUTE = "sampler_state"

    def __init__(self, states: list[Any], **kwargs: Any) -> None:
        super().__init__(name="sampler_state", trainable=False, **kwargs)
        self.states = list(states)
        self.built = True

    @classmethod
    def attach(cls, model: keras.Model) -> SamplerState:
        """Attaches a `SamplerState` of `model`'s seed generators to `model` and returns it."""
        states = [v for v in model.variables if v.path.split("/")[-1] == "seed_generator_state"]
        holder = cls(states)
        # Plain attribute (bypassing the built model's state tracking, which is locked):
        # Keras saving walks every attribute of the model, tracked or not.
        object.__setattr__(model, cls.ATTRIBUTE, holder)
        return holder


def _run_config(config: Any, **fields: Any) -> dict[str, Any]:
    return {"search": jsonable(config.to_dict()), **{k: jsonable(fields[k]) for k in _RUN_FIELDS}}


def load_training_set(
    dataset: str, data_dir: str | None, max_train_examples: int | None, image_size: int | None,
    stream: bool | None = None,
) -> tuple[tf.data.Dataset, int, tuple[int, int, int], int]:
    """Loads a search's training images once, into memory (a dataset whose spec says
    `in_memory=False`, the user's folder or tfds data, streams from disk instead).

    Args:
        dataset: A registered dataset (`"cifar10"`, `"digits"`).
        data_dir: The shared data folder, or None for `$TFNAS_DATA_DIR`.
        max_train_examples: Keep the first N training images (None: all).
        image_size: Resize to this side (area resampling, back to uint8); None keeps it.
        stream: Stream from disk (True) or hold in memory (False); None: the dataset's
            default (`not spec.in_memory`).

    Returns:
        `(dataset of (uint8 image, label) in memory, size, image shape, num_classes)`.

    Raises:
        ValueError: if no image is left.
    """
    from tfnas import data

    spec = data.get_dataset_spec(dataset)
    kwargs: dict[str, Any] = {}
    if dataset == "digits" and image_size is not None:
        kwargs["image_size"] = image_size
    train_ds, _ = data.load_splits(dataset, data_dir=data_dir, **kwargs)
    if max_train_examples is not None:
        train_ds = train_ds.take(max_train_examples)
    if image_size is not None and dataset != "digits":
        train_ds = train_ds.map(resize_examples(image_size))
    if (not spec.in_memory) if stream is None else stream:  # from disk every pass, in a fixed order
        n = spec.num_train if max_train_examples is None else min(spec.num_train, max_train_examples)
        if n < 1:
            raise ValueError(f"The {dataset} training set is empty (max_train_examples={max_train_examples}).")
        side = image_size or spec.image_shape[0]
        shape = (side, side, spec.image_shape[2])
        return train_ds.apply(tf.data.experimental.assert_cardinality(n)), n, shape, spec.num_classes
    # Materialize once: the split filters and the per-epoch pipelines then read memory.
    images, labels = [], []
    for x, y in train_ds.batch(4096):
        images.append(x.numpy())
        labels.append(y.numpy())
    if not images:
        raise ValueError(f"The {dataset} training set is empty (max_train_examples={max_train_examples}).")
    x = np.concatenate(images)
    y = np.concatenate(labels)
    table = tf.data.Dataset.from_tensor_slices((x, y))
    return table, int(x.shape[0]), tuple(int(d) for d in x.shape[1:]), spec.num_classes


def _validate(space: str, train_portion: float, max_train_examples: int | None, image_size: int | None,
              verbose: int) -> None:
    if space not in _SPACES and ":" not in str(space):
        raise ValueError(f"space must be one of {', '.join(_SPACES)} or a space written in Keras, "
                         f"'package.module:function'. Received: space={space!r}")
    if not isinstance(train_portion, (int, float)) or not 0.0 < float(train_portion) < 1.0:
        raise ValueError(f"train_portion must be in (0, 1). Received: train_portion={train_portion!r}")
    if max_train_examples is not None and (not isinstance(max_train_examples, int) or max_train_examples < 2):
        raise ValueError(
            f"max_train_examples must be an integer >= 2 or None. Received: max_train_examples={max_train_examples!r}"
        )
    if image_size is not None and (not isinstance(image_size, int) or image_size < 4):
        raise ValueError(f"image_size must be an integer >= 4 or None. Received: image_size={image_size!r}")
    if verbose not in (0, 1, 2, "auto"):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")


def search(
    config: SearchConfig,
    *,
    space: str,
    dataset: str,
    workdir: str,
    data_dir: str | None = None,
    train_portion: float | None = None,
    max_train_examples: int | None = None,
    image_size: int | None = None,
    verbose: int | str = 1,
    strategy: tf.distribute.Strategy | None = None,
    deterministic: bool = True,
    callbacks: list[keras.callbacks.Callback] | None = None,
    learned_space: Any | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) one architecture search in `workdir` and writes its results.

    References:
        - Liu et al., DARTS, arXiv 1806.09055 (bilevel search and derivation).

    Args:
        config: The algorithm's `SearchConfig` (`ALGORITHMS.get(name).default_config()`,
            possibly `dataclasses.replace`d): algorithm name, epochs, global batch size,
            learning rates, seed, ...
        space: `"darts"` or `"nb201"`, or a space written in Keras named
            `"package.module:function"` (`build(input_shape, num_classes)` returning a model
            with `tfnas.supernets.choices`; `record.jsonl` then replaces `cells.png`).
        dataset: A registered dataset (`"cifar10"`, `"digits"`).
        workdir: The run folder; a rerun with the same settings resumes from the last
            completed epoch.
        data_dir: The shared data folder (CIFAR-10); default `$TFNAS_DATA_DIR`.
        train_portion: Fraction of the training set for the weights (the rest trains the
            architecture); overrides `config.train_portion` when given.
        max_train_examples: Search on the first N training examples only.
        image_size: Resize the images to this side (default: the dataset's).
        verbose: Keras progress-bar verbosity (0, 1, 2).
        strategy: Distribution strategy; default `tfnas.runs.make_strategy()`. Under a
            `MultiWorkerMirroredStrategy` only the chief writes results into `workdir`; every
            other worker keeps its own config and checkpoints in `tfnas.runs.task_workdir`.
        deterministic: Enable TensorFlow op determinism (same seed -> same search, also
            across a kill and resume).
        callbacks: Extra Keras callbacks, run after the built-in ones.
        learned_space: A learned space of AutoSpace (`tfnas.algorithms.autospace.
            LearnedNB201Space`, e.g. `evolve_space`'s `learned_space.json`) to search in
            place of the full space; recorded in `config.json`, so a resume must use it too.

    Returns:
        The report: genotype string, space, algorithm, dataset, epochs, the epoch the run
        resumed from, final losses and accuracies, search seconds (all epochs, resumed
        ones included), the output file paths and the workdir.

    Raises:
        ValueError: for a bad argument, or if `workdir` holds a search with another config.
        CorruptCheckpointError: if the last checkpoint fails its hash check.
        NonFiniteLossError: if a loss becomes NaN or infinite (the last good checkpoint is kept).
        FileNotFoundError: if the dataset's files are missing.
    """
    from tfnas import data
    from tfnas.algorithms import build_search
    from tfnas.genotypes.plot import plot_arch_history, plot_cell

    if train_portion is not None and train_portion != config.train_portion:
        config = config.replace(train_portion=float(train_portion))
    train_portion = float(config.train_portion)
    _validate(space, train_portion, max_train_examples, image_size, verbose)
    if learned_space is not None and learned_space.space != space:
        raise ValueError(
            f"The learned space is a {learned_space.space} space; it cannot be searched with space={space!r}. "
            f"Use --space={learned_space.space}."
        )
    run_config = _run_config(
        config, space=space, dataset=dataset, max_train_examples=max_train_examples, image_size=image_size,
        deterministic=bool(deterministic),
    )
    if learned_space is not None:  # absent otherwise, so earlier workdirs still resume
        run_config["learned_space"] = jsonable(learned_space.to_dict())
    strategy = strategy or make_strategy()
    chief = is_chief(strategy)
    run_dir = task_workdir(workdir, strategy)  # a non-chief worker's own state, beside the chief's
    user_space = space not in _SPACES  # a space written in Keras, "package.module:function"
    if user_space:  # refused before anything is written
        from tfnas.algorithms.factory import check_keras_space_search

        check_keras_space_search(config)
    check_run_config(run_dir, run_config, what="search")

    seed = int(config.seed)
    epochs = int(config.epochs)
    batch_size = int(config.batch_size)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)

    train_ds, num_examples, input_shape, num_classes = load_training_set(
        dataset, data_dir, max_train_examples, image_size
    )
    steps_per_epoch = data.bilevel_steps_per_epoch(num_examples, batch_size, train_portion)
    padding = max(1, round(4 * input_shape[0] / 32))
    replicas = strategy.num_replicas_in_sync

    def run_batches(first_epoch: int):
        # The batches of epochs first_epoch..epochs-1, each epoch's from its own pipeline seeded
        # by (seed, epoch), concatenated: one `fit` reads them all, and a run resumed at epoch
        # e reads exactly the batches an uninterrupted run reads from epoch e on.
        kwargs = {"train_portion": train_portion, "split_seed": seed, "padding": padding, "dataset": dataset}

        def epoch_batches(epoch: int):
            return data.make_bilevel_dataset(
                train_ds, batch_size, seed=epoch_seed(seed, epoch), **kwargs).take(steps_per_epoch)

        stream = epoch_batches(first_epoch)
        for epoch in range(first_epoch + 1, epochs):
            stream = stream.concatenate(epoch_batches(epoch))
        return stream

    searched = space
    if user_space:  # built for this data
        from tfnas.supernets.choices import keras_space_from_path

        searched = keras_space_from_path(space, input_shape, num_classes)
    algorithm = build_search(
        config, searched, num_classes, input_shape, steps_per_epoch=steps_per_epoch, strategy=strategy,
        supernet_overrides=learned_space.supernet_overrides() if learned_space is not None else None,
    )
    supernet = algorithm.supernet
    SamplerState.attach(algorithm)

    checkpoint = EpochCheckpoint(os.path.join(run_dir, "checkpoints"))
    initial_epoch = checkpoint.restore(algorithm)
    history = ArchHistory(supernet, os.path.join(run_dir, "history.json"))
    history.truncate(initial_epoch)
    board = SearchTensorBoard(supernet, os.path.join(workdir, "tensorboard")) if chief else None
    all_callbacks = [
        *algorithm.callbacks(config),
        NonFiniteLossGuard(),
        history,
        *([board] if board is not None else []),
        checkpoint,
        *(callbacks or []),
    ]
    last_logs: dict[str, float] = {}
    try:
        if initial_epoch < epochs:
            # One fit call over all epochs, so Keras callbacks that keep state across epochs
            # (EarlyStopping, ReduceLROnPlateau, CSVLogger, ...) behave as in any Keras fit.
            batches = (data.distribute_global_batches(strategy, batch_size, lambda: run_batches(initial_epoch))
                       if replicas > 1 else run_batches(initial_epoch))
            result = algorithm.fit(
                batches,
                epochs=epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch,
                callbacks=all_callbacks,
                verbose=verbose,
                shuffle=False,
            )
            last_logs = {k: float(v[-1]) for k, v in result.history.items() if v}
    finally:
        if board is not None:
            board.close()
    if not last_logs and history.epochs:
        last_logs = dict(history.epochs[-1]["logs"])

    genotype = supernet.export()
    seconds = float(sum(e["seconds"] for e in history.epochs))
    metadata = {
        "algorithm": config.algorithm,
        "space": space,
        "dataset": dataset,
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "train_examples": num_examples,
        "input_shape": list(input_shape),
        "train_portion": train_portion,
        "search_seconds": seconds,
        "final": last_logs,
        "arch_state": _arch_state(supernet),
        "config": config.to_dict(),
        "learned_space": learned_space.to_dict() if learned_space is not None else None,
    }
    files = {
        "genotype": os.path.join(workdir, "genotype.json"),
        "cells": os.path.join(workdir, "record.jsonl" if user_space else "cells.png"),
        "arch_weights": os.path.join(workdir, "arch_weights.png"),
        "history": os.path.join(workdir, "history.json"),
        "tensorboard": os.path.join(workdir, "tensorboard"),
        "config": os.path.join(workdir, "config.json"),
    }
    if chief:  # the other workers of a cluster hold the same state and write nothing here
        write_json(files["genotype"], {**genotype.to_dict(), "search": metadata})
        if user_space:  # its record, one JSON line per choice (tfnas.supernets.choices.load_record)
            from tfnas.supernets.choices import save_record

            save_record(genotype.record, files["cells"])
        else:
            plot_cell(genotype, files["cells"], title=f"{metadata['algorithm']} on {dataset} ({space}), seed {seed}")
        if history.epochs:
            plot_arch_history(history.states, files["arch_weights"],
                              title=f"{metadata['algorithm']}: architecture weights")
        else:
            plot_arch_history([_arch_state(supernet)], files["arch_weights"])
        write_json(files["history"], {"epochs": history.epochs})
    return {
        "genotype": genotype.to_string(),
        "space": space,
        "algorithm": metadata["algorithm"],
        "dataset": dataset,
        "epochs": epochs,
        "seed": seed,
        "resumed_from_epoch": initial_epoch,
        "steps_per_epoch": steps_per_epoch,
        "train_examples": num_examples,
        "input_shape": list(input_shape),
        **{k: v for k, v in last_logs.items() if isinstance(v, float) and math.isfinite(v)},
        "search_seconds": seconds,
        "seconds_per_epoch": float(np.median([e["seconds"] for e in history.epochs])) if history.epochs else None,
        "genotypes_by_epoch": [e["genotype"] for e in history.epochs],
        "files": {k: os.path.abspath(v) for k, v in files.items()},
        "workdir": os.path.abspath(workdir),
        "chief": chief,
        "replicas": replicas,
        "learned_space_size": learned_space.size if learned_space is not None else None,
    }


def make_search_config(algorithm: str, space: str, preset: str | None = None, **overrides: Any) -> SearchConfig:
    """Returns an algorithm's paper-default `SearchConfig` for `space`, with `overrides` applied.

    The preset is `preset` when given, else the space's name when the algorithm has a
    preset of that name (GDAS: `nb201`, `darts`), else the algorithm's default preset.

    Args:
        algorithm: Registered algorithm name (`tfnas.algorithms.ALGORITHMS`).
        space: `"darts"` or `"nb201"`.
        preset: Explicit preset name.
        **overrides: `SearchConfig` fields; None values keep the default.

    Returns:
        The `SearchConfig`.

    Raises:
        ValueError: for an unknown algorithm (listing the known ones), preset, field or value.

    Example:
    >>> make_search_config("darts_minus", "nb201", epochs=3).aux_skip
    True
    """
    from tfnas.algorithms import ALGORITHMS

    if algorithm not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {algorithm!r}. Known algorithms: {', '.join(ALGORITHMS.names())}.")
    cls = ALGORITHMS.get(algorithm)
    if preset is None and space in getattr(cls, "PRESETS", {}):
        preset = space
    config = cls.default_config(preset)
    changes = {k: v for k, v in overrides.items() if v is not None}
    return config.replace(**changes) if changes else config



def load_history(workdir: str) -> list[Mapping[str, Any]]:
    """Returns the per-epoch records of a search workdir's `history.json` (oldest first).

    Raises:
        FileNotFoundError: if the workdir has no history.
    """
    with open(os.path.join(workdir, "history.json"), encoding="utf-8") as f:
        return list(json.load(f)["epochs"])


def restore_search(workdir: str) -> Any:
    """Rebuilds a search from its workdir and loads its last checkpoint (e.g. a trained SPOS supernet).

    Reads `config.json` (the algorithm's config, the space, dataset and image size the search
    ran with), builds the same algorithm and supernet and restores the newest epoch.

    Args:
        workdir: A `search()` workdir with at least one finished epoch.

    Returns:
        The algorithm (its `supernet` holds the trained weights); its `restored_epoch`
        attribute says which epoch was loaded.

    Raises:
        FileNotFoundError: without `config.json` or without a checkpoint.
        CorruptCheckpointError: if the checkpoint fails its hash check.
    """
    from tfnas import data
    from tfnas.algorithms import build_search

    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{workdir} holds no config.json: it is not a search workdir (run search() first).")
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    config = SearchConfig.from_dict(saved["search"])
    spec = data.get_dataset_spec(saved["dataset"])
    size = saved.get("image_size") or spec.image_shape[0]
    input_shape = (int(size), int(size), int(spec.image_shape[-1]))
    algorithm = build_search(config, saved["space"], spec.num_classes, input_shape, steps_per_epoch=1)
    SamplerState.attach(algorithm)
    checkpoint = EpochCheckpoint(os.path.join(workdir, "checkpoints"))
    epoch = checkpoint.restore(algorithm)
    if epoch == 0:
        raise FileNotFoundError(f"{workdir} has no finished epoch to restore (checkpoints/ is empty).")
    algorithm.restored_epoch = epoch
    return algorithm
