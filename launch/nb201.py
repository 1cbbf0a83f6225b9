r"""NAS-Bench-201 benchmark: search with several algorithms and seeds, look the cells up.

`python -m launch.nb201 --algorithms=darts,darts_minus,gdas,pc_darts --seeds=0,1,2 --epochs=N`
searches on CIFAR-10 in the NAS-Bench-201 space (`tfnas.algorithms.runner.search`, one
workdir per algorithm and seed: `<workdir>/<algorithm>/seed<k>`, each resumable), looks
every found cell up in `$TFNAS_DATA_DIR/nb201/nats_bench_tss_200ep.csv`
(`tfnas.benchmarks.NB201Table`) and prints:

- one line per search: algorithm, seed, the found cell, its CIFAR-10 / CIFAR-100 /
  ImageNet16-120 200-epoch test accuracy, search seconds;
- the summary table: per algorithm the mean +- std over seeds on the three datasets next to
  the published numbers (DARTS 54.30, GDAS 93.61, PC-DARTS 93.41, DARTS- 93.80, optimum 94.37);
- as its LAST line one JSON object keyed by algorithm:
  `{"darts_minus": {"cells": [...], "cifar10_mean": .., "cifar10_std": .., "cifar100_mean": ..,
  "imagenet16_mean": .., "search_seconds": .., "cifar10_by_epoch": [..],
  "parameter_free_by_epoch": [..]}, ...}` (`search_seconds`: mean wall time of one seed's
  search, resumed epochs included; the two `_by_epoch` lists trace the search: the cell
  derived at the end of each epoch, looked up, and its count of parameter-free ops of 6,
  mean over seeds; they show when and how fast a search drifts toward skip connections).

Defaults, sized for these 2 CPU cores (at most about 30 minutes per algorithm and seed):
the paper's data and schedule, a smaller network. `--max_train_examples=50000` (25,000 for
the weights, 25,000 for the architecture, as the paper), `--batch_size=64` and
`--epochs=50` (paper: DARTS and DARTS- 50), so 390 steps an epoch; the NB201 supernet with
`--channels=8` and `--layers=1` cell per stage (the paper: 16 and 5), CIFAR-10 resized to
`--image_size=16` (paper 32). All other hyper-parameters are each algorithm's paper
defaults. The data budget matters more than the network here: at 10,000 images (78 steps
an epoch) DARTS- collapsed on 1 seed of 3 (78.63 +- 17.30 over seeds 0-2); at the default
50,000 none of 3 did (91.20 +- 2.18).

Measured cost of one seed on these 2 cores, machine otherwise idle: DARTS- 1,571 s (26
minutes) at the defaults; first-order DARTS about the same, GDAS and PC-DARTS less;
second-order DARTS about 2x DARTS, so over the bound: give it fewer images or epochs.
`--max_train_examples=10000` takes 290-365 s for 50 epochs (a quick check).

Scale up on real hardware with `--channels=16 --layers=5 --image_size=32` (the NB201
paper's network).

ROME is not offered here: its sampling keeps exactly two inputs per node, which the NB201
cell (every edge kept) does not have.

Errors (unknown algorithm, missing data or table, corrupt checkpoint, NaN) print
`error: ...` on stderr and exit with status 2.

Example (a smoke-size run):
  python -m launch.nb201 --algorithms=darts_minus --seeds=0 --epochs=1 --channels=4 \
      --max_train_examples=256 --image_size=8 --workdir=runs/nb201_smoke
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

NB201_ALGORITHMS = ("darts", "darts2", "darts_minus", "pc_darts", "gdas")

_ALGORITHMS = flags.DEFINE_list(
    "algorithms", ["darts", "darts_minus", "gdas", "pc_darts"],
    f"Algorithms to run, from {', '.join(NB201_ALGORITHMS)}.",
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (one search per algorithm and seed).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/nb201", "Parent folder of the searches' workdirs.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Shared data folder (cifar10/ and nb201/); default $TFNAS_DATA_DIR."
)
_DATASET = flags.DEFINE_enum(
    "dataset", "cifar10", ["cifar10", "digits"], "Search data (the benchmark is CIFAR-10; digits for smoke tests)."
)
_EPOCHS = flags.DEFINE_integer("epochs", 50, "Search epochs of every algorithm (paper 50).")
_CHANNELS = flags.DEFINE_integer("channels", 8, "Initial supernet channels (paper 16).")
_LAYERS = flags.DEFINE_integer("layers", 1, "Cells per stage (paper 5).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 16, "Image side the search sees (paper 32).")
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer(
    "max_train_examples", 50000, "First N CIFAR-10 training images (split 50/50); paper 50000."
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Global batch size of each part per step.")
_VERBOSE = flags.DEFINE_integer("verbose", 1, "Keras progress verbosity of each search.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.algorithms.runner import make_search_config, search
    from tfnas.benchmarks import NB201Table, format_search_results, summarize_searches
    from tfnas.runs import CorruptCheckpointError, NonFiniteLossError

    try:
        algorithms = [a.strip() for a in _ALGORITHMS.value if a.strip()]
        unknown = [a for a in algorithms if a not in NB201_ALGORITHMS]
        if unknown or not algorithms:
            raise ValueError(
                f"--algorithms must name algorithms from {', '.join(NB201_ALGORITHMS)}. Received: {unknown or algorithms}"
            )
        try:
            seeds = [int(s) for s in _SEEDS.value]
        except ValueError:
            raise ValueError(f"--seeds must be integers. Received: {_SEEDS.value}") from None
        if not seeds:
            raise ValueError("--seeds must name at least one seed.")
        table = NB201Table(data_dir=_DATA_DIR.value)  # Fails early when the table is missing.
        results: dict[str, list[dict]] = {}
        for algorithm in algorithms:
            results[algorithm] = []
            for seed in seeds:
                config = make_search_config(
                    algorithm, "nb201", epochs=_EPOCHS.value, batch_size=_BATCH_SIZE.value,
                    channels=_CHANNELS.value, layers=_LAYERS.value, seed=seed,
                )
                workdir = os.path.join(_WORKDIR.value, algorithm, f"seed{seed}")
                print(f"== {algorithm}, seed {seed}: {workdir}", flush=True)
                report = search(
                    config, space="nb201", dataset=_DATASET.value, workdir=workdir, data_dir=_DATA_DIR.value,
                    max_train_examples=_MAX_TRAIN_EXAMPLES.value, image_size=_IMAGE_SIZE.value,
                    verbose=_VERBOSE.value,
                )
                entry = table.lookup(report["genotype"])
                print(f"   {report['genotype']}  C10 {entry.cifar10:.2f}  C100 {entry.cifar100:.2f}  "
                      f"IN16 {entry.imagenet16:.2f}  ({report['search_seconds']:.0f} s)", flush=True)
                results[algorithm].append(report)
    except (ValueError, KeyError, FileNotFoundError, CorruptCheckpointError, NonFiniteLossError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    print(format_search_results(results, table))
    print(
        f"(setting: {_EPOCHS.value} epochs, {_IMAGE_SIZE.value}x{_IMAGE_SIZE.value} images, {_CHANNELS.value} channels, "
        f"{_LAYERS.value} cell(s) per stage, batch {_BATCH_SIZE.value}, {_MAX_TRAIN_EXAMPLES.value} training images, "
        f"seeds {seeds})"
    )
    print(json.dumps(summarize_searches(results, table)))


if __name__ == "__main__":
    app.run(main)
