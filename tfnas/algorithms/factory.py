"""Building a search: optimizers (`make_optimizers`) and the whole algorithm (`build_search`)."""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import tensorflow as tf

from tfnas.algorithms.base import ALGORITHMS, BilevelSearch
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.optimizers import FusedSGD


def make_optimizers(
    config: SearchConfig, steps_per_epoch: int
) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """Returns `(weight_optimizer, arch_optimizer)` for `config`.

    Weights: SGD with momentum (Nesterov if `config.nesterov`; `FusedSGD`, Keras's SGD with
    one kernel per variable update), learning rate cosine from
    `learning_rate` to `min_learning_rate` over all `epochs * steps_per_epoch` steps.
    Architecture: Adam with `arch_learning_rate`, betas `(arch_beta_1, arch_beta_2)` and
    PyTorch's epsilon. Neither has Keras's (decoupled) `weight_decay` nor `global_clipnorm`:
    `BilevelSearch` clips the replica-summed weight gradients and adds the coupled decays.

    Args:
        config: The search hyper-parameters.
        steps_per_epoch: Steps of one epoch (e.g. `tfnas.data.bilevel_steps_per_epoch`).

    Returns:
        The two (unbuilt) optimizers.

    Raises:
        ValueError: if `steps_per_epoch < 1`.

    Example:
    >>> w, a = make_optimizers(SearchConfig(), steps_per_epoch=390)
    >>> round(float(w.learning_rate), 4), float(a.learning_rate)
    (0.025, 0.0003)
    """
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive integer. Received: steps_per_epoch={steps_per_epoch!r}")
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate,
        decay_steps=config.epochs * steps_per_epoch,
        alpha=config.min_learning_rate / config.learning_rate,
    )
    weight_optimizer = FusedSGD(
        learning_rate=schedule, momentum=config.momentum, nesterov=config.nesterov, name="weight_optimizer"
    )
    arch_optimizer = keras.optimizers.Adam(
        learning_rate=config.arch_learning_rate,
        beta_1=config.arch_beta_1,
        beta_2=config.arch_beta_2,
        epsilon=config.arch_epsilon,
        name="arch_optimizer",
    )
    return weight_optimizer, arch_optimizer


def check_keras_space_search(config: SearchConfig, supernet_overrides: dict[str, Any] | None = None) -> None:
    """Refuses an algorithm that needs the built-in cell supernet for a space written in Keras.

    Raises:
        ValueError: for ROME's topology sampling, PC-DARTS's channel sampling or edge
            normalisation, an algorithm that sets `needs_cell_supernet`, or supernet overrides (a learned cell space): a user's layers have
            fixed widths and no cell topology.
    """
    cls = ALGORITHMS.get(config.algorithm)
    if cls.mixing not in ("softmax", "gumbel") or config.partial_channels > 1 or config.edge_normalization \
            or supernet_overrides or cls.needs_cell_supernet:
        raise ValueError(
            f"{config.algorithm} needs the built-in cell supernet (its {cls.mixing} mixing, channel sampling or "
            "edge normalisation); a space written in Keras is searched by darts, darts2, darts_minus or gdas.")


def build_search(
    config: SearchConfig,
    space: Any,
    num_classes: int,
    input_shape: tuple[int, int, int],
    *,
    steps_per_epoch: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    supernet_overrides: dict[str, Any] | None = None,
) -> BilevelSearch:
    """Builds the supernet, the algorithm and both optimizers, ready for `fit`.

    Everything is created inside `strategy.scope()` (the current strategy when None), the
    model is built for `(None, *input_shape)` and both optimizers are built on their
    variable groups, as `fit` under a strategy requires.

    Args:
        config: The search hyper-parameters; `config.algorithm` picks the algorithm.
        space: `"darts"` or `"nb201"`, or a user's `tfnas.supernets.choices.KerasSpace`
            (softmax or Gumbel mixing: DARTS, DARTS-, GDAS; PC-DARTS and ROME need the cells).
        num_classes: Number of classes.
        input_shape: `(H, W, C)`.
        steps_per_epoch: Steps per epoch, for the cosine learning-rate schedule (required).
        strategy: The distribution strategy to build under.
        supernet_overrides: Extra `SupernetConfig` fields, e.g. a learned space's
            `supernet_overrides()` (`{"edge_ops": ...}`) to search inside it.

    Returns:
        The compiled, built algorithm; pass `search.callbacks()` to `fit`.

    Raises:
        KeyError: for an unknown `config.algorithm`.
        ValueError: if `steps_per_epoch` is missing, or as `SupernetConfig`.

    Example:
    >>> search = build_search(Darts.default_config(), "nb201", 10, (32, 32, 3),
    ...                       steps_per_epoch=390)  # doctest: +SKIP
    """
    from tfnas.supernets import build_supernet

    if steps_per_epoch is None:
        raise ValueError(
            "build_search needs steps_per_epoch (the cosine schedule spans epochs * steps_per_epoch); "
            "e.g. tfnas.data.bilevel_steps_per_epoch(num_examples, config.batch_size). "
            "Received: steps_per_epoch=None"
        )
    cls = ALGORITHMS.get(config.algorithm)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    user_space = not isinstance(space, str)
    if user_space:
        check_keras_space_search(config, supernet_overrides)
    with scope:
        if user_space:
            supernet = space.supernet(mixing=cls.mixing, aux_skip=bool(config.aux_skip))
        else:
            supernet = build_supernet(
                cls.supernet_config(config, space, num_classes, input_shape, **(supernet_overrides or {}))
            )
        search = cls(supernet, config, name=f"{config.algorithm}_search")
        weight_optimizer, arch_optimizer = make_optimizers(config, steps_per_epoch)
        search.compile(weight_optimizer, arch_optimizer)
        search.build((None, *input_shape))
        search.build_optimizers()
    return search
