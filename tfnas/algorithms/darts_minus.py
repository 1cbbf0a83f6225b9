"""DARTS-: first-order DARTS on a supernet with an auxiliary skip connection on every edge.

Every edge computes `beta * aux(x) + sum_o softmax(alpha)_o * o(x)` (the supernet's
`aux_skip=True`); beta is set once per epoch by `BetaSchedule`, decaying linearly (default)
or by a cosine from 1 to 0. Otherwise first-order DARTS: no indicator, no early stop.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras

from tfnas.algorithms.base import ALGORITHMS
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.darts import Darts
from tfnas.algorithms.schedules import BetaSchedule


@ALGORITHMS.register("darts_minus")
class DartsMinus(Darts):
    """DARTS-: auxiliary skip with a decaying coefficient beta outside the softmax.

    References:
        Chu et al., DARTS-: Robustly Stepping out of Performance Collapse Without
        Indicators, arXiv 2009.01027.

    Args:
        supernet: A supernet built with `aux_skip=True` (it owns `aux_skip_beta`).
        config: Search hyper-parameters; default the DARTS ones with `aux_skip=True` and a
            linear beta schedule.
        **kwargs: Passed to `keras.Model`.

    Raises:
        ValueError: if the supernet has no `aux_skip_beta` variable.

    Example:
    >>> DartsMinus.default_config().aux_skip
    True
    """

    algorithm_name: ClassVar[str] = "darts_minus"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"cifar": {"aux_skip": True, "beta_schedule": "linear"}}

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        super().__init__(supernet, config, **kwargs)
        if getattr(supernet, "aux_skip_beta", None) is None:
            raise ValueError(
                "DARTS- needs a supernet with an auxiliary skip (aux_skip=True and an "
                f"`aux_skip_beta` variable). Received: supernet={type(supernet).__name__}"
            )

    def callbacks(self, config: SearchConfig | None = None) -> list[keras.callbacks.Callback]:
        config = config or self.config
        return super().callbacks(config) + [BetaSchedule(config.epochs, config.beta_schedule)]
