"""GDAS: one op per edge sampled by hard Gumbel-softmax, temperature decayed per epoch.

The supernet (`mixing="gumbel"`) computes only the sampled op of each edge and scales its
output by the straight-through one-hot weight, so the gradient reaches alpha through the
softmax; each call draws a fresh sample. The algorithm follows the reference code
(AutoDL-Projects `exps/algos/GDAS.py`): per step, first the weight update on the training
batch, then the architecture update on the validation batch, with the temperature set by
`TemperatureSchedule` (10 -> 0.1, linear per epoch). `gdas` computes an edge as the paper
writes it, h_k * O_k(x) alone; `gdas_reference` as the reference's `forward_gdas` does, also
adding the unsampled ops' weights (zeros forward, whose gradient reaches alpha). On NB201 at
our proxy size the reference's term drove one seed's cell to skip/none on every edge
(WORKSPACE.md has both, measured in the same harness).
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras

from tfnas.algorithms.base import ALGORITHMS, BilevelSearch
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.schedules import TemperatureSchedule

# The reference's weight optimizer (AutoDL-Projects configs): SGD with Nesterov momentum 0.9,
# lr 0.025 cosine to 0.001, weight decay 5e-4, gradient clip 5.
_GDAS_COMMON: dict[str, Any] = {
    "learning_rate": 0.025, "min_learning_rate": 0.001, "momentum": 0.9, "nesterov": True,
    "weight_decay": 5e-4, "grad_clip": 5.0, "arch_learning_rate": 3e-4, "arch_weight_decay": 1e-3,
    "tau_max": 10.0, "tau_min": 0.1,
}


class SamplingSearch(BilevelSearch):
    """Base of the single-path searches (GDAS, ROME): a sampling supernet and a temperature schedule.

    Raises:
        ValueError: if the supernet has no `temperature` variable (it does not sample).
    """

    def __init__(self, supernet: keras.Model, config: SearchConfig | None = None, **kwargs: Any) -> None:
        super().__init__(supernet, config, **kwargs)
        if getattr(supernet, "temperature", None) is None:
            raise ValueError(
                f"{type(self).__name__} needs a sampling supernet with a `temperature` variable. "
                f"Received: supernet={type(supernet).__name__}"
            )

    def callbacks(self, config: SearchConfig | None = None) -> list[keras.callbacks.Callback]:
        config = config or self.config
        return super().callbacks(config) + [TemperatureSchedule(config.epochs, config.tau_max, config.tau_min)]


@ALGORITHMS.register("gdas")
class Gdas(SamplingSearch):
    """GDAS: differentiable sampling of one op per edge (hard Gumbel-softmax).

    Presets (AutoDL-Projects configs): `"nb201"` (default; `configs/nas-benchmark/algos/
    GDAS.config`: 240 epochs, batch 64) and `"darts"` (`configs/search-opts/
    GDAS-NASNet-CIFAR.config`: 250 epochs, batch 256). Both: SGD Nesterov momentum 0.9,
    lr 0.025 cosine to 0.001, wd 5e-4, clip 5; Adam 3e-4, betas (0.5, 0.999), wd 1e-3;
    tau 10 -> 0.1.

    References:
        Dong and Yang, Searching for a Robust Neural Architecture in Four GPU Hours,
        arXiv 1910.04465.

    Raises:
        ValueError: if the supernet has no `temperature` variable.

    Example:
    >>> Gdas.default_config().epochs
    240
    """

    algorithm_name: ClassVar[str] = "gdas"
    mixing: ClassVar[str] = "gumbel"
    arch_step_first: ClassVar[bool] = False
    DEFAULT_PRESET: ClassVar[str] = "nb201"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "nb201": {**_GDAS_COMMON, "epochs": 240, "batch_size": 64},
        "darts": {**_GDAS_COMMON, "epochs": 250, "batch_size": 256},
    }



@ALGORITHMS.register("gdas_reference")
class GdasReference(Gdas):
    """GDAS with the reference code's edge: `h_k * O_k(x) + sum_{j != k} h_j`.

    AutoDL-Projects' `forward_gdas` adds every unsampled op's straight-through weight `h_j`
    (exactly 0 in the forward pass) to the edge's output, so the architecture gradient of
    the unsampled ops is the edge output's summed gradient and that of the sampled op
    `<dL/dy, O_k(x)>`; through the softmax, alpha then scores the sampled op by
    `<dL/dy, O_k(x) - 1>`. The paper's equation has the sampled term only (`gdas`). Same
    presets and schedule as `gdas`; `SupernetConfig.unsampled_term` does the adding.

    References:
        Dong and Yang, Searching for a Robust Neural Architecture in Four GPU Hours,
        arXiv 1910.04465 (reference code: D-X-Y/AutoDL-Projects, `search_cells.py`).

    Example:
    >>> GdasReference.supernet_config(GdasReference.default_config(), "nb201").unsampled_term
    True
    """

    algorithm_name: ClassVar[str] = "gdas_reference"
    needs_cell_supernet: ClassVar[bool] = True

    @classmethod
    def supernet_config(cls, search_config: SearchConfig, space: str, num_classes: int = 10,
                        input_shape: tuple[int, int, int] = (32, 32, 3), **overrides: Any):
        """As `Gdas.supernet_config`, with `unsampled_term=True`."""
        return super().supernet_config(search_config, space, num_classes, input_shape,
                                       **{"unsampled_term": True, **overrides})
