"""DARTS-space cell networks of the zoo (CIFAR-10 by default), `keras.applications`-style.

Each function builds the published genotype through `tfnas.children.build_child` with the
`keras.applications` contract (`include_top, weights, input_tensor, input_shape, pooling,
classes, classifier_activation`); `weights` takes a shipped tag (sha256-verified) or a path.
"""

from __future__ import annotations

import keras

from tfnas.applications.zoo import build_zoo_model


def DARTS_V1(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    channels: int | None = None,
    layers: int | None = None,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the DARTS-space network of DARTS (first order).

    Published: 3.00% CIFAR-10 test error (36 channels, 20 cells, 600 epochs, cutout; 3.3M params).

    References:
        - Liu et al., DARTS, arXiv 1806.09055

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 32x32 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 10).
        classifier_activation: Activation of the top; None returns logits.
        channels: Initial channels (default 36 on CIFAR, 48 on ImageNet).
        layers: Number of cells (default 20 on CIFAR, 14 on ImageNet).
        dataset: Dataset whose stem and defaults to use (default `"cifar10"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = DARTS_V1(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "darts_v1",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        channels=channels,
        layers=layers,
        dataset=dataset,
        name=name,
    )


def DARTS_V2(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    channels: int | None = None,
    layers: int | None = None,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the DARTS-space network of DARTS (second order).

    Published: 2.76 +- 0.09% CIFAR-10 test error (3.3M params); 26.7% ImageNet top-1 error (mobile setting, 4.7M, 574M MAdds).

    References:
        - Liu et al., DARTS, arXiv 1806.09055

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, e.g. `"c16_l8_cifar10"`, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 32x32 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 10).
        classifier_activation: Activation of the top; None returns logits.
        channels: Initial channels (default 36 on CIFAR, 48 on ImageNet).
        layers: Number of cells (default 20 on CIFAR, 14 on ImageNet).
        dataset: Dataset whose stem and defaults to use (default `"cifar10"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = DARTS_V2(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "darts_v2",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        channels=channels,
        layers=layers,
        dataset=dataset,
        name=name,
    )


def PC_DARTS(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    channels: int | None = None,
    layers: int | None = None,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the DARTS-space network of PC-DARTS.

    Published: 2.57 +- 0.07% CIFAR-10 test error (3.6M params).

    References:
        - Xu et al., PC-DARTS, arXiv 1907.05737

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 32x32 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 10).
        classifier_activation: Activation of the top; None returns logits.
        channels: Initial channels (default 36 on CIFAR, 48 on ImageNet).
        layers: Number of cells (default 20 on CIFAR, 14 on ImageNet).
        dataset: Dataset whose stem and defaults to use (default `"cifar10"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = PC_DARTS(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "pc_darts",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        channels=channels,
        layers=layers,
        dataset=dataset,
        name=name,
    )


def GDAS(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    channels: int | None = None,
    layers: int | None = None,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the DARTS-space network of GDAS.

    Published: 2.93% CIFAR-10 test error (3.4M params) as published.

    References:
        - Dong & Yang, GDAS, arXiv 1910.04465

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 32x32 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 10).
        classifier_activation: Activation of the top; None returns logits.
        channels: Initial channels (default 36 on CIFAR, 48 on ImageNet).
        layers: Number of cells (default 20 on CIFAR, 14 on ImageNet).
        dataset: Dataset whose stem and defaults to use (default `"cifar10"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = GDAS(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "gdas",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        channels=channels,
        layers=layers,
        dataset=dataset,
        name=name,
    )


def DARTS_MINUS(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    channels: int | None = None,
    layers: int | None = None,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the DARTS-space network of DARTS- (its released CIFAR-10 cell).

    Published: 97.41 +- 0.08% CIFAR-10 test accuracy (average; best 97.5%), 3.5M params.

    References:
        - Chu et al., DARTS-, arXiv 2009.01027

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 32x32 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 10).
        classifier_activation: Activation of the top; None returns logits.
        channels: Initial channels (default 36 on CIFAR, 48 on ImageNet).
        layers: Number of cells (default 20 on CIFAR, 14 on ImageNet).
        dataset: Dataset whose stem and defaults to use (default `"cifar10"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = DARTS_MINUS(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "darts_minus",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        channels=channels,
        layers=layers,
        dataset=dataset,
        name=name,
    )
