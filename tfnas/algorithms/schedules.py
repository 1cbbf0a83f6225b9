"""Per-epoch schedules of a search, as Keras callbacks that set non-trainable variables.

A traced train step would freeze a Python attribute at its first trace; these callbacks
instead assign variables the step reads (`supernet.temperature`, `supernet.aux_skip_beta`,
`algorithm.arch_enabled`) at the start of every epoch, including the first epoch of a
resumed run (`fit(initial_epoch=k)` calls `on_epoch_begin(k)`).
"""

from __future__ import annotations

import math

import keras


def _check_epochs(epochs: int) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer. Received: epochs={epochs!r}")
    return epochs


class TemperatureSchedule(keras.callbacks.Callback):
    """Gumbel-softmax temperature decayed linearly per epoch, `tau_max` -> `tau_min`.

    `tau(e) = tau_max - (tau_max - tau_min) * e / (epochs - 1)` at the start of epoch `e`
    (0-based), so the last epoch runs at `tau_min`, as GDAS's reference code does.

    References:
        Dong and Yang, Searching for a Robust Neural Architecture in Four GPU Hours (GDAS),
        arXiv 1910.04465.

    Args:
        epochs: Total search epochs.
        tau_max: Temperature of the first epoch.
        tau_min: Temperature of the last epoch.

    Raises:
        ValueError: if `epochs < 1` or `tau_min` is not in (0, tau_max].

    Example:
    >>> TemperatureSchedule(epochs=3).value(1)
    5.05
    """

    def __init__(self, epochs: int, tau_max: float = 10.0, tau_min: float = 0.1) -> None:
        super().__init__()
        self.epochs = _check_epochs(epochs)
        if not 0.0 < tau_min <= tau_max:
            raise ValueError(
                f"Expected 0 < tau_min <= tau_max. Received: tau_min={tau_min!r}, tau_max={tau_max!r}"
            )
        self.tau_max = float(tau_max)
        self.tau_min = float(tau_min)

    def value(self, epoch: int) -> float:
        """Returns the temperature of 0-based `epoch`."""
        if self.epochs == 1:
            return self.tau_max
        fraction = min(max(epoch, 0), self.epochs - 1) / (self.epochs - 1)
        return self.tau_max - (self.tau_max - self.tau_min) * fraction

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.model.supernet.temperature.assign(self.value(epoch))


class BetaSchedule(keras.callbacks.Callback):
    """DARTS- auxiliary-skip coefficient beta, decayed from 1 to 0, set once per epoch.

    `linear`: `beta(e) = 1 - e / epochs`; `cosine`: `beta(e) = (1 + cos(pi * e / epochs)) / 2`
    (0-based epoch `e`; 0 would be reached at `e = epochs`, one past the last epoch).

    References:
        Chu et al., DARTS-: Robustly Stepping out of Performance Collapse Without
        Indicators, arXiv 2009.01027.

    Args:
        epochs: Total search epochs.
        mode: `"linear"` or `"cosine"`.

    Raises:
        ValueError: for an unknown `mode` or `epochs < 1`.

    Example:
    >>> BetaSchedule(epochs=4).value(1)
    0.75
    """

    MODES = ("linear", "cosine")

    def __init__(self, epochs: int, mode: str = "linear") -> None:
        super().__init__()
        self.epochs = _check_epochs(epochs)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}. Received: mode={mode!r}")
        self.mode = mode

    def value(self, epoch: int) -> float:
        """Returns beta for 0-based `epoch`."""
        fraction = min(max(epoch, 0), self.epochs) / self.epochs
        if self.mode == "linear":
            return 1.0 - fraction
        return 0.5 * (1.0 + math.cos(math.pi * fraction))

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.model.supernet.aux_skip_beta.assign(self.value(epoch))


class ArchWarmup(keras.callbacks.Callback):
    """Freezes the architecture for the first `epochs` epochs (PC-DARTS: 15).

    Sets `algorithm.arch_enabled` to 0 before epoch `epochs` and to 1 from it on. While it is
    0 the train step skips the architecture step entirely: no forward/backward pass on the
    validation batch and no architecture-optimizer update (its step count and moments stay
    untouched, as in the reference code where `architect.step` is not called).

    References:
        Xu et al., PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture
        Search, arXiv 1907.05737.

    Args:
        epochs: Number of warm-up epochs (0 disables the warm-up).

    Raises:
        ValueError: if `epochs < 0`.

    Example:
    >>> ArchWarmup(15).enabled(14), ArchWarmup(15).enabled(15)
    (False, True)
    """

    def __init__(self, epochs: int) -> None:
        super().__init__()
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0. Received: epochs={epochs!r}")
        self.epochs = epochs

    def enabled(self, epoch: int) -> bool:
        """Whether the architecture is updated during 0-based `epoch`."""
        return epoch >= self.epochs

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.model.arch_enabled.assign(1.0 if self.enabled(epoch) else 0.0)
