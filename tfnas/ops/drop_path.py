"""Drop-path (stochastic depth on a cell's op branches), with a schedulable rate."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfnas")
class DropPath(keras.layers.Layer):
    """Drops a whole sample's branch with probability `rate` and rescales the survivors.

    As in the DARTS evaluation recipe (arXiv 1806.09055, after FractalNet arXiv 1605.07648):
    the mask is per sample (shape `[batch, 1, 1, 1]`), survivors are divided by the keep
    probability, and nothing is dropped at inference. The rate lives in a non-trainable
    variable so a callback (`tfnas.children.training.DropPathSchedule`) can move it during
    training without retracing.

    Args:
        rate: Initial drop probability in `[0, 1)`.
        seed: Optional seed for the mask.

    Example:
    >>> layer = DropPath(0.2)
    >>> y = layer(keras.ops.ones((2, 4, 4, 3)), training=False)
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1). Received: rate={rate}")
        self.initial_rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.rate = self.add_weight(
            name="rate",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_rate),
            trainable=False,
        )

    def call(self, x, training: bool | None = None):
        if not training:
            return x
        keep = 1.0 - ops.cast(self.rate, x.dtype)
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        noise = keras.random.uniform(shape, seed=self.seed_generator, dtype=x.dtype)
        mask = ops.cast(noise < keep, x.dtype)
        return x * mask / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"rate": self.initial_rate, "seed": self.seed})
        return config
