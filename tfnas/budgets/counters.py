"""Parameter and multiply-add (MAdds) counters for built Keras 3 models.

The counters walk the layer graph of a functional (or `Sequential`) model, recursing
into nested functional models, and cost every *call* of every layer (a layer shared by
several nodes is counted once per call). Shapes are propagated through the graph, so a
model built with `None` spatial dimensions can be costed at a given `input_shape`.
No TensorFlow is needed: everything is done on Keras symbolic shapes, per image.

Counting convention (the one the NAS papers use for "MAdds"/"FLOPs" of mobile models):

- **Convolutions and fully connected layers only**, one multiply-add per weight use:
  - `Conv{1,2,3}D`: `prod(out_spatial) * C_out * prod(kernel) * C_in / groups`
    (dilation and stride only act through the output size);
  - `DepthwiseConv{1,2}D`: `prod(out_spatial) * C_in * depth_multiplier * prod(kernel)`;
  - `SeparableConv{1,2}D`: its depthwise part plus its 1x1 pointwise part;
  - `Conv{1,2,3}DTranspose`: `prod(in_spatial) * C_in * prod(kernel) * C_out`;
  - `Dense`: `in * units` per input vector (a `Dense` on a feature map counts every
    position); `EinsumDense`: output size times the contracted kernel dimensions.
  Squeeze-and-excitation blocks count through their two 1x1 convolutions / dense layers.
- **Not counted** (0): bias adds, batch normalisation (folded into the preceding
  convolution at inference), other normalisation layers, activations (including
  PReLU), pooling (global or not), padding, reshapes, dropout, residual additions,
  concatenations and the SE channel rescaling, any parameter-free layer or
  `keras.ops` node, and layers whose only variables are scalars (a drop-path rate
  schedule, a learnable gain: elementwise work).
- **Custom layers** declare `count_madds(self, input_shapes, output_shapes) -> int`
  (shapes are tuples with the batch dimension first, as `None`); it takes precedence
  over the built-in formulas. A layer with weights and neither a known type nor
  `count_madds` raises a `ValueError` instead of silently counting 0.
- Auxiliary heads are excluded by layer-name prefix (`exclude_prefixes`, default
  `("aux_",)`): the papers report the inference network.

With this convention `keras.applications.MobileNetV2` (224x224, alpha 1.0) gives
300.77M MAdds (published 300M) and `keras.applications.EfficientNetB0` 385.81M
(published 390M, -1.1%; the remaining ~4M are the SE pooling and rescaling, which
would also bring in pooling everywhere else). TensorFlow's profiler
(`tfnas.budgets.profiler`) counts exactly `2 * MAdds` on its `Conv2D`,
`DepthwiseConv2dNative` and `MatMul` ops, plus elementwise BN/bias/activation work.

References:
    - MobileNetV2 (arXiv 1801.04381): "MAdds" of conv and FC layers, 300M.
    - MnasNet (arXiv 1807.11626): 312M MAdds for MnasNet-A1.
    - EfficientNet (arXiv 1905.11946): 0.39B FLOPs (multiply-adds) for B0.

Example:
>>> import keras
>>> inputs = keras.Input((8, 8, 3))
>>> outputs = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
>>> model = keras.Model(inputs, outputs)
>>> count_madds(model)  # 8*8 * 4 * 3*3*3
6912
>>> count_params(model).total
108
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any
from collections.abc import Iterable, Sequence

import keras

Shape = tuple  # a shape tuple, batch dimension first (None)


@dataclasses.dataclass(frozen=True)
class ParamCount:
    """Parameter counts of a model.

    Attributes:
        trainable: Number of scalars in trainable variables.
        non_trainable: Number of scalars in non-trainable variables (BN statistics, ...).
        total: `trainable + non_trainable`.
    """

    trainable: int
    non_trainable: int
    total: int


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """The cost of one call of one layer.

    Attributes:
        name: The layer name, prefixed by the names of the nested models holding it
            (`"block_1/conv"`).
        class_name: The layer's class name.
        input_shape: Shape of the first input (batch dimension `None`).
        output_shape: Shape of the first output (batch dimension `None`).
        params: The layer's parameter count on its first call, 0 on later calls of a
            shared layer, so the column sums to the counted parameters.
        madds: Multiply-adds of this call, per image.
    """

    name: str
    class_name: str
    input_shape: Shape
    output_shape: Shape
    params: int
    madds: int


def count_params(model: keras.Model, exclude_prefixes: Sequence[str] = ("aux_",)) -> ParamCount:
    """Counts the parameters of a built model, leaving out excluded layers.

    Args:
        model: A built Keras model (any kind: functional, sequential or subclassed).
        exclude_prefixes: Variables of any layer (at any nesting depth) whose name starts
            with one of these prefixes are not counted. Default: auxiliary heads.

    Returns:
        A `ParamCount`. Variables shared between layers are counted once.

    Raises:
        ValueError: if `model` is not a built Keras model.

    Example:
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> count_params(model)
    ParamCount(trainable=10, non_trainable=0, total=10)
    """
    _check_model(model)
    if not model.built:
        raise ValueError(f"count_params needs a built model; model {model.name!r} is not built.")
    prefixes = _check_prefixes(exclude_prefixes)
    excluded: set[int] = set()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if layer.name.startswith(prefixes):
            excluded.update(id(v) for v in layer.weights)
    seen: set[int] = set()

    def _size(variables: Iterable[Any]) -> int:
        total = 0
        for v in variables:
            if id(v) in excluded or id(v) in seen:
                continue
            seen.add(id(v))
            total += math.prod(v.shape)
        return total

    trainable = _size(model.trainable_weights)
    non_trainable = _size(model.non_trainable_weights)
    return ParamCount(trainable=trainable, non_trainable=non_trainable, total=trainable + non_trainable)


def count_madds(
    model: keras.Model,
    input_shape: Shape | Sequence[Shape] | None = None,
    exclude_prefixes: Sequence[str] = ("aux_",),
) -> int:
    """Counts the multiply-adds of one forward pass of one image (see module docstring).

    Args:
        model: A functional or `Sequential` Keras model (built with an `Input`);
            nested functional/sequential models are walked into.
        input_shape: The input shape without the batch dimension (a list of shapes for a
            multi-input model). Needed when the model was built with `None` spatial
            dimensions; by default the model's own input shape.
        exclude_prefixes: Layers (or nested models) whose name starts with one of these
            prefixes are not counted. Default: auxiliary heads.

    Returns:
        The MAdds as an int.

    Raises:
        ValueError: if the model is not a graph model, its input shape is not fully
            known and no `input_shape` is given, `input_shape` does not fit the model, or
            a layer with weights has no known formula and no `count_madds` method.

    Example:
    >>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    >>> count_madds(model)
    15
    """
    return sum(cost.madds for cost in layer_costs(model, input_shape, exclude_prefixes))


def layer_costs(
    model: keras.Model,
    input_shape: Shape | Sequence[Shape] | None = None,
    exclude_prefixes: Sequence[str] = ("aux_",),
) -> list[LayerCost]:
    """Lists the cost of every layer call of a model, in graph order.

    Nested functional/sequential models are expanded (their own row is replaced by the
    rows of their layers, named `"outer/inner"`); a layer called at several nodes has a
    row per call.

    Args:
        model: A functional or `Sequential` Keras model (built with an `Input`).
        input_shape: The input shape without the batch dimension (a list of shapes for a
            multi-input model); by default the model's own input shape.
        exclude_prefixes: Layers (or nested models) whose name starts with one of these
            prefixes are left out. Default: auxiliary heads.

    Returns:
        A list of `LayerCost`, one per counted layer call.

    Raises:
        ValueError: as `count_madds`.

    Example:
    >>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, name="fc")])
    >>> layer_costs(model)
    [LayerCost(name='fc', class_name='Dense', input_shape=(None, 5), output_shape=(None, 3), params=18, madds=15)]
    """
    _check_model(model)
    prefixes = _check_prefixes(exclude_prefixes)
    graph = _graph_of(model, "model")
    inputs = _input_specs(graph, input_shape)
    rows: list[LayerCost] = []
    _walk(graph, inputs, prefix="", prefixes=prefixes, excluded=False, rows=rows, seen=set())
    return rows


# ----------------------------------------------------------------------------- graph walk


def _check_model(model: Any) -> None:
    if not isinstance(model, keras.Model):
        raise ValueError(f"Expected a keras.Model. Received: model={type(model).__name__}")


def _check_prefixes(exclude_prefixes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(exclude_prefixes, str) or not all(isinstance(p, str) for p in exclude_prefixes):
        raise ValueError(
            f"exclude_prefixes must be a sequence of strings. Received: exclude_prefixes={exclude_prefixes!r}"
        )
    return tuple(exclude_prefixes)


def _is_graph_model(layer: Any) -> bool:
    if isinstance(layer, keras.Sequential):
        return True
    return isinstance(layer, keras.Model) and getattr(layer, "_nodes_by_depth", None) is not None


def _graph_of(model: keras.Model, what: str) -> keras.Model:
    """Returns the functional graph behind a functional or sequential model."""
    if isinstance(model, keras.Sequential):
        functional = getattr(model, "_functional", None)
        if functional is None:
            raise ValueError(
                f"{what} {model.name!r} is a Sequential model without a graph: start it with "
                "keras.Input(shape) (or build it) so its layers have shapes."
            )
        return functional
    if not _is_graph_model(model):
        raise ValueError(
            f"{what} {model.name!r} ({type(model).__name__}) is a subclassed model: the counters "
            "walk functional graphs. Build it functionally, or give it a "
            "count_madds(input_shapes, output_shapes) method and nest it in a functional model."
        )
    return model


def _input_specs(graph: keras.Model, input_shape: Shape | Sequence[Shape] | None) -> list[Any]:
    """Symbolic inputs (batch dimension None) for the walk, checked against the model."""
    model_inputs = list(graph.inputs)
    if input_shape is None:
        for x in model_inputs:
            if any(d is None for d in tuple(x.shape)[1:]):
                raise ValueError(
                    f"Model input {x.name!r} has shape {tuple(x.shape)} with unknown dimensions: "
                    "pass input_shape=(H, W, C) (without the batch dimension)."
                )
        return model_inputs
    shapes = [input_shape] if input_shape and isinstance(input_shape[0], (int, type(None))) else input_shape
    shapes = [tuple(s) for s in shapes]
    if len(shapes) != len(model_inputs):
        raise ValueError(
            f"input_shape gives {len(shapes)} shape(s) but the model has {len(model_inputs)} "
            f"input(s). Received: input_shape={input_shape!r}"
        )
    specs = []
    for shape, x in zip(shapes, model_inputs):
        ref = tuple(x.shape)[1:]
        if len(shape) != len(ref) or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(
                "input_shape must be positive ints of the model input's rank without the batch "
                f"dimension ({len(ref)} for input {x.name!r} of shape {tuple(x.shape)}). "
                f"Received: input_shape={input_shape!r}"
            )
        if any(r is not None and r != s for r, s in zip(ref, shape)):
            raise ValueError(
                f"input_shape {shape} conflicts with the fixed dimensions of model input "
                f"{x.name!r} of shape {tuple(x.shape)}. Received: input_shape={input_shape!r}"
            )
        specs.append(keras.KerasTensor((None,) + shape, dtype=x.dtype))
    return specs


def _walk(
    graph: keras.Model,
    inputs: list[Any],
    prefix: str,
    prefixes: tuple[str, ...],
    excluded: bool,
    rows: list[LayerCost],
    seen: set[int],
) -> list[Any]:
    """Runs `graph` on symbolic `inputs`, appending a row per leaf layer call; returns outputs."""
    tensors: dict[int, Any] = {id(x): y for x, y in zip(graph.inputs, inputs)}
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            op = node.operation
            if op is None or node.is_input:
                continue
            if any(id(x) not in tensors for x in node.input_tensors):
                continue  # Not reachable from the inputs (as in Keras's own graph runner).
            args, kwargs = node.arguments.fill_in(tensors)
            new_inputs = keras.tree.flatten((args, kwargs))
            new_inputs = [x for x in new_inputs if isinstance(x, keras.KerasTensor)]
            skip = excluded or op.name.startswith(prefixes)
            if _is_graph_model(op):
                inner = _graph_of(op, "nested model")
                outputs = _walk(
                    inner, new_inputs, prefix + op.name + "/", prefixes, skip, rows, seen
                )
            else:
                same = len(new_inputs) == len(node.input_tensors) and all(
                    tuple(a.shape) == tuple(b.shape) for a, b in zip(new_inputs, node.input_tensors)
                )
                outputs = node.outputs if same else keras.tree.flatten(op.compute_output_spec(*args, **kwargs))
                if not skip:
                    in_shapes = [tuple(x.shape) for x in new_inputs]
                    out_shapes = [tuple(x.shape) for x in outputs]
                    first_call = id(op) not in seen
                    seen.add(id(op))
                    params = sum(math.prod(v.shape) for v in op.weights) if first_call else 0
                    rows.append(
                        LayerCost(
                            name=prefix + op.name,
                            class_name=type(op).__name__,
                            input_shape=in_shapes[0] if in_shapes else (),
                            output_shape=out_shapes[0] if out_shapes else (),
                            params=params,
                            madds=_layer_madds(op, in_shapes, out_shapes, prefix + op.name),
                        )
                    )
            for x, y in zip(node.outputs, keras.tree.flatten(outputs)):
                tensors[id(x)] = y
    missing = [x for x in graph.outputs if id(x) not in tensors]
    if missing:
        raise ValueError(f"Model {graph.name!r} has outputs not connected to its inputs.")
    return [tensors[id(x)] for x in graph.outputs]


# ----------------------------------------------------------------------------- formulas

#: Layers with weights whose cost the convention sets to 0 (normalisation, lookups, PReLU).
_ZERO_COST_WEIGHTED = tuple(
    cls
    for cls in (
        getattr(keras.layers, name, None)
        for name in (
            "BatchNormalization",
            "LayerNormalization",
            "GroupNormalization",
            "RMSNormalization",
            "Normalization",
            "Embedding",
            "PReLU",
        )
    )
    if cls is not None
)


def _channels_last(layer: Any) -> bool:
    return getattr(layer, "data_format", "channels_last") != "channels_first"


def _spatial_and_channels(shape: Shape, channels_last: bool) -> tuple[tuple, int]:
    if channels_last:
        return tuple(shape[1:-1]), shape[-1]
    return tuple(shape[2:]), shape[1]


def _layer_madds(layer: Any, input_shapes: list[Shape], output_shapes: list[Shape], name: str) -> int:
    """MAdds of one call of `layer` (see the module docstring for the convention)."""
    custom = getattr(layer, "count_madds", None)
    if callable(custom):
        value = custom(input_shapes, output_shapes)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(
                f"{type(layer).__name__}.count_madds of layer {name!r} must return a non-negative "
                f"int. Received: {value!r}"
            )
        return value
    formula = _formula(layer)
    if formula is None:
        if isinstance(layer, _ZERO_COST_WEIGHTED) or all(len(v.shape) == 0 for v in layer.weights):
            return 0  # Parameter-free, or only scalar state (schedules, gains): elementwise.
        raise ValueError(
            f"Cannot count the MAdds of layer {name!r} ({type(layer).__name__}): it has weights "
            "but is not a known layer type. Give the class a method "
            "count_madds(self, input_shapes, output_shapes) -> int."
        )
    for shape in list(input_shapes) + list(output_shapes):
        if any(d is None for d in shape[1:]):
            raise ValueError(
                f"Layer {name!r} ({type(layer).__name__}) has a shape with unknown dimensions "
                f"{shape}: pass input_shape= to fix the model's input size."
            )
    return int(formula(layer, input_shapes[0], output_shapes[0]))


def _conv(layer: Any, inp: Shape, out: Shape) -> int:
    _, c_in = _spatial_and_channels(inp, _channels_last(layer))
    spatial, c_out = _spatial_and_channels(out, _channels_last(layer))
    groups = getattr(layer, "groups", 1) or 1
    return math.prod(spatial) * c_out * math.prod(layer.kernel_size) * (c_in // groups)


def _depthwise(layer: Any, inp: Shape, out: Shape) -> int:
    _, c_in = _spatial_and_channels(inp, _channels_last(layer))
    spatial, _ = _spatial_and_channels(out, _channels_last(layer))
    return math.prod(spatial) * c_in * layer.depth_multiplier * math.prod(layer.kernel_size)


def _separable(layer: Any, inp: Shape, out: Shape) -> int:
    _, c_in = _spatial_and_channels(inp, _channels_last(layer))
    spatial, c_out = _spatial_and_channels(out, _channels_last(layer))
    mid = c_in * layer.depth_multiplier
    return math.prod(spatial) * (mid * math.prod(layer.kernel_size) + mid * c_out)


def _conv_transpose(layer: Any, inp: Shape, out: Shape) -> int:
    in_spatial, c_in = _spatial_and_channels(inp, _channels_last(layer))
    _, c_out = _spatial_and_channels(out, _channels_last(layer))
    return math.prod(in_spatial) * c_in * math.prod(layer.kernel_size) * c_out


def _dense(layer: Any, inp: Shape, out: Shape) -> int:
    return math.prod(inp[1:-1]) * inp[-1] * out[-1]


def _einsum_dense(layer: Any, inp: Shape, out: Shape) -> int:
    lhs, out_spec = layer.equation.split("->")
    kernel_spec = lhs.split(",")[1].replace("...", "")
    contracted = [d for ch, d in zip(kernel_spec, layer.kernel.shape) if ch not in out_spec]
    return math.prod(out[1:]) * math.prod(contracted)


def _formula(layer: Any):
    """Returns the MAdds formula for a known layer type, else None. Order matters."""
    L = keras.layers
    table = (
        ((L.SeparableConv1D, L.SeparableConv2D), _separable),
        ((L.DepthwiseConv1D, L.DepthwiseConv2D), _depthwise),
        ((L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose), _conv_transpose),
        ((L.Conv1D, L.Conv2D, L.Conv3D), _conv),
        ((L.Dense,), _dense),
        ((L.EinsumDense,), _einsum_dense),
    )
    for classes, formula in table:
        if isinstance(layer, classes):
            return formula
    return None
