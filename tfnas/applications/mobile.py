"""Mobile block networks of the zoo (ImageNet 224x224 by default), `keras.applications`-style.

Each function builds the published genotype through `tfnas.children.build_child` with the
`keras.applications` contract (`include_top, weights, input_tensor, input_shape, pooling,
classes, classifier_activation`); `weights` takes a shipped tag (sha256-verified) or a path.
"""

from __future__ import annotations

import keras

from tfnas.applications.zoo import build_zoo_model


def MobileNetV2(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the mobile block network of MobileNetV2.

    Published: 72.0% ImageNet top-1, 3.4M params, 300M MAdds.

    References:
        - Sandler et al., MobileNetV2, arXiv 1801.04381

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, e.g. `"cifar10"`, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 224x224 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 1000).
        classifier_activation: Activation of the top; None returns logits.
        dataset: Dataset whose stem and defaults to use (default `"imagenet"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = MobileNetV2(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "mobilenet_v2",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dataset=dataset,
        name=name,
    )


def MnasNetA1(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the mobile block network of MnasNet-A1.

    Published: 75.2% ImageNet top-1, 3.9M params, 312M MAdds.

    References:
        - Tan et al., MnasNet, arXiv 1807.11626

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 224x224 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 1000).
        classifier_activation: Activation of the top; None returns logits.
        dataset: Dataset whose stem and defaults to use (default `"imagenet"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = MnasNetA1(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "mnasnet_a1",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dataset=dataset,
        name=name,
    )


def ProxylessNASMobile(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the mobile block network of ProxylessNAS (mobile).

    Published: 74.6% ImageNet top-1, 4.1M params, 320M MAdds.

    References:
        - Cai et al., ProxylessNAS, arXiv 1812.00332

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 224x224 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 1000).
        classifier_activation: Activation of the top; None returns logits.
        dataset: Dataset whose stem and defaults to use (default `"imagenet"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = ProxylessNASMobile(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "proxylessnas_mobile",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dataset=dataset,
        name=name,
    )


def FBNetC(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the mobile block network of FBNet-C.

    Published: 74.9% ImageNet top-1, 5.5M params, 375M MAdds.

    References:
        - Wu et al., FBNet, arXiv 1812.03443

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 224x224 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 1000).
        classifier_activation: Activation of the top; None returns logits.
        dataset: Dataset whose stem and defaults to use (default `"imagenet"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = FBNetC(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "fbnet_c",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dataset=dataset,
        name=name,
    )


def EfficientNetB0(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    *,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Instantiates the mobile block network of EfficientNet-B0.

    Published: 77.1% ImageNet top-1, 5.3M params, 390M MAdds.

    References:
        - Tan & Le, EfficientNet, arXiv 1905.11946

    Args:
        include_top: Keep the classifier; otherwise return the features.
        weights: None (random init), a shipped weights tag, or an `.npz` path.
        input_tensor: Optional Keras tensor to use as the input.
        input_shape: `(size, size, 3)`; default 224x224 (or the weights' size).
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default 1000).
        classifier_activation: Activation of the top; None returns logits.
        dataset: Dataset whose stem and defaults to use (default `"imagenet"`).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for bad options or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.

    Example:
    >>> model = EfficientNetB0(include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return build_zoo_model(
        "efficientnet_b0",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dataset=dataset,
        name=name,
    )
