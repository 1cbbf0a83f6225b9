r"""Interference in a weight-sharing supernet: gradient similarity of a shared operator.

`python -m launch.interference --supernet_workdir=DIR` restores a finished NB201
single-path search (`spos`, `magic_t`, `gdas`: e.g. the `<workdir>/spos_supernet` that
`launch.rank --scorer=spos` trains) and measures, as Xu et al. (arXiv 2108.12821, Sec. 3)
do, the cosine similarity of the gradients a shared convolution receives from two child
models on the same batch, against the number of operators in which the children differ
(`tfnas.ranking.interference`). The batch is the first `--batch_size` held-out images of the
search's own bilevel split (the architecture half, which its weights never saw).

It prints one line per distance (mean and std of the cosine, measurements, probes cut off)
and as its LAST line one JSON object: `{"supernet_workdir", "supernet_algorithm",
"supernet_epochs", "pairs_per_distance", "batch_size", "seed", "by_distance": [{"distance",
"mean_cosine", "std_cosine", "count", "skipped"}], "wall_seconds", "cpu", "cpu_vector_extensions",
"kernel_library"}`.

Errors (missing or unfinished workdir, a supernet that does not sample) print `error: ...`
on stderr and exit with status 2.

Example:
  python -m launch.interference --supernet_workdir=runs/rank/spos_supernet --pairs_per_distance=20
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags

_SUPERNET_WORKDIR = flags.DEFINE_string(
    "supernet_workdir", None, "A finished NB201 single-path search (spos, magic_t, gdas).", required=True)
_PAIRS = flags.DEFINE_integer("pairs_per_distance", 20, "Child pairs drawn at each distance.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Held-out images both children see.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the drawn children.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Shared data folder (default $TFNAS_DATA_DIR).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()
    from tfnas.algorithms.autospace import heldout_batches
    from tfnas.algorithms.runner import load_training_set, restore_search
    from tfnas.ranking.interference import gradient_similarity
    from tfnas.runs import CorruptCheckpointError

    start = time.perf_counter()
    try:
        if _PAIRS.value < 1 or _BATCH_SIZE.value < 2:
            raise ValueError(f"--pairs_per_distance must be >= 1 and --batch_size >= 2. Received: "
                             f"{_PAIRS.value}, {_BATCH_SIZE.value}")
        algorithm = restore_search(_SUPERNET_WORKDIR.value)
        with open(os.path.join(_SUPERNET_WORKDIR.value, "config.json"), encoding="utf-8") as f:
            run = json.load(f)
        train_ds, _, _, _ = load_training_set(run["dataset"], _DATA_DIR.value, run["max_train_examples"],
                                              run["image_size"])
        images, labels = heldout_batches(train_ds, split_seed=algorithm.config.seed,
                                         train_portion=algorithm.config.train_portion, examples=_BATCH_SIZE.value,
                                         batch_size=_BATCH_SIZE.value, dataset=run["dataset"])[0]
        report = gradient_similarity(algorithm.supernet, images, labels, pairs_per_distance=_PAIRS.value,
                                     seed=_SEED.value)
    except (ValueError, KeyError, FileNotFoundError, CorruptCheckpointError) as err:
        print(f"error: {err.args[0] if isinstance(err, KeyError) and err.args else err}", file=sys.stderr)
        sys.exit(2)
    name = algorithm.config.algorithm
    print(f"Gradient similarity of a shared convolution (arXiv 2108.12821 Sec. 3): {name} supernet after "
          f"{algorithm.restored_epoch} epochs, {_PAIRS.value} child pairs per distance, batch {_BATCH_SIZE.value}")
    for row in report.rows():
        mean = "-" if row["mean_cosine"] is None else f"{row['mean_cosine']:.3f} +- {row['std_cosine']:.3f}"
        print(f"  {row['distance']} op(s) apart: cosine {mean} ({row['count']} measurements, "
              f"{row['skipped']} probes cut off)")
    print(json.dumps({
        "supernet_workdir": _SUPERNET_WORKDIR.value, "supernet_algorithm": name,
        "supernet_epochs": algorithm.restored_epoch, "pairs_per_distance": _PAIRS.value,
        "batch_size": _BATCH_SIZE.value, "seed": _SEED.value, "by_distance": report.rows(),
        "wall_seconds": round(time.perf_counter() - start, 1), **runtime.machine(),
    }))


if __name__ == "__main__":
    app.run(main)
