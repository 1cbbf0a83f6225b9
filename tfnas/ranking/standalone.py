"""The reference scorer: each cell trained standalone at the proxy, scored on held-out images.

`standalone` trains every cell's network from the same seed on the first `train_examples`
training images for a few epochs and scores it by its accuracy (%) on the next
`val_examples` training images (never the test split). Its rank correlation with the
table is what proxy training alone achieves, so a one-shot supernet's correlation can
later be split into proxy rank loss (this scorer against the table) and weight-sharing
rank loss (the supernet against this scorer).

Recipe (the NAS-Bench-201 one, shortened): SGD, Nesterov momentum 0.9, learning rate 0.1
cosine to 0 over all steps, coupled weight decay 5e-4 (`tfnas.children.training.ChildTask`),
the proxy's batch size, no augmentation.

References:
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326 (the training recipe).

Example:
>>> from tfnas.ranking import make_scorer
>>> make_scorer("standalone", epochs=1, train_examples=16, val_examples=8).settings()["epochs"]
1
"""

from __future__ import annotations

from typing import Any


from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.ranking.scorers import PerCellScorer, ScoringContext, build_proxy_child, register_scorer


@register_scorer
class Standalone(PerCellScorer):
    """Held-out accuracy (%) after training the cell's network standalone at the proxy.

    Args:
        epochs: Training epochs per cell.
        train_examples: Training images (the first of the training split).
        val_examples: Held-out training images that score the cell (the next ones).
        learning_rate: Initial learning rate of the cosine schedule.
        weight_decay: Coupled L2 coefficient.
        verbose: Keras `fit` verbosity.

    Raises:
        ValueError: for a non-positive setting.
    """

    name = "standalone"

    def __init__(
        self,
        epochs: int = 5,
        train_examples: int = 5000,
        val_examples: int = 1000,
        learning_rate: float = 0.1,
        weight_decay: float = 5e-4,
        verbose: int = 0,
    ) -> None:
        for arg, value in (("epochs", epochs), ("train_examples", train_examples), ("val_examples", val_examples)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive integer. Received: {arg}={value!r}")
        if learning_rate <= 0 or weight_decay < 0:
            raise ValueError(f"learning_rate must be > 0 and weight_decay >= 0. Received: "
                             f"learning_rate={learning_rate}, weight_decay={weight_decay}")
        self.epochs = epochs
        self.train_examples = train_examples
        self.val_examples = val_examples
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.verbose = verbose

    def settings(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "train_examples": self.train_examples, "val_examples": self.val_examples,
                "learning_rate": self.learning_rate, "weight_decay": self.weight_decay}

    def score_cell(self, cell: NB201Genotype, context: ScoringContext) -> float:
        from tfnas.children.training import train_and_score

        x, y = context.images(self.train_examples + self.val_examples)
        child = build_proxy_child(cell, context)
        return train_and_score(child, x[:self.train_examples], y[:self.train_examples], x[self.train_examples:],
                               y[self.train_examples:], epochs=self.epochs, batch_size=context.proxy.batch_size,
                               learning_rate=self.learning_rate, weight_decay=self.weight_decay,
                               verbose=self.verbose)
