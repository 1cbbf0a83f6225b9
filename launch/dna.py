r"""DNA's search in the mobile MBConv space: `python -m launch.dna --workdir=runs/dna_mobile`.

Block-wise distillation (Li et al., arXiv 1911.13053; `tfnas.ranking.dna_mobile`): trains the
teacher (`--teacher`, a `BlockGenotype` string; default a kernel-5 MobileNetV2-layout
network) on the first `--train_examples` CIFAR-10 training images, trains one single-path
student per stage of `--skeleton` (default MobileNetV2's layout at half width, DNA's six MBConv
operators per slot plus the identity) to reproduce the teacher's stage outputs from the
teacher's previous stage output, rates every child of every block on the next
`--val_examples` images, and returns the network with the lowest summed rating loss within
`--budget_madds` (default: the MAdds of the skeleton's reference network, MobileNetV2 at this
scale). With `--compare` it then trains the found network and the reference from scratch
with the teacher's recipe and tests them and the teacher on the CIFAR-10 test split.
Every stage resumes from `--workdir` after an interruption.

The LAST line printed is one JSON object: `{"search": {"genotype", "madds", "params",
"summed_loss", "block_losses", "budget_madds", "children_rated", "children_rated_here",
"rating_tasks", "rating_seconds"},
"teacher_heldout_accuracy", "training_seconds", "student_training_tasks", "compare": {"dna" | "reference" | "teacher":
{"genotype", "test_accuracy", "madds", "params", "training_seconds"}} (with --compare),
"config", "wall_seconds", "cpu", "cpu_vector_extensions", "kernel_library"}`.

`--strategy` (auto, one_device, mirrored, multi_worker; `launch/_cluster.py`) is accepted as by
every launch script. DNA's training is custom loops (the teacher, the block students;
`tfnas.ranking.dna`) that run on this process's default device (the first GPU if any), so a
strategy with several local replicas does not split them (a line says so). Under
`multi_worker` the block students train data-parallel over the tasks (task k of n takes the
rows `k::n` of every global batch; the gradients are summed across the cluster each step, so
every task keeps the same students; `student_training_tasks` in the JSON), so does the
teacher (`training_tasks` in `teacher.json`), and the rating of the children, the bulk of the search, is
split: task k rates the children `i % n == k` of each block and the ratings are summed across
the cluster (an all-reduce), so n workers rate in about 1/n of the time (`children_rated_here`,
`rating_tasks` in the JSON).
The chief keeps its run in `--workdir`, every other worker in `<workdir>/worker-<index>`.

Errors (missing data, a teacher that does not fit the skeleton, a workdir holding other
settings) print `error: ...` on stderr and exit with status 2.

Example:
  python -m launch.dna --workdir=runs/dna_mobile --teacher_epochs=10 --student_epochs=10 \
      --train_examples=10000 --compare
"""

from __future__ import annotations

import json
import sys
import time

from absl import app, flags

from launch._cluster import strategy_from_flags, strategy_name

_WORKDIR = flags.DEFINE_string("workdir", "runs/dna_mobile", "Where the run keeps its state (resumable).")
_DATASET = flags.DEFINE_string("dataset", "cifar10", "Image data (`cifar10`; `digits` for smoke runs).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Shared data folder (default $TFNAS_DATA_DIR).")
_TEACHER = flags.DEFINE_string("teacher", None, "Teacher BlockGenotype string (default dna_mobile.TEACHER_CIFAR).")
_SKELETON = flags.DEFINE_string(
    "skeleton", None, "The students' skeleton and reference network (default dna_mobile.MOBILENET_V2_CIFAR).")
_BUDGET = flags.DEFINE_float("budget_madds", None, "MAdds budget (default: the reference network's MAdds).")
_NO_BUDGET = flags.DEFINE_boolean("no_budget", False, "Search without a budget (the lowest summed loss).")
_TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 30, "Epochs of the teacher (and of --compare's networks).")
_STUDENT_EPOCHS = flags.DEFINE_integer("student_epochs", 20, "Epochs of the block students (paper: 20).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Training batch (paper: 64).")
_TRAIN_EXAMPLES = flags.DEFINE_integer("train_examples", 25000, "Training images of teacher and students.")
_VAL_EXAMPLES = flags.DEFINE_integer("val_examples", 1000, "Next training images, which rate the children.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 32, "Image side.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of initialisation and sampling.")
_COMPARE = flags.DEFINE_boolean("compare", False, "Train the found network and the reference from scratch.")
_TEST_EXAMPLES = flags.DEFINE_integer("test_examples", None, "With --compare: the first N test images (all).")


def _test_split(dataset: str, data_dir: str | None, image_size: int, count: int | None):
    """The test split as normalised float32 arrays (the normalisation of the rating images)."""
    from tfnas import data
    from tfnas.data.pipeline import normalized_arrays, resize_examples

    kwargs = {"image_size": image_size} if dataset == "digits" else {}
    _, test = data.load_splits(dataset, data_dir=data_dir, **kwargs)
    if count is not None:
        test = test.take(count)
    native = data.get_dataset_spec(dataset).image_shape[0]
    if image_size != native and dataset != "digits":
        test = test.map(resize_examples(image_size))
    return normalized_arrays(test, dataset)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()
    from tfnas.budgets.counters import count_madds
    from tfnas.children.mobile_net import build_mobile_network
    from tfnas.genotypes.block import BlockGenotype
    from tfnas.ranking import ProxyConfig, ScoringContext
    from tfnas.ranking.dna_mobile import MOBILENET_V2_CIFAR, TEACHER_CIFAR, MobileDna, MobileDnaConfig

    from tfnas.runs import sum_over_tasks, task_share, task_workdir

    start = time.perf_counter()
    try:
        strategy = strategy_from_flags()
        config = MobileDnaConfig(
            teacher=_TEACHER.value or TEACHER_CIFAR, skeleton=_SKELETON.value or MOBILENET_V2_CIFAR,
            teacher_epochs=_TEACHER_EPOCHS.value, student_epochs=_STUDENT_EPOCHS.value, batch_size=_BATCH_SIZE.value,
            train_examples=_TRAIN_EXAMPLES.value, val_examples=_VAL_EXAMPLES.value, seed=_SEED.value,
            learning_rates=(0.002,) + (0.005,) * (len(BlockGenotype.from_string(
                _SKELETON.value or MOBILENET_V2_CIFAR).stages) - 1))
        proxy = ProxyConfig(image_size=_IMAGE_SIZE.value, batch_size=_BATCH_SIZE.value, seed=_SEED.value,
                            dataset=_DATASET.value)
        share = task_share(strategy)
        context = ScoringContext(proxy, data_dir=_DATA_DIR.value, log=print, share=share,
                                 combine=lambda values: sum_over_tasks(strategy, values))
        if strategy.num_replicas_in_sync > 1:
            print(f"note: --strategy={strategy_name()} has {strategy.num_replicas_in_sync} replicas; DNA's "
                  "training (custom loops) and rating run on this process's device, not split over its local "
                  "replicas (the tasks of a multi_worker cluster split them)")
        # This worker's run: the chief's in --workdir, another worker's in <workdir>/worker-<index>.
        run = MobileDna(task_workdir(_WORKDIR.value, strategy), config, context, log=print)
        budget = _BUDGET.value
        if budget is None and not _NO_BUDGET.value:
            size = _IMAGE_SIZE.value
            reference = build_mobile_network(BlockGenotype.from_string(config.skeleton), input_shape=(size, size, 3),
                                             num_classes=context.num_classes)
            budget = float(count_madds(reference))
        print(f"DNA (arXiv 1911.13053) in the mobile space: teacher {config.teacher}; skeleton {config.skeleton}; "
              f"budget {'none' if budget is None else f'{budget / 1e6:.3f}M MAdds'}")
        found = run.search(budget)
        print(f"found: {found['genotype']} ({(found['madds'] or 0) / 1e6:.3f}M MAdds, summed loss "
              f"{found['summed_loss']})")
        compare = None
        if _COMPARE.value:
            if found["genotype"] is None:
                raise ValueError(f"Nothing fits --budget_madds={budget}: raise the budget to compare.")
            x_test, y_test = _test_split(_DATASET.value, _DATA_DIR.value, _IMAGE_SIZE.value, _TEST_EXAMPLES.value)
            compare = run.compare(BlockGenotype.from_string(found["genotype"]), x_test, y_test)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    summary = {"search": found, "teacher_heldout_accuracy": run.teacher_accuracy,
               "training_seconds": run.training_seconds, "student_training_tasks": share[1],
               "config": config.to_dict(),
               "wall_seconds": round(time.perf_counter() - start, 1), **runtime.machine()}
    if compare is not None:
        summary["compare"] = compare
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)
