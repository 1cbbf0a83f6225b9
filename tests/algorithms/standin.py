"""A tiny stand-in supernet with the `tfnas.supernets.Supernet` interface, for algorithm tests.

One edge with three candidate ops (identity, 1x1 conv, 3x3 average pool) after a 3x3 conv
stem, global pooling and a dense classifier; no BatchNorm, so single-device and
multi-replica steps are comparable exactly. Mixing "softmax" (DARTS), "gumbel" / "rome"
(hard Gumbel-softmax with straight-through gradient, a fresh sample per call from the
supernet's `SeedGenerator`). `aux_skip_beta` scales an auxiliary identity branch (DARTS-).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


class StandInSupernet(keras.Model):
    def __init__(self, mixing: str = "softmax", num_classes: int = 3, seed: int = 0, aux_skip: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.mixing = mixing
        self.aux_skip = aux_skip
        init = keras.initializers.GlorotUniform(seed=seed)
        self.stem = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer=init)
        self.conv1 = keras.layers.Conv2D(4, 1, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1))
        self.pool = keras.layers.AveragePooling2D(3, strides=1, padding="same")
        self.gap = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2))
        self.alpha = self.add_weight(
            name="alpha", shape=(3,), initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=seed + 3)
        )
        self.temperature = self.add_weight(name="temperature", shape=(), trainable=False,
                                           initializer=keras.initializers.Constant(1.0))
        self.aux_skip_beta = self.add_weight(name="aux_skip_beta", shape=(), trainable=False,
                                             initializer=keras.initializers.Constant(1.0))
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.stem.build(input_shape)
        shape = tuple(input_shape[:-1]) + (4,)
        self.conv1.build(shape)
        self.head.build((input_shape[0], 4))
        self.built = True

    @property
    def arch_variables(self):
        return [self.alpha]

    @property
    def weight_variables(self):
        return [v for v in self.trainable_variables if v is not self.alpha]

    def mixing_weights(self):
        if self.mixing == "softmax":
            return ops.softmax(self.alpha)
        uniform = keras.random.uniform((3,), minval=1e-6, maxval=1.0 - 1e-6, seed=self.seed_generator)
        gumbel = -ops.log(-ops.log(uniform))
        probs = ops.softmax((self.alpha + gumbel) / self.temperature)
        hard = ops.one_hot(ops.argmax(probs), 3)
        return hard - ops.stop_gradient(probs) + probs

    def call(self, images, training=None):
        h = ops.relu(self.stem(images))
        w = self.mixing_weights()
        out = w[0] * h + w[1] * self.conv1(h) + w[2] * self.pool(h)
        if self.aux_skip:
            out = out + self.aux_skip_beta * h
        return self.head(self.gap(out))

    def export(self):
        return int(np.argmax(keras.ops.convert_to_numpy(self.alpha)))


_MIXING = {"darts": "softmax", "darts2": "softmax", "darts_minus": "softmax", "pc_darts": "softmax",
           "gdas": "gumbel", "rome": "rome"}


def make_search(name: str, input_shape=(8, 8, 3), seed: int = 0, steps_per_epoch: int = 4, **overrides):
    """Builds algorithm `name` on a stand-in supernet, compiled and built (current strategy)."""
    from tfnas.algorithms import ALGORITHMS, make_optimizers

    cls = ALGORITHMS.get(name)
    config = cls.default_config().replace(**overrides)
    supernet = StandInSupernet(mixing=_MIXING[name], seed=seed, aux_skip=config.aux_skip)
    search = cls(supernet, config)
    search.compile(*make_optimizers(config, steps_per_epoch))
    search.build((None, *input_shape))
    search.build_optimizers()
    return search


def bilevel_batch(batch: int = 4, input_shape=(8, 8, 3), num_classes: int = 3, seed: int = 0):
    """Returns `((x_train, y_train), (x_val, y_val))` as float32 / int32 numpy arrays."""
    rng = np.random.default_rng(seed)
    def part():
        x = rng.normal(size=(batch, *input_shape)).astype("float32")
        y = rng.integers(0, num_classes, size=(batch,)).astype("int32")
        return x, y
    return part(), part()


def snapshot(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
