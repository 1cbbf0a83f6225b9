"""One-shot scorers: ratings of cells read from a trained supernet.

- `alpha` (`ArchitectureWeights`): the architecture weights of a differentiable search.
- `spos` (`SposAccuracy`): a cell's held-out accuracy with the weights it inherits from a SPOS
  supernet, or from any single-path supernet trained by a `Spos` subclass (`magic_t`,
  `magic_a`, `magic_at`: `tfnas.algorithms.magic`, MAGIC, arXiv 2108.12821).

`spos` rates cells with `tfnas.strategies.SupernetEvaluator` on a trained SPOS supernet (Guo et
al., arXiv 1904.00420: uniform single-path training), BatchNorm statistics of the evaluation
batches (recomputed per candidate, as the one-shot literature does: Ning et al., arXiv
2008.03064). The supernet is a finished `tfnas.algorithms.runner.search` workdir of algorithm
`spos` or a MAGIC variant (`launch.rank --scorer=spos [--supernet_algorithm=magic_t]` trains one,
resumably); the held-out images are the
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
        self._algorithm = ""

    def settings(self) -> dict[str, Any]:
        return {"supernet_workdir": self.supernet_workdir, "supernet_algorithm": self._algorithm,
                "supernet_epochs": self._epochs,
                "val_examples": self.val_examples, "batch_size": self.batch_size}

    def evaluator(self) -> Any:
        """The `SupernetEvaluator` on the restored supernet (built once)."""
        if self._evaluator is None:
            from tfnas.algorithms.autospace import heldout_batches
            from tfnas.algorithms.runner import load_training_set, restore_search
            from tfnas.strategies import SupernetEvaluator

            from tfnas.algorithms.spos import Spos

            algorithm = restore_search(self.supernet_workdir)
            if not isinstance(algorithm, Spos):
                raise ValueError(f"{self.supernet_workdir} holds a {algorithm.config.algorithm} search, not a "
                                 "single-path one (spos, magic_t, magic_a, magic_at, spos_distinct).")
            with open(os.path.join(self.supernet_workdir, "config.json"), encoding="utf-8") as f:
                run = json.load(f)
            train_ds, _, _, _ = load_training_set(run["dataset"], self.data_dir, run["max_train_examples"],
                                                  run["image_size"])
            batches = heldout_batches(train_ds, split_seed=algorithm.config.seed, examples=self.val_examples,
                                      batch_size=self.batch_size, dataset=run["dataset"])
            self._evaluator = SupernetEvaluator(algorithm.supernet, batches)
            self._epochs = algorithm.restored_epoch
            self._algorithm = algorithm.config.algorithm
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


@register_scorer
class ArchitectureWeights(Scorer):
    """A differentiable supernet's own rating: the summed log-probability of the cell's ops.

    The architecture parameters of a trained DARTS / DARTS- / PC-DARTS / GDAS search are what
    those methods derive their cell from (the argmax per edge, Liu et al. arXiv 1806.09055;
    DARTS- arXiv 2009.01027; PC-DARTS arXiv 1907.05737; GDAS arXiv 1910.04465); as a
    scorer, a cell's score is `sum_e log softmax(alpha_e)[op_e]` (NB201's edges are
    independent, so this orders cells as the product of their op probabilities, and the
    argmax cell scores highest). The supernet is a finished `tfnas.algorithms.runner.search`
    workdir of any of those algorithms in the NB201 space (`launch.rank --scorer=alpha
    --supernet_algorithm=NAME` trains one, resumably). Scoring costs no forward pass.

    Args:
        supernet_workdir: The search's workdir (config.json and checkpoints).

    Raises:
        FileNotFoundError: when the workdir holds no finished search.
        ValueError: when its supernet has no per-edge op probabilities (not NB201).
    """

    name: ClassVar[str] = "alpha"

    def __init__(self, supernet_workdir: str) -> None:
        self.supernet_workdir = supernet_workdir
        self._log_probs: np.ndarray | None = None
        self._op_names: tuple[str, ...] = ()
        self._algorithm = ""
        self._epochs = 0

    def settings(self) -> dict[str, Any]:
        return {"supernet_workdir": self.supernet_workdir, "supernet_algorithm": self._algorithm,
                "supernet_epochs": self._epochs}

    def log_probabilities(self) -> np.ndarray:
        """`[edges, ops]` log-probabilities of the restored search (read once)."""
        if self._log_probs is None:
            from tfnas.algorithms.runner import restore_search

            algorithm = restore_search(self.supernet_workdir)
            supernet = algorithm.supernet
            from tfnas.spaces import nb201 as nb201_space

            if not hasattr(supernet, "arch_probabilities") or tuple(supernet.op_names) != tuple(nb201_space.OPS):
                raise ValueError(f"{self.supernet_workdir} holds a {algorithm.config.algorithm} search whose "
                                 "supernet has no NB201 per-edge op probabilities.")
            probs = np.stack([np.asarray(p, dtype=np.float64) for p in supernet.arch_probabilities()])
            with np.errstate(divide="ignore"):  # an op masked out of a learned space: log 0 = -inf
                self._log_probs = np.log(probs)
            self._op_names = tuple(supernet.op_names)
            self._algorithm = algorithm.config.algorithm
            self._epochs = algorithm.restored_epoch
        return self._log_probs

    def score(self, cells: Sequence[NB201Genotype], context: ScoringContext) -> np.ndarray:
        log_probs = self.log_probabilities()
        column = {name: i for i, name in enumerate(self._op_names)}
        return np.array([sum(log_probs[e, column[op]] for e, op in enumerate(cell.ops)) for cell in cells],
                        dtype=np.float64)
