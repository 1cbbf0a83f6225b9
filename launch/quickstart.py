r"""The quickstart: a real architecture search on the embedded digits, then its child trained.

`make quickstart` runs this. It needs no download: scikit-learn ships the 8x8 digits
(1,797 images), resized to 32x32 RGB. Three stages, each in its own sub-folder of the
workdir:

1. `search/`: DARTS- (Chu et al., arXiv 2009.01027) searches a cell in the NAS-Bench-201
   space (the small space: 5 ops on 6 edges) with its paper recipe (auxiliary skip, beta
   decaying from 1 to 0), on a supernet of 8 channels and 1 cell per stage; it writes
   `genotype.json`, a picture of the cell and the architecture-weight plot. Digits give 11
   architecture steps an epoch, so `--arch_learning_rate` is 10x the paper's 3e-4: at 3e-4
   the architecture weights moved from 0.19 to 0.22 in 15 epochs and the cell read as noise;
2. `child/`: the derived cell's network (NB201 skeleton) trained with the child recipe;
3. `random/<k>/`: `--random_cells` cells drawn uniformly from the space (seeded) trained with
   the same recipe: the baseline a search has to beat;
4. prints the found cell next to the random cells (test accuracy, parameters), whether the
   found cell beats their mean, its MAdds; the last line is JSON (the child's report plus
   `random_cells`, `random_mean_accuracy` and `beats_random_mean`).

Rerunning with the same workdir resumes (each stage checkpoints every epoch).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import numpy as np
from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", "runs/quickstart", "Where results are written.")
_ALGORITHM = flags.DEFINE_string("algorithm", "darts_minus", "Search algorithm.")
_SEARCH_EPOCHS = flags.DEFINE_integer("search_epochs", 15, "Search epochs.")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Child training epochs.")
_SEARCH_CHANNELS = flags.DEFINE_integer("search_channels", 8, "Supernet initial channels.")
_CHANNELS = flags.DEFINE_integer("channels", 8, "Child initial channels.")
_LAYERS = flags.DEFINE_integer("layers", 1, "Cells per stage (supernet and child).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 16, "Image side of the search.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_ARCH_LEARNING_RATE = flags.DEFINE_float(
    "arch_learning_rate", 3e-3, "Adam learning rate of the architecture weights (paper 3e-4; see the docstring)."
)
_RANDOM_CELLS = flags.DEFINE_integer("random_cells", 3, "Random cells trained as the baseline (0: none).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.algorithms.runner import make_search_config, search
    from tfnas.children.training import TrainConfig, train
    from tfnas.strategies import random_cell

    workdir = _WORKDIR.value
    start = time.perf_counter()
    search_config = make_search_config(
        _ALGORITHM.value, "nb201", epochs=_SEARCH_EPOCHS.value, batch_size=64,
        channels=_SEARCH_CHANNELS.value, layers=_LAYERS.value, seed=_SEED.value,
        arch_learning_rate=_ARCH_LEARNING_RATE.value,
    )
    try:
        found = search(search_config, space="nb201", dataset="digits",
                       workdir=os.path.join(workdir, "search"), image_size=_IMAGE_SIZE.value,
                       verbose=2)
        search_seconds = time.perf_counter() - start
        child_config = TrainConfig(
            genotype=found["genotype"],
            dataset="digits",
            epochs=_EPOCHS.value,
            batch_size=64,
            learning_rate=0.05,
            cutout=8,
            channels=_CHANNELS.value,
            layers=_LAYERS.value,
            seed=_SEED.value,
        )
        report = train(child_config, os.path.join(workdir, "child"), verbose=2)
        rng = np.random.default_rng(_SEED.value)
        randoms = []
        for k in range(_RANDOM_CELLS.value):
            cell = random_cell(rng).to_string()
            print(f"== random cell {k}: {cell}", flush=True)
            randoms.append(train(dataclasses.replace(child_config, genotype=cell),
                                 os.path.join(workdir, "random", str(k)), verbose=0))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    seconds = time.perf_counter() - start
    print()
    print(f"searched        {_ALGORITHM.value}, NAS-Bench-201 space, digits, "
          f"{search_config.epochs} epochs, {search_seconds:.0f} s")
    print(f"genotype        {report['genotype']}")
    print(f"test accuracy   {report['test_accuracy']:.4f}  (digits, child trained "
          f"{child_config.epochs} epochs)")
    print(f"parameters      {report['trainable_params']:,} trainable")
    print(f"MAdds           {report['madds']:,}")
    summary_random: dict = {}
    if randoms:
        print(f"\nagainst {len(randoms)} random cells of the same space, trained the same way:")
        print(f"  {'cell':<100} {'test acc':>8} {'params':>8}")
        print(f"  {report['genotype']:<100} {report['test_accuracy']:>8.4f} {report['trainable_params']:>8,}  (searched)")
        for r in randoms:
            print(f"  {r['genotype']:<100} {r['test_accuracy']:>8.4f} {r['trainable_params']:>8,}  (random)")
        mean = float(np.mean([r["test_accuracy"] for r in randoms]))
        beats = report["test_accuracy"] > mean
        print(f"  random mean {mean:.4f}: the searched cell {'beats' if beats else 'does NOT beat'} it "
              f"by {100 * (report['test_accuracy'] - mean):+.2f} points")
        summary_random = {
            "random_cells": [{"genotype": r["genotype"], "test_accuracy": r["test_accuracy"],
                              "trainable_params": r["trainable_params"]} for r in randoms],
            "random_mean_accuracy": mean,
            "beats_random_mean": bool(beats),
        }
    print(f"wall time       {seconds:.0f} s")
    print(f"results in      {os.path.abspath(workdir)} (search/genotype.json, search/cells.png, "
          "search/arch_weights.png, child/report.json, child/model.keras)")
    summary = {k: v for k, v in report.items() if k != "history"}
    summary.update(algorithm=_ALGORITHM.value, search_seconds=search_seconds, wall_seconds=seconds, **summary_random)
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)
