"""The zoo's factory: `create_model("name.tag")`, `list_models()`, and the shared builder.

Names follow timm: the architecture (`darts_v2`, `mobilenet_v2`, ...) and, after a dot,
the weights tag (`darts_v2.c16_l8_cifar10`). An architecture is a published genotype
(`tfnas.genotypes.codec.PUBLISHED`) built by `tfnas.children.build_child`; a weights tag is a
card `tfnas/applications/weights/<arch>.<tag>.json` (plain JSON: the architecture options,
the training command, the measured test accuracy, the weights file and its sha256) beside a
float16 `.npz` file, verified by hash on every load.

Example:
>>> from tfnas.applications import create_model, list_models
>>> "darts_v2" in list_models()
True
>>> model = create_model("darts_v2", channels=4, layers=3, input_shape=(16, 16, 3))
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any

import keras

from tfnas.applications.weights import load_weights_npz

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")

#: Architecture name -> (published genotype name, family). Cell networks default to CIFAR-10
#: (10 classes, 32x32), mobile networks to ImageNet (1000 classes, 224x224).
ARCHITECTURES: dict[str, dict[str, str]] = {
    "darts_v1": {"genotype": "darts_v1", "family": "cell", "paper": "arXiv 1806.09055"},
    "darts_v2": {"genotype": "darts_v2", "family": "cell", "paper": "arXiv 1806.09055"},
    "pc_darts": {"genotype": "pc_darts", "family": "cell", "paper": "arXiv 1907.05737"},
    "gdas": {"genotype": "gdas", "family": "cell", "paper": "arXiv 1910.04465"},
    "darts_minus": {"genotype": "darts_minus", "family": "cell", "paper": "arXiv 2009.01027"},
    "nb201_resnet": {"genotype": "nb201_resnet", "family": "cell", "paper": "arXiv 2001.00326"},
    "mobilenet_v2": {"genotype": "mobilenet_v2", "family": "mobile", "paper": "arXiv 1801.04381"},
    "mnasnet_a1": {"genotype": "mnasnet_a1", "family": "mobile", "paper": "arXiv 1807.11626"},
    "proxylessnas_mobile": {"genotype": "proxylessnas_mobile", "family": "mobile", "paper": "arXiv 1812.00332"},
    "fbnet_c": {"genotype": "fbnet_c", "family": "mobile", "paper": "arXiv 1812.03443"},
    "efficientnet_b0": {"genotype": "efficientnet_b0", "family": "mobile", "paper": "arXiv 1905.11946"},
}

_FAMILY_DEFAULTS = {"cell": ("cifar10", 10), "mobile": ("imagenet", 1000)}
_POOL_LAYERS = ("global_pool", "avg_pool")


def _load_cards() -> dict[str, dict[str, Any]]:
    cards = {}
    for path in sorted(glob.glob(os.path.join(WEIGHTS_DIR, "*.json"))):
        with open(path, encoding="utf-8") as f:
            card = json.load(f)
        name = os.path.basename(path)[: -len(".json")]
        arch, _, tag = name.partition(".")
        if arch not in ARCHITECTURES or not tag or card.get("arch") != arch or card.get("tag") != tag:
            raise ValueError(f"Malformed zoo weights card {path}: name must be <arch>.<tag>.json matching its fields.")
        cards[name] = card
    return cards


#: "arch.tag" -> weights card (see the module docstring).
WEIGHTS: dict[str, dict[str, Any]] = _load_cards()


def list_models(pretrained: bool = False) -> list[str]:
    """Returns the zoo's names: architectures and `arch.tag` weights (only these if `pretrained`)."""
    if pretrained:
        return sorted(WEIGHTS)
    return sorted(ARCHITECTURES) + sorted(WEIGHTS)


def weights_card(name: str) -> dict[str, Any]:
    """Returns the card of the weights `name` (`arch.tag`), with `file` as an absolute path.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in WEIGHTS:
        raise ValueError(f"Unknown zoo weights {name!r}. Known: {', '.join(sorted(WEIGHTS)) or '(none)'}")
    card = dict(WEIGHTS[name])
    card["file"] = os.path.join(WEIGHTS_DIR, card["file"])
    return card


def architecture_genotype(name: str) -> str | None:
    """Returns the published genotype name of a zoo architecture, or None if `name` is not one."""
    entry = ARCHITECTURES.get(name)
    return entry["genotype"] if entry else None


def build_zoo_model(
    arch: str,
    *,
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: str | None = "softmax",
    channels: int | None = None,
    layers: int | None = None,
    dataset: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds a zoo architecture with the `keras.applications` contract.

    Args:
        arch: A key of `ARCHITECTURES`.
        include_top: Keep the classifier; otherwise return features (see `pooling`).
        weights: None (random init), a weights tag of `arch` (`"c16_l8_cifar10"`), or the
            path to an `.npz` file written by `save_weights_npz` (no hash check).
        input_tensor: Optional Keras tensor to build the model on.
        input_shape: `(height, width, 3)`; default the weights' training size, else the
            dataset's.
        pooling: Without the top: None (4D features), `"avg"` or `"max"`.
        classes: Classifier width (default: the dataset's; must match tagged weights).
        classifier_activation: Activation of the top (`"softmax"`, None for logits, ...).
        channels: Initial channels (cell networks).
        layers: Number of cells (cell networks).
        dataset: `"cifar10"`, `"cifar100"`, `"digits"` or `"imagenet"` (stem and defaults).
        name: Model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: for an unknown architecture or tag, options contradicting the weights,
            a bad `pooling`, or weights that do not fit.
        WeightsIntegrityError: if a shipped weights file fails its sha256 check.
    """
    from tfnas.children import build_child
    from tfnas.genotypes import codec

    if arch not in ARCHITECTURES:
        raise ValueError(f"Unknown zoo architecture {arch!r}. Known: {', '.join(sorted(ARCHITECTURES))}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    family = ARCHITECTURES[arch]["family"]
    if family == "mobile" and (channels is not None or layers is not None):
        raise ValueError(f"{arch} is a mobile block network: channels/layers do not apply.")
    card = None
    weights_path, sha256 = None, None
    if weights is not None:
        tagged = f"{arch}.{weights}"
        if tagged in WEIGHTS:
            card = weights_card(tagged)
            weights_path, sha256 = card["file"], card["sha256"]
            fixed = {"channels": card.get("channels"), "layers": card.get("layers"), "dataset": card["dataset"]}
            given = {"channels": channels, "layers": layers, "dataset": dataset}
            clash = {k: v for k, v in given.items() if v is not None and v != fixed[k]}
            if clash:
                raise ValueError(f"Weights {tagged} were trained with {fixed}; got {clash}. Drop those options.")
            channels, layers, dataset = fixed["channels"], fixed["layers"], fixed["dataset"]
            if classes is not None and classes != card["classes"] and include_top:
                raise ValueError(
                    f"Weights {tagged} have a {card['classes']}-class classifier; got classes={classes}. "
                    "Use include_top=False to put your own head on the features."
                )
            classes = card["classes"]
        elif os.path.isfile(weights):
            weights_path = weights
        else:
            tags = [n.split(".", 1)[1] for n in WEIGHTS if n.startswith(arch + ".")]
            raise ValueError(
                f"weights must be None, a tag of {arch} ({', '.join(tags) or 'none shipped'}) or an existing "
                f".npz file. Received: weights={weights!r}"
            )
    default_dataset, default_classes = _FAMILY_DEFAULTS[family]
    dataset = dataset or default_dataset
    classes = classes or (default_classes if dataset == default_dataset else None)
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is not None:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] != 3 or input_shape[0] is None or input_shape[0] != input_shape[1]:
            raise ValueError(f"input_shape must be (size, size, 3). Received: input_shape={input_shape}")
    size = input_shape[0] if input_shape is not None else None
    if size is None and card is not None:
        size = card.get("input_size")  # the weights' training resolution (e.g. a 16x16 proxy)
    network = build_child(
        codec.load(ARCHITECTURES[arch]["genotype"]),
        dataset=dataset,
        channels=channels,
        layers=layers,
        input_size=size,
        num_classes=classes,
    )
    if weights_path is not None:
        head = [] if include_top else [f"{_head_name(network)}/"]
        load_weights_npz(network, weights_path, sha256=sha256, skip_prefixes=head)
    if include_top:
        outputs = network.outputs[0]
        if classifier_activation is not None:
            outputs = keras.layers.Activation(classifier_activation, name="predictions_activation")(outputs)
        model = keras.Model(network.inputs, outputs, name=name or arch)
    else:
        pool_layer = next(network.get_layer(n) for n in _POOL_LAYERS if _has_layer(network, n))
        features = pool_layer.input
        if pooling == "avg":
            features = keras.layers.GlobalAveragePooling2D(name="features_avg_pool")(features)
        elif pooling == "max":
            features = keras.layers.GlobalMaxPooling2D(name="features_max_pool")(features)
        model = keras.Model(network.inputs, features, name=name or arch)
    if input_tensor is not None:
        source_inputs = keras.utils.get_source_inputs(input_tensor)
        model = keras.Model(source_inputs, model(input_tensor), name=model.name)
    return model


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _head_name(network: keras.Model) -> str:
    return network.layers[-1].name


def create_model(name: str, **kwargs: Any) -> keras.Model:
    """The zoo's single factory: `"arch"` (random init) or `"arch.tag"` (shipped weights).

    Args:
        name: An entry of `list_models()`.
        **kwargs: `build_zoo_model` options (`include_top`, `input_shape`, `pooling`,
            `classes`, `classifier_activation`, `channels`, `layers`, `dataset`, ...).

    Returns:
        The model.

    Raises:
        TypeError: if `name` is not a string.
        ValueError: for an unknown name (listing the known ones) or a conflicting option.
        WeightsIntegrityError: if the weights file fails its sha256 check.

    Example:
    >>> model = create_model("darts_v2.c16_l8_cifar10")  # doctest: +SKIP
    """
    if not isinstance(name, str):
        raise TypeError(f"Model name must be a string. Received: {name!r}")
    arch, _, tag = name.partition(".")
    if arch not in ARCHITECTURES or (tag and name not in WEIGHTS):
        raise ValueError(f"Unknown zoo model {name!r}. Known: {', '.join(list_models())}")
    if tag:
        if kwargs.get("weights") not in (None, tag):
            raise ValueError(f"{name} already names its weights; got weights={kwargs['weights']!r}.")
        kwargs["weights"] = tag
    return build_zoo_model(arch, **kwargs)
