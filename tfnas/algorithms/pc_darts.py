"""PC-DARTS: partial channel connections, edge normalization, architecture warm-up.

The supernet does the method's structure (a fixed 1/K of the channels through the mixed op,
channel shuffle, softmax edge weights beta per node); the algorithm is first-order DARTS with
the architecture frozen during the first epochs (`ArchWarmup`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from tfnas.algorithms.base import ALGORITHMS
from tfnas.algorithms.darts import Darts


@ALGORITHMS.register("pc_darts")
class PCDarts(Darts):
    """PC-DARTS: DARTS with partial channels (K=4) and edge normalization.

    Presets: `"cifar"` (K=4, batch 256, SGD lr 0.1 cosine to 0, alpha lr 6e-4, 15
    warm-up epochs, 50 epochs) and `"imagenet"` (K=2, batch 1024, lr 0.5, alpha lr 6e-3,
    35 warm-up epochs). Both: momentum 0.9, wd 3e-4, clip 5, Adam betas (0.5, 0.999),
    arch wd 1e-3.

    References:
        Xu et al., PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture
        Search, arXiv 1907.05737.

    Example:
    >>> PCDarts.default_config().arch_warmup_epochs, PCDarts.default_config("imagenet").partial_channels
    (15, 2)
    """

    algorithm_name: ClassVar[str] = "pc_darts"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "cifar": {
            "partial_channels": 4, "edge_normalization": True, "batch_size": 256,
            "learning_rate": 0.1, "min_learning_rate": 0.0, "arch_learning_rate": 6e-4,
            "arch_warmup_epochs": 15,
        },
        "imagenet": {
            "partial_channels": 2, "edge_normalization": True, "batch_size": 1024,
            "learning_rate": 0.5, "min_learning_rate": 0.0, "arch_learning_rate": 6e-3,
            "arch_warmup_epochs": 35,
        },
    }
