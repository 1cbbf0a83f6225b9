"""Run machinery shared by child training and search: checkpoints, guards, timing, strategy.

A run lives in a workdir; `EpochCheckpoint` makes it resumable after a kill, with every
checkpoint hashed so corruption is reported rather than silently replaced;
`NonFiniteLossGuard` stops a run whose loss diverged while keeping the last good checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file does not match the hash recorded when it was written."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` as soon as a batch's loss is NaN or infinite.

    Raising (rather than Keras's `TerminateOnNaN`, which only stops) leaves the last
    epoch's checkpoint untouched, since no epoch end is reached.
    """

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"Training loss became {float(loss)} at batch {batch}. The last good checkpoint "
                "is kept in the workdir. Lower the learning rate, check the data for "
                "NaN/inf values, or disable mixed precision, then rerun to resume."
            )


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model and optimizer state every epoch; `restore()` resumes from the last one.

    Files: `<directory>/epoch-NNNN.weights.h5` (the two most recent kept) and
    `<directory>/state.json` (`{"epoch": completed epochs, "file": ..., "sha256": ...,
    "history": [...]}`), written atomically (temporary file, then rename).

    Args:
        directory: Where checkpoints live.
        keep: How many epoch files to keep.
    """

    STATE = "state.json"

    def __init__(self, directory: str, keep: int = 2) -> None:
        super().__init__()
        self.directory = directory
        self.keep = int(keep)
        os.makedirs(directory, exist_ok=True)
        self.history: list[dict[str, float]] = []

    def _state_path(self) -> str:
        return os.path.join(self.directory, self.STATE)

    def read_state(self) -> dict[str, Any] | None:
        """Returns the saved state, None when no checkpoint exists.

        Raises:
            CorruptCheckpointError: if the state file is unreadable or its weights file is
                missing or does not match its hash.
        """
        path = self._state_path()
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
            weights = os.path.join(self.directory, state["file"])
            expected = state["sha256"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CorruptCheckpointError(
                f"Checkpoint state {path} is unreadable ({err}). Delete {self.directory} to "
                "start over, or restore the file from a backup."
            ) from None
        if not os.path.exists(weights):
            raise CorruptCheckpointError(
                f"Checkpoint {weights} named in {path} is missing. Delete {self.directory} to "
                "start over."
            )
        actual = _sha256(weights)
        if actual != expected:
            raise CorruptCheckpointError(
                f"Checkpoint {weights} is corrupt: sha256 {actual[:12]}... does not match the "
                f"recorded {expected[:12]}.... It was not replaced; delete {self.directory} to "
                "start over or restore the file."
            )
        return state

    def restore(self, model: keras.Model) -> int:
        """Loads the last checkpoint into `model` (built, optimizer built); returns its epoch."""
        state = self.read_state()
        if state is None:
            return 0
        model.load_weights(os.path.join(self.directory, state["file"]))
        self.history = list(state.get("history", []))
        return int(state["epoch"])

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        done = epoch + 1
        name = f"epoch-{done:04d}.weights.h5"
        final = os.path.join(self.directory, name)
        tmp = os.path.join(self.directory, "tmp-" + name)
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, final)
        self.history.append({k: float(v) for k, v in (logs or {}).items()})
        state = {"epoch": done, "file": name, "sha256": _sha256(final), "history": self.history}
        tmp_state = self._state_path() + ".tmp"
        with open(tmp_state, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=2)
        os.replace(tmp_state, self._state_path())
        files = sorted(f for f in os.listdir(self.directory) if f.startswith("epoch-"))
        for old in files[: -self.keep]:
            os.remove(os.path.join(self.directory, old))


class LoopCheckpoint:
    """The resume point of a hand-written training loop: its objects and a JSON state, per epoch.

    `save(state)` writes a `tf.train.Checkpoint` of the objects (`<directory>/ckpt-N.*`, the
    last one kept) and then `<directory>/loop_state.json` (`{"state": ..., "prefix": ...,
    "sha256": {file: hash}}`) atomically, so the JSON names only a complete checkpoint.
    `restore()` checks every file against its hash, loads the objects and returns the state
    (None when there is nothing to resume).

    Args:
        directory: Where the checkpoint lives.
        **objects: The trackable objects (models, optimizers, variables) to save.

    Raises:
        CorruptCheckpointError: from `restore` for an unreadable state, a missing file or a
            hash mismatch (the message says what to delete).
    """

    STATE = "loop_state.json"

    def __init__(self, directory: str, **objects: Any) -> None:
        self.directory = directory
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=1)

    def _files(self, prefix: str) -> list[str]:
        base = os.path.basename(prefix)
        return sorted(f for f in os.listdir(self.directory) if f.startswith(base + "."))

    def restore(self) -> dict[str, Any] | None:
        path = os.path.join(self.directory, self.STATE)
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            prefix, hashes, state = saved["prefix"], saved["sha256"], saved["state"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CorruptCheckpointError(f"Checkpoint state {path} is unreadable ({err}). Delete {self.directory} "
                                         "to start over.") from None
        for name, expected in hashes.items():
            file = os.path.join(self.directory, name)
            if not os.path.exists(file) or _sha256(file) != expected:
                raise CorruptCheckpointError(f"Checkpoint file {file} is missing or corrupt (its sha256 does not match "
                                             f"{path}). Delete {self.directory} to start over.")
        self.checkpoint.restore(os.path.join(self.directory, prefix)).assert_existing_objects_matched()
        return state

    def save(self, state: dict[str, Any]) -> None:
        prefix = self.manager.save()
        hashes = {f: _sha256(os.path.join(self.directory, f)) for f in self._files(prefix)}
        write_json(os.path.join(self.directory, self.STATE),
                   {"state": state, "prefix": os.path.basename(prefix), "sha256": hashes})


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every epoch (`self.seconds`)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


#: The `--strategy` names of the launch scripts (`make_strategy`).
STRATEGY_NAMES = ("auto", "one_device", "mirrored", "multi_worker")


def _tf_config() -> dict[str, Any]:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw.strip():
        return {}
    try:
        config = json.loads(raw)
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
        return config
    except ValueError as err:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({err}): {raw[:200]!r}. Set it to "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}.'
        ) from None


def _cluster_size(config: dict[str, Any]) -> int:
    cluster = config.get("cluster") or {}
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The distribution strategy of a run, by its `--strategy` name.

    - `auto`: a `MultiWorkerMirroredStrategy` when `TF_CONFIG` names a cluster of two or
      more tasks; else a `MirroredStrategy` over the local GPUs (or logical CPUs) when
      there are two or more; else one device. A single device gets the default strategy
      (the same computation without the cross-replica machinery, which on a 2-core CPU
      doubled the step time of a DARTS child: 3.2 s vs 1.35 s a step at batch 96, measured).
    - `one_device`: the first GPU, else the CPU.
    - `mirrored`: a `MirroredStrategy` over the local GPUs (or logical CPUs; one replica
      if there is one device).
    - `multi_worker`: a `MultiWorkerMirroredStrategy`, its cluster and this process's task
      read from `TF_CONFIG`. Create it at the start of the program, before other TF work.

    Args:
        name: One of `STRATEGY_NAMES`.

    Raises:
        ValueError: for an unknown name, `multi_worker` without a cluster in `TF_CONFIG`,
            or an unreadable `TF_CONFIG`.
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"Unknown strategy {name!r}; use one of {', '.join(STRATEGY_NAMES)}.")
    config = _tf_config()
    if name == "multi_worker" or (name == "auto" and _cluster_size(config) > 1):
        if not config.get("cluster") or not config.get("task"):
            raise ValueError(
                "--strategy=multi_worker reads the cluster and this process's task from TF_CONFIG, which is "
                "unset or lacks them. Set TF_CONFIG on every worker, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}} '
                "(index 1 on the second machine), or use --strategy=auto on one machine."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    devices = gpus or tf.config.list_logical_devices("CPU")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if len(gpus) == 1:
        return tf.distribute.OneDeviceStrategy(gpus[0].name)
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def _task(strategy: tf.distribute.Strategy | None) -> tuple[str | None, int, dict[str, Any]]:
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is not None:
        cluster = resolver.cluster_spec().as_dict()
        return (resolver.task_type, int(resolver.task_id or 0), cluster) if cluster else (None, 0, {})
    return None, 0, {}


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes a run's results: always, except on the non-chief workers of a cluster.

    The chief is the task of type `chief`, or worker 0 when the cluster has no `chief`
    (the `MultiWorkerMirroredStrategy` convention).
    """
    task_type, task_id, cluster = _task(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def reducible_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """A `train_step`'s logs in the shape Keras can reduce across the workers of a cluster.

    Under `MultiWorkerMirroredStrategy` Keras reduces step outputs across workers with
    `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars ("Invalid reduction
    dimension 0"); a length-1 vector reduces to the scalar mean. Elsewhere the logs pass unchanged.
    """
    if not isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return logs
    return {name: tf.reshape(value, [1]) if getattr(value, "shape", None) == () else value
            for name, value in logs.items()}


def task_share(strategy: tf.distribute.Strategy | None = None) -> tuple[int, int]:
    """`(position, count)` of this process among the tasks of a cluster (the chief first, then
    the workers by index); `(0, 1)` outside a cluster. Work split by item `i % count ==
    position` is done once across the cluster (e.g. per-cell scoring in `launch.rank`).

    Example:
    >>> task_share(None)
    (0, 1)
    """
    task_type, task_id, cluster = _task(strategy)
    if task_type is None:
        return 0, 1
    chiefs = len(cluster.get("chief", []))
    count = chiefs + len(cluster.get("worker", []))
    position = 0 if task_type == "chief" else chiefs + task_id
    return position, count


def sum_over_tasks(strategy: tf.distribute.Strategy | None, values: np.ndarray) -> np.ndarray:
    """The element-wise sum of `values` over the tasks of a cluster (an all-reduce every task
    must call; each process's local replicas count once); `values` itself outside a cluster."""
    if task_share(strategy)[1] == 1:
        return np.asarray(values)
    tensor = tf.constant(np.asarray(values, dtype=np.float64))
    calls: list[int] = []

    def local(_context):
        calls.append(1)  # one value per process: the first local replica's, zeros on the others
        return tensor if len(calls) == 1 else tf.zeros_like(tensor)

    per_replica = strategy.experimental_distribute_values_from_function(local)
    return np.asarray(strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None))


def combine_scaled(combine, weight: float, tensors) -> list[np.ndarray]:
    """`weight` times each of `tensors`, summed over a cluster's tasks in one call of `combine`
    (an all-reduce sum such as `ScoringContext.combine` or `sum_over_tasks`), returned in
    their shapes as float64 arrays: one all-reduce for a whole list of gradients.

    Example:
    >>> [a.tolist() for a in combine_scaled(lambda v: 2 * v, 0.5, [np.ones(2), np.ones((1, 1))])]
    [[1.0, 1.0], [[1.0]]]
    """
    arrays = [np.asarray(t, dtype=np.float64) for t in tensors]
    total = np.asarray(combine(weight * np.concatenate([a.ravel() for a in arrays])), dtype=np.float64)
    pieces = np.split(total, np.cumsum([a.size for a in arrays])[:-1])
    return [piece.reshape(a.shape) for piece, a in zip(pieces, arrays)]


def task_workdir(workdir: str, strategy: tf.distribute.Strategy | None = None) -> str:
    """The folder where this process keeps its run state: `workdir` on the chief, `workdir/<type>-<index>` elsewhere.

    Every worker of a cluster checkpoints (each holds the full, replicated state), so a
    restarted cluster resumes on every worker from its own last checkpoint, whether or not
    the machines share a file system; only the chief writes the results into `workdir`.
    """
    if is_chief(strategy):
        return workdir
    task_type, task_id, _ = _task(strategy)
    return os.path.join(workdir, f"{task_type}-{task_id}")


def check_workdir(workdir: str, label: str = "--workdir") -> None:
    """Creates `workdir` if needed; a clear `ValueError` if it cannot be a writable folder.

    Args:
        workdir: The run folder.
        label: How the message names it (the launch scripts' flag).

    Raises:
        ValueError: if it exists and is not a folder, cannot be created or is not writable.
    """
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"{label}={workdir!r} exists and is not a folder.")
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{label}={workdir!r} cannot be created ({err.strerror}).") from None
    if not os.access(workdir, os.W_OK):
        raise ValueError(f"{label}={workdir!r} is not writable.")


class StopAfterEpoch(keras.callbacks.Callback):
    """Ends a `fit` call after its first epoch (for runners that call `fit` once per epoch)."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.model.stop_training = True


def jsonable(value: Any) -> Any:
    """`value` with numpy arrays and scalars turned into lists and Python numbers, recursively."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def write_json(path: str, data: Any) -> None:
    """Writes `data` (numpy values allowed) to `path` atomically: a temporary file, then rename,
    so a kill never leaves a half-written file."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(jsonable(data), f, indent=2)
    os.replace(tmp, path)


class ResultLog:
    """Per-cell results appended one JSON line each, so an interrupted run resumes.

    Each line is `{"cell": ..., <settings_key>: settings, **values}`; `read` returns the
    lines measured at the same settings (others are kept in the file and ignored), keyed by
    cell. A line is appended (and flushed) as soon as its cell is done, so a kill loses at
    most the cell in progress. A line that does not parse is reported, not skipped: fix or
    delete it (that cell is then measured again).

    Args:
        path: The JSON-lines file (created on the first `append`).
        settings: What the results depend on, JSON-ready (e.g. the proxy, the scorer's
            settings, the seed).
        settings_key: The line's field holding `settings`.
        fields: The numeric values every line must hold (read back as floats).
    """

    def __init__(self, path: str, settings: dict[str, Any], settings_key: str = "settings",
                 fields: tuple[str, ...] = ()) -> None:
        self.path = path
        self.settings = jsonable(settings)
        self.settings_key = settings_key
        self.fields = fields

    def read(self) -> dict[str, dict[str, Any]]:
        """`{cell: line}` of the lines measured at these settings (the last one wins).

        Raises:
            ValueError: for a line that is not JSON or lacks `cell`, the settings field or a
                numeric value of `fields`.
        """
        results: dict[str, dict[str, Any]] = {}
        if not os.path.exists(self.path):
            return results
        with open(self.path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    cell, settings = str(row["cell"]), row[self.settings_key]
                    row.update({name: float(row[name]) for name in self.fields})
                except (ValueError, KeyError, TypeError) as err:
                    raise ValueError(
                        f"{self.path}, line {number}, is not a result line ({err}); fix or delete the line "
                        "(that cell is then measured again)."
                    ) from None
                if settings == self.settings:
                    results[cell] = row
        return results

    def append(self, cell: str, **values: Any) -> None:
        """Appends one cell's result (numpy values allowed)."""
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        row = {"cell": cell, **jsonable(values), self.settings_key: self.settings}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()


def check_run_config(workdir: str, config: dict[str, Any], what: str = "run",
                     selection: tuple[str, ...] = ()) -> None:
    """Writes a run's `config.json`, or checks that the one already in `workdir` equals `config`.

    A rerun with the same workdir resumes, so it must be the same run: any field that
    differs is named in the error (nested dicts one level down, as `outer.key`).

    Args:
        workdir: The run folder (created if needed).
        config: The run's configuration, JSON-ready (see `jsonable`).
        what: How the message names the run ("search", "evaluation", ...).
        selection: Keys of `config` that only choose which of the workdir's runs to do (an
            evaluation's seeds and policies: each run has its own file), so a rerun may
            change them to add runs: they are neither written nor compared.

    Raises:
        ValueError: if the saved config is unreadable or differs.
    """
    path = os.path.join(workdir, "config.json")
    config = {k: v for k, v in jsonable(config).items() if k not in selection}
    if not os.path.exists(path):
        os.makedirs(workdir, exist_ok=True)
        write_json(path, config)
        return
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"Workdir {workdir} has an unreadable config.json ({err}); delete the workdir or pick another."
        ) from None
    if isinstance(saved, dict):  # a workdir written before these keys were a selection
        saved = {k: v for k, v in saved.items() if k not in selection}
    if saved == config:
        return
    diff = []
    for key in sorted(saved.keys() | config.keys()):
        a, b = saved.get(key), config.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diff += [f"{key}.{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
        elif a != b:
            diff.append(f"{key}: {a!r} -> {b!r}")
    raise ValueError(
        f"Workdir {workdir} holds a {what} with a different config ({'; '.join(diff)}). "
        "Use a new --workdir, or the same settings to resume."
    )
