r"""The quickstart: a real architecture search on the embedded digits, then its child trained.

`make quickstart` runs this. It needs no download: scikit-learn ships the 8x8 digits
(1,797 images), resized to 32x32 RGB. Three stages, each in its own sub-folder of the
workdir:

1. `search/`: a cell searched in the NAS-Bench-201 space (the small space: 5 ops on 6
   edges) on the native 8x8 digits. The default `--algorithm=evolution` is regularized
   evolution (Real et al., arXiv 1802.01548) over `--search_evaluations` cells, each trained
   standalone for `--search_epochs` epochs on 1,000 training images and scored on the other
   437 (`tfnas.strategies`); `--algorithm=random` or `pnas` the same way. A differentiable
   algorithm (`darts_minus`: Chu et al., arXiv 2009.01027, its paper recipe, on a supernet of
   8 channels and 1 cell per stage, `--search_epochs` epochs) runs the bilevel search instead.
   It writes `genotype.json` and a picture of the cell (plus the architecture-weight plot for
   a differentiable search). Why evolution by default: on digits DARTS- drifts to
   `avg_pool_3x3` on every edge (at the paper's architecture learning rate 3e-4 the weights
   move from 0.20 to 0.22 in 15 epochs of 11 steps; at 3e-3 average pooling takes 0.23-0.24
   of every edge) and that cell did not beat random cells, while at 32x32 every cell reaches
   about 99% and no search can show anything;
2. `child/`: the found cell's network (NB201 skeleton) trained with the child recipe at the
   same 8x8 input;
3. `random/<k>/`: `--random_cells` cells drawn uniformly from the space (seeded) trained with
   the same recipe: the baseline a search has to beat;
4. prints the found cell next to the random cells (test accuracy, parameters), whether the
   found cell beats their mean, its MAdds; the last line is JSON (the child's report plus
   `random_cells`, `random_mean_accuracy` and `beats_random_mean`).

Rerunning with the same workdir resumes (each stage checkpoints every epoch).

`--strategy` (auto, one_device, mirrored, multi_worker; `launch/_cluster.py`) distributes the
differentiable search and every child training (`tfnas.algorithms.runner.search`,
`tfnas.children.training.train`: each replica on its rows of the one-device batch, only the
chief writing results). A multi-trial search trains its cells on this process's device (its
evaluator clears the Keras session between cells, which ends any strategy scope); on a cluster
every worker runs it with the same seeds and a non-chief worker keeps its evaluations in
`search/worker-<index>`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import numpy as np
from absl import app, flags

from launch._cluster import strategy_from_flags

_WORKDIR = flags.DEFINE_string("workdir", "runs/quickstart", "Where results are written.")
_ALGORITHM = flags.DEFINE_string(
    "algorithm", "evolution", "A multi-trial strategy (evolution, random, pnas) or a differentiable algorithm (darts_minus)."
)
_SEARCH_EPOCHS = flags.DEFINE_integer(
    "search_epochs", 3, "Training epochs of each evaluated cell (multi-trial) or search epochs (differentiable)."
)
_SEARCH_EVALUATIONS = flags.DEFINE_integer("search_evaluations", 12, "Cells a multi-trial strategy evaluates.")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Child training epochs.")
_SEARCH_CHANNELS = flags.DEFINE_integer("search_channels", 8, "Supernet initial channels.")
_CHANNELS = flags.DEFINE_integer("channels", 8, "Child initial channels.")
_LAYERS = flags.DEFINE_integer("layers", 1, "Cells per stage (supernet and child).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 8, "Image side of the search and the child (digits are 8x8).")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_RANDOM_CELLS = flags.DEFINE_integer("random_cells", 3, "Random cells trained as the baseline (0: none).")


def _multi_trial_search(workdir: str, strategy) -> dict:
    """Runs the multi-trial strategy with the training evaluator; writes genotype.json and cells.png
    (a cluster's other workers keep their evaluations in `workdir/worker-<index>` and write nothing else)."""
    from tfnas import strategies
    from tfnas.genotypes.nb201 import NB201Genotype
    from tfnas.genotypes.plot import plot_cell
    from tfnas.runs import is_chief, task_workdir, write_json

    chief = is_chief(strategy)
    results, workdir = workdir, task_workdir(workdir, strategy)
    os.makedirs(workdir, exist_ok=True)
    proxy = strategies.ProxyConfig(
        dataset="digits", channels=_SEARCH_CHANNELS.value, layers=_LAYERS.value, image_size=_IMAGE_SIZE.value,
        train_examples=1000, val_examples=437, epochs=_SEARCH_EPOCHS.value, seed=_SEED.value,
    )
    # Results cached per cell in the workdir: a rerun resumes without training them again.
    evaluator = strategies.TrainEvaluator(proxy, cache_path=os.path.join(workdir, "evaluations.jsonl"))
    trace = strategies.make_strategy(_ALGORITHM.value).search(
        evaluator, strategies.Budget(evaluations=_SEARCH_EVALUATIONS.value), seed=_SEED.value)
    for trial in trace.trials:
        print(f"   evaluated {trial.cell}  held-out accuracy {trial.score:.2f}", flush=True)
    best = trace.best()
    genotype = NB201Genotype.from_string(best.cell)
    if chief:
        write_json(os.path.join(results, "genotype.json"), {
            **genotype.to_dict(),
            "search": {"algorithm": _ALGORITHM.value, "evaluations": len(trace.trials), "score": best.score,
                       "proxy": {k: v for k, v in vars(proxy).items() if k != "data_dir"},
                       "trials": [{"cell": t.cell, "score": t.score} for t in trace.trials]},
        })
        plot_cell(genotype, os.path.join(results, "cells.png"),
                  title=f"{_ALGORITHM.value} on digits (nb201), seed {_SEED.value}")
    return {"genotype": best.cell,
            "how": f"{len(trace.trials)} cells trained {_SEARCH_EPOCHS.value} epochs each"}


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.algorithms.runner import make_search_config, search
    from tfnas.children.training import TrainConfig, train
    from tfnas import strategies

    workdir = _WORKDIR.value
    start = time.perf_counter()
    try:
        strategy = strategy_from_flags()
        if _ALGORITHM.value in strategies.STRATEGIES:
            found = _multi_trial_search(os.path.join(workdir, "search"), strategy)
        else:
            search_config = make_search_config(
                _ALGORITHM.value, "nb201", epochs=_SEARCH_EPOCHS.value, batch_size=64,
                channels=_SEARCH_CHANNELS.value, layers=_LAYERS.value, seed=_SEED.value,
            )
            found = search(search_config, space="nb201", dataset="digits",
                           workdir=os.path.join(workdir, "search"), image_size=_IMAGE_SIZE.value,
                           verbose=2, strategy=strategy)
            found = {**found, "how": f"{search_config.epochs} search epochs"}
        search_seconds = time.perf_counter() - start
        child_config = TrainConfig(
            genotype=found["genotype"],
            dataset="digits",
            epochs=_EPOCHS.value,
            batch_size=64,
            learning_rate=0.05,
            cutout=_IMAGE_SIZE.value // 4,
            input_size=_IMAGE_SIZE.value,
            channels=_CHANNELS.value,
            layers=_LAYERS.value,
            seed=_SEED.value,
        )
        report = train(child_config, os.path.join(workdir, "child"), verbose=2, strategy=strategy)
        rng = np.random.default_rng(_SEED.value)
        randoms = []
        for k in range(_RANDOM_CELLS.value):
            cell = strategies.random_cell(rng).to_string()
            print(f"== random cell {k}: {cell}", flush=True)
            randoms.append(train(dataclasses.replace(child_config, genotype=cell),
                                 os.path.join(workdir, "random", str(k)), verbose=0, strategy=strategy))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    seconds = time.perf_counter() - start
    print()
    print(f"searched        {_ALGORITHM.value}, NAS-Bench-201 space, digits {_IMAGE_SIZE.value}x{_IMAGE_SIZE.value}, "
          f"{found['how']}, {search_seconds:.0f} s")
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
    pictures = "search/cells.png" + ("" if _ALGORITHM.value in strategies.STRATEGIES else ", search/arch_weights.png")
    print(f"results in      {os.path.abspath(workdir)} (search/genotype.json, {pictures}, "
          "child/report.json, child/model.keras, random/<k>/)")
    summary = {k: v for k, v in report.items() if k != "history"}
    summary.update(algorithm=_ALGORITHM.value, search_seconds=search_seconds, wall_seconds=seconds, **summary_random)
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)
