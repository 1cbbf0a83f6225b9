"""Building and running an augmentation search (DDAS, policy gradient, DAAS) in a workdir.

`build_augment_search(config, ...)` builds the search model: for DDAS and the policy-gradient
search a fixed NAS-Bench-201 cell network (`tfnas.children.build_child`) plus the policy;
for DAAS a NAS-Bench-201 supernet with `mixing="gumbel"` (`tfnas.supernets.build_supernet`)
plus the policy. The weight (and architecture) optimizers are the architecture searches'
(`tfnas.algorithms.factory.make_optimizers`).

`search_augment(config, dataset=..., workdir=...)` follows the conventions of
`tfnas.algorithms.runner.search` and reuses its pieces: `config.json` checked on a rerun
(same config resumes, another is refused), one bilevel dataset per epoch seeded by
`(seed, epoch)` (crop and flip in the pipeline; the policy and cutout 16 in the step),
`EpochCheckpoint` per epoch (network, policy, all optimizers, baseline, sampler state),
`NonFiniteLossGuard`, `ArchHistory` (`history.json`, the policy's per-op probabilities
each epoch) and `SearchTensorBoard`, and the Keras progress bar. It writes
`genotype.json` (the policy, `PolicyGenotype` JSON plus a `search` block with the cost),
`policy.png` (op probabilities of each stage and the apply probability over the epochs),
`cost.json` (wall and process CPU seconds per epoch) and, for DAAS, `arch_genotype.json`,
`cells.png` and `arch_weights.png`.

Under a `tf.distribute` strategy with several replicas (`MirroredStrategy`,
`MultiWorkerMirroredStrategy`) each replica takes its rows of the one-device global batches
(`tfnas.data.distribute_global_batches`) and the train steps sum over the replicas what the
one-device step computes on the whole batch (`tfnas.algorithms.augment_search`), so the search
is the one-device search up to per-replica BatchNorm statistics and the order of float sums.
On a cluster the chief writes the results into `workdir`; every other worker keeps its
config, checkpoints, history and cost in `workdir/<type>-<index>` (`tfnas.runs.task_workdir`).

References:
    - Liu et al., DDAS, arXiv 2104.04282; Wang et al., DAAS, arXiv 2109.15273.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfnas.algorithms.augment_search import AUGMENT_SEARCHES, AugmentPolicy, AugmentSearchConfig
from tfnas.algorithms.runner import ArchHistory, SamplerState, SearchTensorBoard, epoch_seed, load_training_set
from tfnas.runs import (
    EpochCheckpoint,
    NonFiniteLossGuard,
    StopAfterEpoch,
    check_run_config,
    is_chief,
    task_workdir,
    write_json,
)

# Register the three methods.
from tfnas.algorithms import daas as _daas  # noqa: F401  isort: skip
from tfnas.algorithms import ddas as _ddas  # noqa: F401  isort: skip
from tfnas.algorithms import policy_gradient as _pg  # noqa: F401  isort: skip


def build_augment_search(
    config: AugmentSearchConfig,
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    steps_per_epoch: int,
    dataset: str = "cifar10",
) -> keras.Model:
    """Builds, compiles and builds (variables and optimizers) an augmentation search.

    Args:
        config: The `AugmentSearchConfig` (its `method` picks DDAS, PG or DAAS).
        input_shape: `(H, W, C)` of the images.
        num_classes: Classes of the classifier.
        steps_per_epoch: Steps of one epoch (the cosine schedule spans all epochs).
        dataset: Registered dataset whose normalisation statistics the step uses to undo
            and redo the normalisation around the policy.

    Returns:
        The search model, ready for `fit`.

    Raises:
        ValueError: for a bad config or `steps_per_epoch`.

    Example:
    >>> search = build_augment_search(AugmentSearchConfig(method="pg", channels=4), (16, 16, 3), 10,
    ...                               steps_per_epoch=4)  # doctest: +SKIP
    """
    from tfnas.algorithms.factory import make_optimizers
    from tfnas.data import resolve_stats
    from tfnas.data.policies import ddas_entries

    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive integer. Received: steps_per_epoch={steps_per_epoch!r}")
    mean, std = resolve_stats(dataset)
    keras.utils.set_random_seed(config.seed)
    weight_optimizer, arch_optimizer = make_optimizers(config.search_config(), steps_per_epoch)
    policy = AugmentPolicy(ddas_entries(config.levels), config.stages, config.apply_init, name="augment_policy")
    cls = AUGMENT_SEARCHES.get(config.method)
    if config.method == "daas":
        from tfnas.supernets import build_supernet
        from tfnas.supernets.config import SupernetConfig

        supernet = build_supernet(SupernetConfig(
            space="nb201", channels=config.channels, layers=config.layers, num_classes=int(num_classes),
            input_shape=tuple(int(s) for s in input_shape), mixing="gumbel", seed=config.seed))
        search = cls(supernet, policy, config, mean, std, name="daas_search")
        search.compile(weight_optimizer, arch_optimizer)
    else:
        from tfnas.children import build_child
        from tfnas.genotypes.nb201 import NB201Genotype

        network = build_child(NB201Genotype.from_string(config.network), dataset="cifar10", channels=config.channels,
                              layers=config.layers, input_size=int(input_shape[0]), num_classes=int(num_classes))
        search = cls(network, policy, config, mean, std, name=f"{config.method}_search")
        search.compile(weight_optimizer)
    search.build((None, *input_shape))
    search.build_optimizers()
    return search


class _StateView:
    """What `ArchHistory` / `SearchTensorBoard` read: the search's state and exported policy."""

    def __init__(self, search: keras.Model) -> None:
        self.search = search

    def arch_state(self) -> dict[str, np.ndarray]:
        return self.search.search_state()

    def export(self):
        return self.search.export_policy()


class _CostLog:
    """Wall and process-CPU seconds per epoch in `cost.json`, kept across resumes."""

    def __init__(self, path: str, epochs_done: int) -> None:
        self.path = path
        self.epochs: list[dict[str, float]] = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.epochs = [e for e in json.load(f).get("epochs", []) if int(e["epoch"]) <= epochs_done]

    def add(self, epoch: int, wall: float, cpu: float) -> None:
        self.epochs = [e for e in self.epochs if int(e["epoch"]) < epoch] + [
            {"epoch": epoch, "wall_seconds": wall, "cpu_seconds": cpu}]
        write_json(self.path, {"epochs": self.epochs})

    def total(self, key: str) -> float:
        return float(sum(e[key] for e in self.epochs))


def search_augment(
    config: AugmentSearchConfig,
    *,
    dataset: str,
    workdir: str,
    data_dir: str | None = None,
    max_train_examples: int | None = None,
    image_size: int | None = None,
    verbose: int | str = 1,
    deterministic: bool = True,
    callbacks: list[keras.callbacks.Callback] | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) one augmentation search in `workdir` and writes its results.

    References:
        Liu et al., DDAS, arXiv 2104.04282; Wang et al., DAAS, arXiv 2109.15273.

    Args:
        config: The `AugmentSearchConfig`.
        dataset: A registered dataset (`"cifar10"`, `"digits"`).
        workdir: The run folder; a rerun with the same settings resumes.
        data_dir: The shared data folder; default `$TFNAS_DATA_DIR`.
        max_train_examples: Search on the first N training examples (DDAS: 4,000, split
            2,000 + 2,000).
        image_size: Resize the images to this side.
        verbose: Keras progress-bar verbosity.
        deterministic: TensorFlow op determinism (same seed -> same search, also across a
            kill and resume).
        callbacks: Extra Keras callbacks.
        strategy: The distribution strategy (`tfnas.runs.make_strategy`); default the
            strategy in scope. With several replicas `config.batch_size` is the global batch
            (a multiple of the replica count) and each replica takes its rows of it.

    Returns:
        The report: policy string (and for DAAS the cell), epochs, resumed-from epoch,
        final logs, wall and CPU seconds (all epochs), seconds per epoch, files, workdir,
        whether this process is the chief, and the replica count.

    Raises:
        ValueError: for a bad argument, a workdir holding another config, or a batch size
            that is not a multiple of the replica count.
        CorruptCheckpointError: if the last checkpoint fails its hash check.
        NonFiniteLossError: if a loss becomes NaN or infinite.
    """
    from tfnas import data

    if not isinstance(config, AugmentSearchConfig):
        raise ValueError(f"config must be an AugmentSearchConfig. Received: {type(config).__name__}")
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(f"batch_size must be a multiple of the number of replicas ({replicas}). "
                         f"Received: batch_size={config.batch_size}")
    if max_train_examples is not None and (not isinstance(max_train_examples, int) or max_train_examples < 4):
        raise ValueError(f"max_train_examples must be an integer >= 4 or None. Received: {max_train_examples!r}")
    if image_size is not None and (not isinstance(image_size, int) or image_size < 8):
        raise ValueError(f"image_size must be an integer >= 8 or None. Received: {image_size!r}")
    run_config = {"augment_search": config.to_dict(), "dataset": dataset, "max_train_examples": max_train_examples,
                  "image_size": image_size, "deterministic": bool(deterministic)}
    chief = is_chief(strategy)
    run_dir = task_workdir(workdir, strategy)  # a non-chief worker's own state, beside the chief's
    check_run_config(run_dir, run_config, what="search")
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)

    train_ds, num_examples, input_shape, num_classes = load_training_set(
        dataset, data_dir, max_train_examples, image_size)
    steps_per_epoch = data.bilevel_steps_per_epoch(num_examples, config.batch_size, config.train_portion)
    padding = max(1, round(4 * input_shape[0] / 32))

    def epoch_batches(epoch: int) -> tf.data.Dataset:
        return data.make_bilevel_dataset(
            train_ds, config.batch_size, train_portion=config.train_portion, split_seed=config.seed,
            seed=epoch_seed(config.seed, epoch), padding=padding, dataset=dataset, cutout=0)

    def epoch_dataset(epoch: int):
        if replicas == 1:
            return epoch_batches(epoch)
        return data.distribute_global_batches(strategy, config.batch_size, lambda: epoch_batches(epoch))

    with strategy.scope():
        search = build_augment_search(config, input_shape, num_classes, steps_per_epoch=steps_per_epoch,
                                      dataset=dataset)
    SamplerState.attach(search)
    checkpoint = EpochCheckpoint(os.path.join(run_dir, "checkpoints"))
    initial_epoch = checkpoint.restore(search)
    view = _StateView(search)
    history = ArchHistory(view, os.path.join(run_dir, "history.json"))
    history.truncate(initial_epoch)
    board = SearchTensorBoard(view, os.path.join(workdir, "tensorboard")) if chief else None
    cost = _CostLog(os.path.join(run_dir, "cost.json"), initial_epoch)
    extra = search.callbacks() if config.method == "daas" else []
    all_callbacks = [*extra, NonFiniteLossGuard(), history, *([board] if board is not None else []), checkpoint,
                     *(callbacks or []), StopAfterEpoch()]
    last_logs: dict[str, float] = {}
    try:
        for epoch in range(initial_epoch, config.epochs):
            wall, cpu = time.perf_counter(), time.process_time()
            result = search.fit(epoch_dataset(epoch), epochs=config.epochs, initial_epoch=epoch,
                                steps_per_epoch=steps_per_epoch, callbacks=all_callbacks, verbose=verbose,
                                shuffle=False)
            cost.add(epoch + 1, time.perf_counter() - wall, time.process_time() - cpu)
            last_logs = {k: float(v[-1]) for k, v in result.history.items() if v}
    finally:
        if board is not None:
            board.close()
    if not last_logs and history.epochs:
        last_logs = dict(history.epochs[-1]["logs"])

    policy = search.export_policy()
    files = {
        "genotype": os.path.join(workdir, "genotype.json"),
        "policy_plot": os.path.join(workdir, "policy.png"),
        "policy_final_plot": os.path.join(workdir, "policy_final.png"),
        "history": os.path.join(workdir, "history.json"),
        "cost": os.path.join(workdir, "cost.json"),
        "tensorboard": os.path.join(workdir, "tensorboard"),
        "config": os.path.join(workdir, "config.json"),
    }
    metadata = {
        "method": config.method, "dataset": dataset, "epochs": config.epochs, "seed": config.seed,
        "batch_size": config.batch_size, "steps_per_epoch": steps_per_epoch, "train_examples": num_examples,
        "input_shape": list(input_shape), "search_seconds": cost.total("wall_seconds"),
        "search_cpu_seconds": cost.total("cpu_seconds"), "final": last_logs, "config": config.to_dict(),
    }
    report: dict[str, Any] = {"policy": policy.to_string(), "method": config.method}
    if config.method == "daas":
        cell = search.export_architecture()
        metadata["architecture"] = cell.to_string()
        report["genotype"] = cell.to_string()
        files.update(arch_genotype=os.path.join(workdir, "arch_genotype.json"),
                     cells=os.path.join(workdir, "cells.png"), arch_weights=os.path.join(workdir, "arch_weights.png"))
    if chief:  # the other workers of a cluster hold the same state and write nothing here
        _write_results(search, config, policy, metadata, files, history, view, dataset)
    seconds = [e["wall_seconds"] for e in cost.epochs]
    report.update({
        "dataset": dataset, "epochs": config.epochs, "seed": config.seed, "resumed_from_epoch": initial_epoch,
        "steps_per_epoch": steps_per_epoch, "train_examples": num_examples, "input_shape": list(input_shape),
        **{k: v for k, v in last_logs.items() if isinstance(v, float) and math.isfinite(v)},
        "search_seconds": cost.total("wall_seconds"), "search_cpu_seconds": cost.total("cpu_seconds"),
        "seconds_per_epoch": float(np.median(seconds)) if seconds else None,
        "files": {k: os.path.abspath(v) for k, v in files.items()}, "workdir": os.path.abspath(workdir),
        "chief": chief, "replicas": replicas,
    })
    return report


def _write_results(search: keras.Model, config: AugmentSearchConfig, policy, metadata: dict[str, Any],
                   files: dict[str, str], history: ArchHistory, view: _StateView, dataset: str) -> None:
    """Writes the chief's result files: genotypes, plots and history."""
    from tfnas.genotypes.plot import plot_arch_history, plot_cell, plot_policy_distribution
    from tfnas.ops.augment_ops import OP_NAMES

    if config.method == "daas":
        cell = search.export_architecture()
        write_json(files["arch_genotype"], {**cell.to_dict(), "search": metadata})
        plot_cell(cell, files["cells"], title=f"DAAS on {dataset}, seed {config.seed}")
    write_json(files["genotype"], {**policy.to_dict(), "search": metadata})
    states = history.states or [view.arch_state()]
    policy_states = [{k: v for k, v in s.items() if not k.startswith("arch/")} for s in states]
    plot_arch_history(policy_states, files["policy_plot"],
                      op_names={f"stage{i + 1}": list(OP_NAMES) for i in range(config.stages)},
                      title=f"{config.method}: policy op probabilities")
    plot_policy_distribution(policy, files["policy_final_plot"],
                             title=f"{config.method}, seed {config.seed}: final (op, magnitude) probabilities, "
                                   f"apply {policy.apply:.3f}")
    if config.method == "daas":
        arch_states = [{k[5:]: v for k, v in s.items() if k.startswith("arch/")} for s in states]
        plot_arch_history(arch_states, files["arch_weights"], title="DAAS: architecture weights")
    write_json(files["history"], {"epochs": history.epochs})


def load_search_report(workdir: str) -> dict[str, Any]:
    """Reads a finished augmentation search's `genotype.json` (policy, cost, method).

    Raises:
        ValueError: if the workdir has no finished search (no or unreadable `genotype.json`).
    """
    path = os.path.join(workdir, "genotype.json")
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is missing or unreadable ({err}); run python -m launch.search_augment with "
                         f"--workdir={workdir} first.") from None
    if content.get("space") != "augment" or "search" not in content:
        raise ValueError(f"{path} is not an augmentation search result (space={content.get('space')!r}).")
    return content


def load_policy_history(workdir: str):
    """The per-epoch policies of a finished search (`history.json`) as a `PolicySchedule`:
    what DDAS's evaluation replays over the final training (`launch.eval_policies
    --replay_history`).

    Raises:
        ValueError: if the history is missing, unreadable or records no policy.
    """
    from tfnas.data.policies import PolicySchedule
    from tfnas.genotypes.policy import PolicyGenotype

    path = os.path.join(workdir, "history.json")
    try:
        with open(path, encoding="utf-8") as f:
            epochs = json.load(f)["epochs"]
        return PolicySchedule([PolicyGenotype.from_string(e["genotype"]) for e in epochs])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: no per-epoch policy history to replay ({err}); replaying needs the search's "
                         "history.json (rerun the search in that workdir).") from None
