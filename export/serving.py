"""The deployment model: a plain-Keras graph from uint8 images to class probabilities.

Every export format starts from one Keras model built here, so all formats compute the same
function and the parity check compares like with like:

    uint8 images [N, H, W, 3] -> Rescaling (the dataset's per-channel mean/std, in the graph)
        -> the child network (logits) -> Softmax -> float32 probabilities [N, classes]

`to_plain_keras` rewrites a tfnas child so that it holds only stock Keras layers: the
exported `.keras` file then loads with `keras.saving.load_model` and no `import tfnas`.
At inference the tfnas custom layers are replaced by exact equivalents:

- `DropPath` is the identity at inference: its call is dropped from the graph;
- `SymmetricPooling2D` (PyTorch-style symmetric padding for stride-2 pooling) becomes a
  stride-1 `"same"` pooling (TensorFlow pads 1 on every side of a 3x3 window, with -inf for
  max and without counting padded cells for average, exactly `count_include_pad=False`)
  followed by a 1x1 stride-s max pooling that keeps every s-th window: the same windows as
  the strided symmetric pooling, bit for bit;
- `Zero` (the `none` op of NAS-Bench-201 cells) becomes a frozen 1x1 convolution with an
  all-zero kernel;
- a binarized convolution (`tfnas.ops.binary`, 1-bit weights) becomes the stock convolution
  whose kernel is its `mean|W| * sign(W)` constants, two values per channel; one with sign
  activations too is refused (stock Keras has no exact sign layer that loads in safe mode).

Any other non-Keras layer is refused with its class name, rather than exported as something
a consumer cannot load.

Example:
>>> from tfnas.children import build_child
>>> from tfnas.genotypes import codec
>>> child = build_child(codec.load("darts_v2"), channels=4, layers=3, input_size=16)
>>> deploy = serving_model(to_plain_keras(child), dataset="cifar10")
>>> deploy.input.dtype
'uint8'
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from tfnas.ops.binary import BinaryConv2D, BinaryDepthwiseConv2D
from tfnas.ops.cell_ops import SymmetricPooling2D, Zero
from tfnas.ops.drop_path import DropPath

#: Mean/std (on the [0, 1] scale) used for networks built for ImageNet, which tfnas.data does
#: not ship: the usual torchvision statistics.
IMAGENET_STATS: tuple[tuple[float, ...], tuple[float, ...]] = (
    (0.485, 0.456, 0.406),
    (0.229, 0.224, 0.225),
)


def _plain_call(layer: keras.layers.Layer, *args, **kwargs):
    """Calls `layer`, or its stock-Keras equivalent at inference, on the cloned graph."""
    if isinstance(layer, DropPath):
        return args[0]
    if isinstance(layer, SymmetricPooling2D):
        pool = keras.layers.MaxPooling2D if layer.mode == "max" else keras.layers.AveragePooling2D
        y = pool(layer.pool_size, strides=1, padding="same", name=f"{layer.name}_same")(args[0])
        if layer.strides == 1:
            return y
        return keras.layers.MaxPooling2D(1, strides=layer.strides, name=f"{layer.name}_subsample")(y)
    if isinstance(layer, (BinaryConv2D, BinaryDepthwiseConv2D)):
        if layer.binarize_activations:
            raise ValueError(
                f"{layer.name} binarizes its activations (--binarized=weights_activations); the export writes "
                "binarized weights only. Export a --binarized=weights network.")
        depthwise = isinstance(layer, BinaryDepthwiseConv2D)
        config = {k: v for k, v in layer.get_config().items() if k not in ("binarize_activations", "method")}
        stock = (keras.layers.DepthwiseConv2D if depthwise else keras.layers.Conv2D).from_config(
            {**config, "name": f"{layer.name}_1bit"})
        y = stock(args[0])
        stock.set_weights([np.asarray(layer.binary_kernel())])
        return y
    if isinstance(layer, Zero):
        x = args[0]
        conv = keras.layers.Conv2D(
            layer.channels or x.shape[-1],
            1,
            strides=layer.strides,
            use_bias=False,
            kernel_initializer="zeros",
            trainable=False,
            name=f"{layer.name}_zeros",
        )
        return conv(x)
    return layer(*args, **kwargs)


def to_plain_keras(model: keras.Model) -> keras.Model:
    """Returns an inference copy of `model` built from stock Keras layers only.

    The copy shares the weights of `model` (no variable is duplicated) and computes the same
    inference function; see the module docstring for the rewrites.

    Args:
        model: A functional tfnas child (logits output), e.g. from `build_child` or the
            `model.keras` of `launch.train`.

    Returns:
        A functional `keras.Model` whose layers all come from the `keras` package.

    Raises:
        ValueError: if `model` is not a functional model, or holds a layer that is neither
            stock Keras nor one of the tfnas layers above.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            f"Expected a functional keras.Model (a tfnas child). Received: {type(model).__name__}"
        )
    if len(model.outputs) != 1:
        raise ValueError(
            f"Expected a single-output inference model; {model.name} has {len(model.outputs)} outputs "
            "(an auxiliary head?). Build the child with auxiliary=False or use the model.keras of "
            "launch.train, which is the inference network."
        )
    plain = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=_plain_call)
    foreign = sorted({
        f"{type(layer).__module__}.{type(layer).__name__}"
        for layer in _all_layers(plain)
        if not type(layer).__module__.startswith("keras.")
    })
    if foreign:
        raise ValueError(
            f"{model.name} holds layers that plain Keras cannot load: {foreign}. Add their "
            "inference equivalent to export.serving._plain_call."
        )
    return plain


def _all_layers(model: keras.Model):
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        yield layer
        if isinstance(layer, keras.Model):
            stack.extend(layer.layers)


def normalization_stats(dataset: str, stats=None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Returns the `(mean, std)` a model trained on `dataset` expects, on the [0, 1] scale.

    Args:
        dataset: A `tfnas.data` dataset name (`"cifar10"`, `"digits"`) or `"imagenet"`.
        stats: Explicit `(mean, std)`, overriding the dataset's.

    Returns:
        `(mean, std)` tuples.

    Raises:
        ValueError: for an unknown dataset without explicit stats.
    """
    from tfnas import data

    if stats is None and dataset == "imagenet":
        return IMAGENET_STATS
    try:
        return data.resolve_stats(dataset, stats)
    except KeyError as err:
        raise ValueError(
            f"No normalization statistics for dataset={dataset!r}: use a tfnas.data dataset "
            f"({', '.join(data.DATASETS.names())}) or 'imagenet', or pass stats=(mean, std)."
        ) from err


def serving_model(
    logits_model: keras.Model,
    *,
    dataset: str = "cifar10",
    stats: tuple[Sequence[float], Sequence[float]] | None = None,
    name: str | None = None,
) -> keras.Model:
    """Wraps a logits network as uint8 images -> normalization -> network -> probabilities.

    Normalization is `(x / 255 - mean) / std`, written as one `Rescaling(scale, offset)` layer
    with per-channel scale `1 / (255 std)` and offset `-mean / std`, so the statistics are
    constants of the graph (ONNX and TFLite converters fold them; they are never inputs).

    Args:
        logits_model: A plain-Keras network with one logits output (see `to_plain_keras`).
        dataset: The dataset whose statistics the network was trained with.
        stats: Explicit `(mean, std)` on the [0, 1] scale, overriding `dataset`'s.
        name: The model's name (default: the network's name).

    Returns:
        A functional model: input `image` (uint8, the network's input shape), output
        `probabilities` (float32).

    Raises:
        ValueError: for unknown statistics or a network with an undefined input size.
    """
    mean, std = normalization_stats(dataset, stats)
    shape = tuple(logits_model.inputs[0].shape[1:])
    if None in shape or len(shape) != 3:
        raise ValueError(
            f"The network's input shape must be fully defined (height, width, channels). "
            f"Received: {shape}. Build it with an explicit input size."
        )
    if len(mean) != shape[-1]:
        raise ValueError(f"Statistics have {len(mean)} channels but the network takes {shape[-1]}.")
    scale = (1.0 / (255.0 * np.asarray(std, dtype=np.float64))).tolist()
    offset = (-np.asarray(mean, dtype=np.float64) / np.asarray(std, dtype=np.float64)).tolist()
    images = keras.Input(shape=shape, dtype="uint8", name="image")
    x = keras.layers.Rescaling(scale=scale, offset=offset, name="normalize")(images)
    logits = logits_model(x)
    probabilities = keras.layers.Softmax(name="probabilities", dtype="float32")(logits)
    return keras.Model(images, probabilities, name=name or logits_model.name)
