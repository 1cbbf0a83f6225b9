r"""Evaluate augmentation policies: `python -m launch.eval_policies --workdir=runs/eval_policies`.

Trains ONE fixed network on CIFAR-10 with each augmentation policy, same budget and seeds,
and reports the test accuracy (mean and sample std over the seeds) of every policy with its
search cost in CPU-hours (process CPU time of the search, all threads; 0 for the policies
not searched here):

| key | training augmentation |
|---|---|
| `none` | none (normalisation only) |
| `standard` | pad-4 random crop + horizontal flip |
| `randaugment` | crop + flip + RandAugment(N=`--ra_n`, M=`--ra_m`) + cutout `--cutout` (default N=3, M=4) |
| `autoaugment` | crop + flip + AutoAugment's CIFAR-10 policy + cutout |
| `ddas`, `pg`, `daas` | crop + flip + the searched policy + cutout |

(AutoAugment's protocol: crop/flip, the policy, then cutout 16. The searched policies are
used as found, final distribution; with `--replay_history`, as DDAS's own evaluation does, each
search's per-epoch policies (its `history.json`) are replayed as a schedule stretched over the
training epochs: `tfnas.data.policies.PolicySchedule`.) The searched policies come from finished
`launch.search_augment` workdirs (`--ddas_workdir`, ...) or, when none is given, from a
small search run here in `<workdir>/search_<method>` on `--search_examples` CIFAR-10
images (split half/half, as DDAS's 2,000 + 2,000) for `--search_epochs` epochs, with the
same network (DAAS searches its own cell; only its policy is evaluated here, on the fixed
network, so every row differs only in augmentation).

Budgets (`--budget`; a flag given on the command line overrides its budget's value). The
network is the NAS-Bench-201 network of NB201 cell index 9930 (94.36, the table's second best;
`augment_search.DEFAULT_NETWORK`), trained with SGD momentum 0.9, lr 0.05 cosine to 0, weight
decay 5e-4, clip 5, batch 128, tested on all 10,000 test images:

| budget | training images | epochs | network | seeds | searches run here |
|---|---|---|---|---|---|
| `data_limited` (default) | first 2,000 | 150 | 16 channels, 1 cell/stage | 3 | 2,000 images, 50 epochs |
| `full` | all 50,000 | 200 | 16 channels, 5 cells/stage (NB201's own) | 3 | 50,000 images, 20 epochs (DDAS's) |
| `quick` | first 8,000 | 12 | 8 channels, 1 cell/stage | 2 | 4,000 images, 10 epochs |

`data_limited` is where augmentation matters, measured (WORKSPACE.md, the augmentation table):
without augmentation the network memorises the 2,000 images (training accuracy 100%, test 53.0),
crop + flip adds 8.9 points, RandAugment 5 more, as in the literature; about 10 minutes a run on
2 cores. `full` is the longer setting, for a benchmark machine, not CI. `quick` is a smoke
check: at its 12 epochs every policy underfits and no augmentation ranks first.

Every run writes `<workdir>/runs/<policy>_seed<k>.json` when it finishes; a rerun with the
same flags skips finished runs (and resumes unfinished searches). `--policies` and
`--num_seeds` only choose runs, so a rerun may change them (more seeds train only the new
ones); any other flag that differs is refused.
`--strategy` (auto, one_device, mirrored, multi_worker; `launch/_cluster.py`) distributes the
trainings: each network is built in its scope and each replica trains on its rows of the
one-device batch (`tfnas.data.distribute_global_batches`). The augmentation searches run on one
device, on every worker of a cluster alike (each worker reads its own search's results; run
`launch.search_augment --strategy=...` and pass its workdir to distribute a search). Under `multi_worker` the chief writes into `--workdir`; every other worker keeps
its config, finished runs and searches in `<workdir>/worker-<index>` (so a restarted cluster
skips the same finished runs on every worker) and writes no `results.json`.

Output: one table line per policy, then one JSON object on the last line keyed `none,
standard, randaugment, autoaugment, ddas, pg, daas`, each with `mean`, `std` (test accuracy,
percent) and `search_cpu_hours`.

Examples:
  python -m launch.eval_policies --workdir=runs/eval_policies
  python -m launch.eval_policies --workdir=runs/eval_full --budget=full
  python -m launch.eval_policies --workdir=runs/eval_small --epochs=4 --num_seeds=1 \
      --train_examples=2000 --search_epochs=2 --policies=standard,autoaugment,ddas
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any

from absl import app, flags

from launch._aliases import define_deprecated, resolve
from launch._cluster import strategy_from_flags

ALL_POLICIES = ("none", "standard", "randaugment", "autoaugment", "ddas", "pg", "daas")
SEARCHED = ("ddas", "pg", "daas")

_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder (results, searches); a rerun resumes.", required=True)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder holding cifar10/cifar10_jpg.tar.gz; default $TFNAS_DATA_DIR.")
_DATASET = flags.DEFINE_string("dataset", "cifar10", "Dataset: cifar10, digits, a folder of images with one sub-folder per class, or tfds:NAME[:CONFIG] (digits for quick checks).")
_POLICIES = flags.DEFINE_list("policies", list(ALL_POLICIES), f"Policies to evaluate, among {', '.join(ALL_POLICIES)}.")
_NETWORK = flags.DEFINE_string("network", None, "NAS-Bench-201 cell of the fixed network (default: index 9930, 94.36).")
#: `--budget` -> the values it gives the flags not on the command line (see the module docstring).
BUDGETS: dict[str, dict[str, int]] = {
    "data_limited": {"train_examples": 2000, "epochs": 150, "channels": 16, "layers": 1, "num_seeds": 3,
                     "search_examples": 2000, "search_epochs": 50},
    "full": {"train_examples": 50000, "epochs": 200, "channels": 16, "layers": 5, "num_seeds": 3,
             "search_examples": 50000, "search_epochs": 20},
    "quick": {"train_examples": 8000, "epochs": 12, "channels": 8, "layers": 1, "num_seeds": 2,
              "search_examples": 4000, "search_epochs": 10},
}
_BUDGET = flags.DEFINE_enum("budget", "data_limited", list(BUDGETS),
                            "Evaluation budget: sets the flags below marked 'by --budget' unless given.")
_CHANNELS = flags.DEFINE_integer("channels", None, "Initial channels of the fixed network (by --budget).")
_LAYERS = flags.DEFINE_integer("layers", None, "Cells per stage of the fixed network (by --budget).")
_EPOCHS = flags.DEFINE_integer("epochs", None, "Training epochs per run (by --budget).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Training batch size.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 0.05, "SGD learning rate (cosine to 0).")
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", 5e-4, "Coupled L2 weight decay.")
_TRAIN_EXAMPLES = flags.DEFINE_integer("train_examples", None, "Train on the first N training images (by --budget).")
_TEST_EXAMPLES = flags.DEFINE_integer("test_examples", None, "Test on the first N test images (default: all).")
_NUM_SEEDS = flags.DEFINE_integer("num_seeds", None, "Seeds per policy, 0 .. num_seeds-1 (by --budget).")
_SEEDS = define_deprecated("integer", "seeds", "num_seeds")
_CUTOUT = flags.DEFINE_integer("cutout", 16, "Cutout side after a policy (randaugment, autoaugment, searched).")
# RandAugment defaults: the paper's CIFAR-10 setting for Wide-ResNet-28-2, N=3, M=4 (arXiv
# 1909.13719 appendix; `tfnas.data.policies.RANDAUGMENT_CIFAR10_N/_M`, not imported here so that
# flag parsing does not load TensorFlow). WRN-28-10's is N=3, M=5; ImageNet ResNet-50's N=2, M=9.
_RA_N = flags.DEFINE_integer("ra_n", 3, "RandAugment N (default: the paper's CIFAR-10 WRN-28-2 setting).")
_RA_M = flags.DEFINE_float("ra_m", 4.0, "RandAugment M, 0..10 (default: the paper's CIFAR-10 WRN-28-2 setting).")
_SEARCH_EPOCHS = flags.DEFINE_integer("search_epochs", None, "Epochs of the searches run here (by --budget).")
_SEARCH_EXAMPLES = flags.DEFINE_integer("search_examples", None, "Training images of the searches run here (by --budget).")
_SEARCH_BATCH_SIZE = flags.DEFINE_integer("search_batch_size", 64, "Batch of each part in the searches run here.")
_DDAS_WORKDIR = flags.DEFINE_string("ddas_workdir", None, "A finished DDAS search to take the policy from.")
_PG_WORKDIR = flags.DEFINE_string("pg_workdir", None, "A finished policy-gradient search to take the policy from.")
_DAAS_WORKDIR = flags.DEFINE_string("daas_workdir", None, "A finished DAAS search to take the policy from.")
_REPLAY = flags.DEFINE_boolean(
    "replay_history", False, "Searched policies (ddas, pg, daas): replay each search's per-epoch policies over the "
    "training epochs (DDAS's evaluation protocol) instead of its final policy.")
_VERBOSE = flags.DEFINE_integer("verbose", 0, "Keras progress verbosity of each run.")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Everything that defines an evaluation of augmentation policies (written to the workdir).

    The defaults are the `data_limited` budget's (`BUDGETS`).

    Raises:
        ValueError: naming the field for an out-of-range value or an unknown policy.
    """

    dataset: str = "cifar10"
    data_dir: str | None = None
    policies: tuple[str, ...] = ALL_POLICIES
    network: str | None = None
    channels: int = 16
    layers: int = 1
    epochs: int = 150
    batch_size: int = 128
    learning_rate: float = 0.05
    weight_decay: float = 5e-4
    train_examples: int = 2000
    test_examples: int | None = None
    seeds: int = 3
    cutout: int = 16
    ra_n: int = 3
    ra_m: float = 4.0
    search_epochs: int = 50
    search_examples: int = 2000
    search_batch_size: int = 64
    search_workdirs: tuple[tuple[str, str], ...] = ()
    replay_history: bool = False

    def __post_init__(self) -> None:
        unknown = [p for p in self.policies if p not in ALL_POLICIES]
        if unknown or not self.policies:
            raise ValueError(f"policies must be a non-empty subset of {', '.join(ALL_POLICIES)}. Received: {unknown or '[]'}")
        for name in ("channels", "layers", "epochs", "batch_size", "train_examples", "seeds", "ra_n",
                     "search_epochs", "search_examples", "search_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                flag = "num_seeds" if name == "seeds" else name
                raise ValueError(f"--{flag} must be a positive integer. Received: {value!r}")
        if self.test_examples is not None and self.test_examples < 1:
            raise ValueError(f"--test_examples must be positive. Received: {self.test_examples!r}")
        if self.cutout < 0:
            raise ValueError(f"--cutout must be >= 0. Received: {self.cutout!r}")
        if self.batch_size > self.train_examples:
            raise ValueError(f"--batch_size={self.batch_size} exceeds --train_examples={self.train_examples}.")
        if not 0.0 <= self.ra_m <= 10.0:
            raise ValueError(f"--ra_m must be in [0, 10]. Received: {self.ra_m!r}")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["policies"] = list(self.policies)
        data["search_workdirs"] = [list(p) for p in self.search_workdirs]
        if not self.replay_history:  # recorded only when set, so earlier evaluations resume
            del data["replay_history"]
        return data


def _materialize(ds, limit: int | None):
    import numpy as np
    import tensorflow as tf

    if limit is not None:
        ds = ds.take(limit)
    xs, ys = [], []
    for x, y in ds.batch(4096):
        xs.append(x.numpy())
        ys.append(y.numpy())
    x, y = np.concatenate(xs), np.concatenate(ys)
    return tf.data.Dataset.from_tensor_slices((x, y)), len(y)


def searched_policy(config: EvalConfig, method: str, workdir: str, verbose: int,
                    strategy=None) -> tuple[Any, float, str | None, str]:
    """Returns `(policy genotype, search CPU hours, DAAS cell or None, search workdir)` for `method`.

    Reads a finished search from `config.search_workdirs` or runs (resumes) a small one in
    `<workdir>/search_<method>`, on `strategy` when it has one replica, else on one device.
    """
    from tfnas.algorithms.augment_runner import load_policy_history, load_search_report, search_augment
    from tfnas.algorithms.augment_search import DEFAULT_NETWORK, AugmentSearchConfig
    from tfnas.genotypes.policy import PolicyGenotype

    given = dict(config.search_workdirs).get(method)
    if given is None:
        given = os.path.join(workdir, f"search_{method}")
        search_config = AugmentSearchConfig(
            method=method, epochs=config.search_epochs, batch_size=config.search_batch_size,
            network=config.network or DEFAULT_NETWORK, channels=config.channels, layers=config.layers, seed=0)
        one_replica = strategy if strategy is not None and strategy.num_replicas_in_sync == 1 else None
        search_augment(search_config, dataset=config.dataset, workdir=given, data_dir=config.data_dir,
                       max_train_examples=config.search_examples, verbose=verbose, strategy=one_replica)
    content = load_search_report(given)
    if content["search"].get("method") != method:
        raise ValueError(f"{given} holds a {content['search'].get('method')!r} search, not {method!r}.")
    policy = PolicyGenotype.from_dict(content)
    if config.replay_history:
        policy = load_policy_history(given)
    return policy, float(content["search"]["search_cpu_seconds"]) / 3600.0, content["search"].get("architecture"), given


def _final_policy(policy):
    """A searched policy, or a replayed schedule's last (the search's final) policy."""
    from tfnas.data.policies import PolicySchedule

    return policy.final if isinstance(policy, PolicySchedule) else policy


def train_once(config: EvalConfig, policy_name: str, policy: Any, seed: int, train_ds, num_train: int,
               test_ds, verbose: int, strategy=None) -> dict[str, Any]:
    """Trains the fixed network with one policy and seed (under `strategy`, default the one in
    scope); returns accuracy and timing."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfnas.algorithms.augment_search import DEFAULT_NETWORK
    from tfnas.children import build_child
    from tfnas.children.training import ChildTask, TrainConfig, make_optimizer
    from tfnas.data import distribute_global_batches
    from tfnas.data.policies import PolicySchedule, make_policy_dataset
    from tfnas.genotypes.nb201 import NB201Genotype

    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(seed)
    augment = policy_name != "none"
    steps = num_train // config.batch_size
    batches = make_policy_dataset(
        train_ds, config.batch_size, policy, dataset=config.dataset, seed=seed, repeat=True,
        cutout=config.cutout if policy is not None else 0, padding=4 if augment else 0, flip=None if augment else False,
        schedule_epochs=(steps, config.epochs))
    build_spec = batches.element_spec
    if strategy.num_replicas_in_sync > 1:  # each replica trains on its rows of the one-device batch
        one_device = batches
        batches = distribute_global_batches(strategy, config.batch_size, lambda: one_device)
    genotype = NB201Genotype.from_string(config.network or DEFAULT_NETWORK)
    train_config = TrainConfig(genotype=genotype.to_string(), dataset=config.dataset, epochs=config.epochs,
                               batch_size=config.batch_size, learning_rate=config.learning_rate,
                               weight_decay=config.weight_decay, auxiliary_weight=0.0, seed=seed)
    with strategy.scope():
        child = build_child(genotype, dataset="cifar10", channels=config.channels, layers=config.layers)
        task = ChildTask(child, auxiliary_weight=0.0, weight_decay=config.weight_decay)
        task.compile(optimizer=make_optimizer(train_config, steps),
                     metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
        task.set_build_spec(build_spec)
    wall, cpu = time.perf_counter(), time.process_time()
    history = task.fit(batches, epochs=config.epochs, steps_per_epoch=steps, verbose=verbose)
    train_seconds, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    correct = total = 0
    for x, y in test_ds:
        logits = child(x, training=False)
        correct += int(tf.reduce_sum(tf.cast(tf.argmax(logits, -1) == tf.cast(y, tf.int64), tf.int32)))
        total += int(y.shape[0])
    loss = [float(v) for v in history.history["loss"]]
    if not all(np.isfinite(loss)):
        raise ValueError(f"{policy_name} seed {seed}: the training loss became non-finite ({loss[-1]}).")
    return {"policy": policy_name, "seed": seed, "test_accuracy": 100.0 * correct / total, "test_examples": total,
            "train_seconds": train_seconds, "train_cpu_seconds": train_cpu, "final_train_loss": loss[-1],
            "final_train_accuracy": float(history.history["accuracy"][-1]),
            "policy_string": None if policy is None else _final_policy(policy).to_string(),
            "replayed_epochs": len(policy) if isinstance(policy, PolicySchedule) else None,
            "replicas": strategy.num_replicas_in_sync}


def evaluate(config: EvalConfig, workdir: str, verbose: int = 0, log=print,
             strategy=None) -> dict[str, dict[str, Any]]:
    """Runs (or resumes) the evaluation; returns `{policy: {"mean", "std", "search_cpu_hours", ...}}`.

    The trainings run under `strategy` (default `tfnas.runs.make_strategy()`); on a cluster only
    the chief writes `results.json` into `workdir`, every worker keeps its config, finished runs
    and searches in `tfnas.runs.task_workdir(workdir, strategy)` (`workdir` on the chief).

    Raises:
        ValueError: if `workdir` holds an evaluation with another config, or a search
            workdir is not a finished search of the right method.
    """
    import numpy as np

    from tfnas import data
    from tfnas.data.policies import published_policy, randaugment
    from tfnas.runs import check_run_config, is_chief, make_strategy, task_workdir, write_json

    strategy = strategy or make_strategy()
    results_dir, workdir = workdir, task_workdir(workdir, strategy)  # this worker's state
    check_run_config(workdir, config.to_dict(), what="evaluation", selection=("seeds", "policies"))
    os.makedirs(os.path.join(workdir, "runs"), exist_ok=True)
    train, test = data.load_splits(config.dataset, data_dir=config.data_dir)
    train_ds, num_train = _materialize(train, config.train_examples)
    test_raw, _ = _materialize(test, config.test_examples)
    test_ds = data.make_eval_dataset(test_raw, 500, dataset=config.dataset)

    policies: dict[str, Any] = {"none": None, "standard": None, "randaugment": randaugment(config.ra_n, config.ra_m),
                                "autoaugment": published_policy("autoaugment_cifar10")}
    cost = {name: 0.0 for name in policies}
    notes = {"none": "no augmentation", "standard": "crop + flip",
             "randaugment": f"crop + flip + RandAugment(N={config.ra_n}, M={config.ra_m:g}) + cutout {config.cutout}",
             "autoaugment": f"crop + flip + AutoAugment CIFAR-10 policy + cutout {config.cutout} "
                            "(published policy; its search, ~5000 GPU-hours, not run here)"}
    extra: dict[str, dict[str, Any]] = {}
    for method in SEARCHED:
        if method in config.policies:
            policy, hours, cell, where = searched_policy(config, method, workdir, verbose, strategy)
            policies[method], cost[method] = policy, hours
            final = _final_policy(policy)
            replayed = f" replayed over its {len(policy)} search epochs" if config.replay_history else ""
            notes[method] = f"crop + flip + {method} policy{replayed} + cutout {config.cutout}"
            extra[method] = {"search_workdir": os.path.abspath(where), "policy": final.to_string(),
                             "top_entries": final.top_entries(5)}
            if config.replay_history:
                extra[method]["replayed_epochs"] = len(policy)
            if cell:
                extra[method]["architecture"] = cell
            log(f"{method}: search {hours:.3f} CPU-hours, policy {final.to_string()[:160]}...")
    results: dict[str, dict[str, Any]] = {}
    for name in config.policies:
        accs = []
        for seed in range(config.seeds):
            run_path = os.path.join(workdir, "runs", f"{name}_seed{seed}.json")
            if os.path.exists(run_path):
                with open(run_path, encoding="utf-8") as f:
                    run = json.load(f)
            else:
                run = train_once(config, name, policies[name], seed, train_ds, num_train, test_ds, verbose,
                                 strategy)
                write_json(run_path, run)
            log(f"{name} seed {seed}: test accuracy {run['test_accuracy']:.2f}% ({run['train_seconds']:.0f} s)")
            accs.append(run["test_accuracy"])
        arr = np.asarray(accs, dtype=np.float64)
        results[name] = {"mean": round(float(arr.mean()), 3),
                         "std": round(float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, 3),
                         "search_cpu_hours": round(cost[name], 4), "seeds": len(arr),
                         "accuracies": [round(a, 3) for a in accs], "augmentation": notes[name], **extra.get(name, {})}
    if is_chief(strategy):  # the other workers of a cluster keep only their own state
        write_json(os.path.join(results_dir, "results.json"), results)
    return results


def budgeted(budget: str, given: dict[str, int | None]) -> dict[str, int]:
    """The budget's values (`BUDGETS[budget]`), with each value in `given` that is not None instead.

    Example:
    >>> budgeted("data_limited", {"epochs": 20, "channels": None})["epochs"], budgeted("quick", {})["epochs"]
    (20, 12)
    """
    values = dict(BUDGETS[budget])
    values.update({name: value for name, value in given.items() if value is not None})
    return values


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    searches = tuple((m, w) for m, w in (("ddas", _DDAS_WORKDIR.value), ("pg", _PG_WORKDIR.value),
                                         ("daas", _DAAS_WORKDIR.value)) if w)
    try:
        strategy = strategy_from_flags()
        sized = budgeted(_BUDGET.value, {
            "channels": _CHANNELS.value, "layers": _LAYERS.value, "epochs": _EPOCHS.value,
            "train_examples": _TRAIN_EXAMPLES.value, "num_seeds": resolve(_NUM_SEEDS, _SEEDS),
            "search_epochs": _SEARCH_EPOCHS.value, "search_examples": _SEARCH_EXAMPLES.value})
        config = EvalConfig(
            dataset=_DATASET.value, data_dir=_DATA_DIR.value, policies=tuple(_POLICIES.value), network=_NETWORK.value,
            channels=sized["channels"], layers=sized["layers"], epochs=sized["epochs"], batch_size=_BATCH_SIZE.value,
            learning_rate=_LEARNING_RATE.value, weight_decay=_WEIGHT_DECAY.value,
            train_examples=sized["train_examples"], test_examples=_TEST_EXAMPLES.value, seeds=sized["num_seeds"],
            cutout=_CUTOUT.value, ra_n=_RA_N.value, ra_m=_RA_M.value, search_epochs=sized["search_epochs"],
            search_examples=sized["search_examples"], search_batch_size=_SEARCH_BATCH_SIZE.value,
            search_workdirs=searches, replay_history=_REPLAY.value)
        results = evaluate(config, _WORKDIR.value, verbose=_VERBOSE.value, strategy=strategy)
    except (ValueError, KeyError, FileNotFoundError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    print(f"budget {_BUDGET.value}; network: NB201 cell {config.network or 'index 9930 (94.36)'}, {config.channels} channels, "
          f"{config.layers} cell(s)/stage; {config.epochs} epochs on {config.train_examples} {config.dataset} "
          f"images, {config.seeds} seed(s)")
    print(f"{'policy':<12} {'test acc (%)':>16} {'search CPU-h':>13}")
    for name, r in results.items():
        print(f"{name:<12} {r['mean']:>8.2f} +- {r['std']:<5.2f} {r['search_cpu_hours']:>13.4f}")
    print(json.dumps({name: {"mean": r["mean"], "std": r["std"], "search_cpu_hours": r["search_cpu_hours"]}
                      for name, r in results.items()}))


if __name__ == "__main__":
    app.run(main)
