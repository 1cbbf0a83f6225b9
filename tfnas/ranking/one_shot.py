"""The one-shot scorer: a cell's held-out accuracy with the weights it inherits from a SPOS supernet.

`spos` rates cells with `tfnas.strategies.SupernetEvaluator` on a trained SPOS supernet (Guo et
al., arXiv 1904.00420: uniform single-path training), BatchNorm statistics of the evaluation
batches (recomputed per candidate, as the one-shot literature does: Ning et al., arXiv
2008.03064). The supernet is a finished `tfnas.algorithms.runner.search` workdir of algorithm
`spos` (`launch.rank --scorer=spos` trains one, resumably); the held-out images are the
first of the architecture half of that search's bilevel split, which its weights never saw.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.ranking.scorers import Scorer, ScoringContext, register_scorer


@register_scorer
class SposAccuracy(Scorer):
    """Inherited-weight accuracy of each cell in a trained SPOS supernet.

    Args:
        supernet_workdir: The SPOS search's workdir (config.json and checkpoints).
        val_examples: Held-out images (the architecture half of its split) that score a cell.
        batch_size: Evaluation batch size (every BatchNorm normalises per batch).
        data_dir: The shared data folder (default `$TFNAS_DATA_DIR`).

    Raises:
        FileNotFoundError: when the workdir holds no finished SPOS search.
        ValueError: when the workdir's search is not SPOS.
    """

    name: ClassVar[str] = "spos"

    def __init__(self, supernet_workdir: str, val_examples: int = 1000, batch_size: int = 250,
                 data_dir: str | None = None) -> None:
        self.supernet_workdir = supernet_workdir
        self.val_examples = val_examples
        self.batch_size = batch_size
        self.data_dir = data_dir
        self._evaluator: Any = None
        self._epochs = 0

    def settings(self) -> dict[str, Any]:
        return {"supernet_workdir": self.supernet_workdir, "supernet_epochs": self._epochs,
                "val_examples": self.val_examples, "batch_size": self.batch_size}

    def evaluator(self) -> Any:
        """The `SupernetEvaluator` on the restored supernet (built once)."""
        if self._evaluator is None:
            from tfnas.algorithms.autospace import heldout_batches
            from tfnas.algorithms.runner import load_training_set, restore_search
            from tfnas.strategies import SupernetEvaluator

            algorithm = restore_search(self.supernet_workdir)
            if algorithm.config.algorithm != "spos":
                raise ValueError(f"{self.supernet_workdir} holds a {algorithm.config.algorithm} search, not spos.")
            with open(os.path.join(self.supernet_workdir, "config.json"), encoding="utf-8") as f:
                run = json.load(f)
            train_ds, _, _, _ = load_training_set(run["dataset"], self.data_dir, run["max_train_examples"],
                                                  run["image_size"])
            batches = heldout_batches(train_ds, split_seed=algorithm.config.seed, examples=self.val_examples,
                                      batch_size=self.batch_size, dataset=run["dataset"])
            self._evaluator = SupernetEvaluator(algorithm.supernet, batches)
            self._epochs = algorithm.restored_epoch
        return self._evaluator

    def score(self, cells: Sequence[NB201Genotype], context: ScoringContext) -> np.ndarray:
        evaluator = self.evaluator()
        values = np.empty(len(cells), dtype=np.float64)
        start = time.perf_counter()
        every = max(1, len(cells) // 10)
        for i, cell in enumerate(cells):
            values[i] = evaluator.evaluate(cell)[0]
            if context.log is not None and ((i + 1) % every == 0 or i + 1 == len(cells)):
                context.log(f"  spos: {i + 1}/{len(cells)} cells, {time.perf_counter() - start:.0f} s")
        return values
