"""`MobileSupernet`: a single-path supernet over the MBConv candidates of every layer slot.

The network is the skeleton of a mobile space (stem, stages, head, classifier, as
`tfnas.children.mobile_net` builds them); every layer slot holds all its candidate blocks
(`space.candidates(stage, slot)`: kernel x expansion x SE x activation, and `zero`, the
identity, for depth), each with its own weights (ProxylessNAS-style, no sharing between
candidates). On every call one candidate per slot is drawn by hard Gumbel-softmax over the
slot's logits alpha (GDAS): `keras.ops.switch` runs only the sampled block and its output is
multiplied by the straight-through one-hot weight `h - stop_gradient(p) + p`, so only the
sampled path is computed while the gradient reaches alpha. The Gumbel temperature is the
non-trainable `temperature` variable (GDAS's and ROME's `TemperatureSchedule` drive it), so
`tfnas.algorithms` `gdas` and `rome` search it as they search the cell supernets.

`arch_probabilities()` (softmax of every slot's alpha) feeds the budget terms of
`tfnas.budgets.losses` (`mobile_cost_table(space)` has the same decisions and choices),
and `export(choices)` returns the `BlockGenotype` (argmax per slot by default, or e.g. the
hard-budget choice of `meet_budget`).

References:
    - Cai et al., ProxylessNAS, arXiv 1812.00332 (single path over MBConv candidates).
    - Dong & Yang, GDAS, arXiv 1910.04465 (hard Gumbel-softmax, temperature schedule).
    - Wu et al., FBNet, arXiv 1812.03443.

Example:
>>> from tfnas.spaces.mobile import CandidateSpace, MobileSpace, StageSpec
>>> space = CandidateSpace.from_space(MobileSpace(stem=8, stages=(StageSpec(8, 1, 2),), head=16,
...                                               kernels=(3, 5), expansions=(3,), se_ratios=(0.0,),
...                                               activations=("relu",), block_types=("ir",)))
>>> net = MobileSupernet(space, num_classes=10, input_shape=(16, 16, 3))
>>> tuple(net(keras.ops.zeros((2, 16, 16, 3))).shape)
(2, 10)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from tfnas.genotypes.block import BlockGenotype
from tfnas.ops import mbconv
from tfnas.spaces.mobile import CandidateSpace, MobileSpace

_TINY = 1e-10


@dataclasses.dataclass(frozen=True)
class MobileSupernetConfig:
    """What fixes a mobile supernet (`space` as `CandidateSpace.to_dict()`).

    Args:
        space: The candidate space, as a dict.
        num_classes: Classifier width.
        input_shape: `(H, W, C)`.
        seed: Initializer and sampling seed.
        bn_momentum: BatchNormalization momentum (Keras convention).
        se_base: The genotype's SE base.
    """

    space: dict
    num_classes: int = 10
    input_shape: tuple[int, int, int] = (32, 32, 3)
    seed: int = 0
    bn_momentum: float = 0.99
    se_base: str = "in"
    mixing: str = "gumbel"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data


def _candidate(x, block, act: str, se_base: str, bn: dict, name: str):
    """One candidate block on `x` (the `ir` / `ds` builders of `tfnas.ops.mbconv`)."""
    common = dict(kernel_size=block.kernel, strides=block.stride, activation=block.activation or act,
                  se_ratio=block.se_ratio, se_base=se_base, skip=block.skip, name=name, **bn)
    if block.block_type == "ir":
        return mbconv.inverted_residual(x, block.out_channels, expansion=block.expansion, **common)
    if block.block_type == "ds":
        return mbconv.depthwise_separable(x, block.out_channels, **common)
    raise ValueError(f"The mobile supernet takes ir, ds and zero candidates. Received: {block.to_string()}")


class _Branch:
    """A `switch` branch: one candidate block of one slot (a named callable, not a lambda)."""

    def __init__(self, block: keras.Model | None, training: Any) -> None:
        self.block, self.training = block, training

    def __call__(self, x):
        return x if self.block is None else self.block(x, training=self.training)


@keras.saving.register_keras_serializable(package="tfnas")
class MobileSupernet(keras.Model):
    """Single-path supernet of a mobile block space (module docstring).

    References:
        - Cai et al., ProxylessNAS, arXiv 1812.00332.
        - Dong & Yang, GDAS, arXiv 1910.04465.

    Args:
        space: A `CandidateSpace` or a `MobileSpace` (all its choices become candidates).
        num_classes: Classifier width.
        input_shape: `(H, W, C)` of the images.
        seed: Seed of the initializers and of the sampling `SeedGenerator`.
        bn_momentum: BatchNormalization momentum.
        se_base: SE width base of the blocks (`"in"` or `"mid"`).

    Raises:
        ValueError: for a space of another type or a bad shape.
    """

    def __init__(
        self,
        space: CandidateSpace | MobileSpace | dict,
        *,
        num_classes: int = 10,
        input_shape: Sequence[int] = (32, 32, 3),
        seed: int = 0,
        bn_momentum: float = 0.99,
        se_base: str = "in",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(space, dict):
            space = CandidateSpace.from_dict(space)
        if isinstance(space, MobileSpace):
            space = CandidateSpace.from_space(space)
        if not isinstance(space, CandidateSpace):
            raise ValueError(f"space must be a CandidateSpace or MobileSpace. Received: {type(space).__name__}")
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (H, W, C). Received: input_shape={input_shape!r}")
        self.space = space
        self.config = MobileSupernetConfig(space.to_dict(), int(num_classes), input_shape, int(seed),
                                           float(bn_momentum), se_base)
        self.seed_generator = keras.random.SeedGenerator(seed)
        bn = dict(bn_eps=1e-3, bn_momentum=bn_momentum)
        inputs = keras.Input(input_shape)
        x = mbconv.conv_bn_act(inputs, space.stem, 3, 2, activation=space.act, name="stem", **bn)
        self.stem = keras.Model(inputs, x, name="stem")
        size = tuple(int(d) for d in x.shape[1:3])
        channels = space.stem
        self.slot_blocks: list[list[keras.Model | None]] = []
        self._slots: list[tuple] = []
        d = 0
        for s, stage in enumerate(space.stages):
            for i in range(stage.depth):
                cands = space.candidates(s, i)
                blocks = []
                out_size = size
                for j, block in enumerate(cands):
                    if block.is_zero:
                        blocks.append(None)
                        continue
                    block_in = keras.Input((size[0], size[1], channels))
                    y = _candidate(block_in, block, space.act, se_base, bn, f"s{s + 1}_b{i + 1}_c{j}")
                    out_size = tuple(int(v) for v in y.shape[1:3])
                    blocks.append(keras.Model(block_in, y, name=f"slot{d}_cand{j}"))
                self.slot_blocks.append(blocks)
                self._slots.append(cands)
                size = out_size
                channels = stage.width
                d += 1
        head_in = keras.Input((size[0], size[1], channels))
        h = head_in
        if space.head:
            h = mbconv.conv_bn_act(h, space.head, 1, activation=space.act, name="head", **bn)
        h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(h)
        h = keras.layers.Dense(num_classes, name="predictions")(h)
        self.head = keras.Model(head_in, h, name="head")
        self._alphas = [
            self.add_weight(name=f"slot{d}_alpha", shape=(len(c),),
                            initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=seed + d), trainable=True)
            for d, c in enumerate(self._slots)
        ]
        self.temperature = self.add_weight(name="temperature", shape=(), trainable=False,
                                           initializer=keras.initializers.Constant(1.0))
        self.built = True

    # ------------------------------------------------------------------ variables
    @property
    def arch_variables(self) -> list:
        """The per-slot logits alpha."""
        return list(self._alphas)

    @property
    def weight_variables(self) -> list:
        """Every trainable variable that is not an architecture variable."""
        arch = {id(v) for v in self._alphas}
        return [v for v in self.trainable_variables if id(v) not in arch]

    # ------------------------------------------------------------------ sampling and call
    def _sample(self, alpha):
        n = int(alpha.shape[0])
        u = keras.random.uniform((n,), minval=_TINY, maxval=1.0, seed=self.seed_generator)
        tau = ops.cast(self.temperature, alpha.dtype)
        probs = ops.softmax((ops.log_softmax(alpha) - ops.log(-ops.log(u))) / tau)
        index = ops.argmax(probs)
        hard = ops.one_hot(index, n, dtype=probs.dtype) - ops.stop_gradient(probs) + probs
        return index, hard

    def run_slot(self, slot: int, index, x, training=None):
        """Slot `slot`'s candidate `index` (an int or a scalar int tensor) on `x`, unweighted:
        only that candidate is computed (`keras.ops.switch`)."""
        blocks = self.slot_blocks[slot]
        if len(blocks) == 1:
            return _Branch(blocks[0], training)(x)
        return ops.switch(index, [_Branch(b, training) for b in blocks], x)

    def call(self, images, training=None):
        x = self.stem(images, training=training)
        for slot, alpha in enumerate(self._alphas):
            if len(self.slot_blocks[slot]) == 1:
                x = self.run_slot(slot, 0, x, training)
                continue
            index, hard = self._sample(alpha)
            x = self.run_slot(slot, index, x, training) * ops.take(hard, index)
        return self.head(x, training=training)

    # ------------------------------------------------------------------ architecture
    def arch_probabilities(self) -> list:
        """Per slot, the (differentiable) softmax of its logits: decisions of `mobile_cost_table`."""
        return [ops.softmax(a) for a in self._alphas]

    def arch_state(self) -> dict[str, np.ndarray]:
        """`{"slot{d}/alpha": probabilities}` for logging."""
        result = {}
        for d, a in enumerate(self._alphas):
            v = np.asarray(a.numpy(), dtype=np.float64)
            z = np.exp(v - v.max())
            result[f"slot{d}/alpha"] = z / z.sum()
        return result

    def export(self, choices: Sequence[int] | None = None) -> BlockGenotype:
        """The genotype: the most likely candidate per slot, or the candidates `choices` names.

        Raises:
            ValueError: for a wrong number of choices or an index out of range.
        """
        if choices is None:
            choices = [int(np.argmax(p)) for p in self.arch_state().values()]
        return self.space.genotype(choices, se_base=self.config.se_base, bn_momentum=self.config.bn_momentum)

    def get_config(self) -> dict[str, Any]:
        c = self.config
        return {"space": c.space, "num_classes": c.num_classes, "input_shape": list(c.input_shape), "seed": c.seed,
                "bn_momentum": c.bn_momentum, "se_base": c.se_base, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MobileSupernet:
        return cls(**config)
