"""TensorFlow's own FLOP count of a Keras model: an independent cross-check of MAdds.

A measurement tool, so it imports TensorFlow (the rest of `tfnas.budgets` does not):
the model is traced at batch 1 in inference mode into a concrete function, its
variables are frozen into constants, and `tf.compat.v1.profiler` with
`ProfileOptionBuilder.float_operation()` counts the float operations of that graph
(and of the library functions it calls, such as the one Keras runs grouped
convolutions in, which the profiler alone would skip).

Relation to `tfnas.budgets.counters.count_madds`: the profiler counts a multiply and
an add separately, so on its `Conv2D`, `DepthwiseConv2dNative` and `MatMul` ops it
reports exactly `2 * MAdds` (checked in the tests: equal, not approximately). Its
total adds the elementwise work the MAdds convention leaves out: unfolded batch
normalisation (`Mul`, `AddV2`, `Sub`, `Rsqrt`), bias adds, residual adds, pooling
(`Mean`, `AvgPool`, `MaxPool`), squeeze-excite rescaling, softmax. Activations such as
`Relu`/`Relu6` have no FLOP statistics and count 0. Hence
`count_madds <= profile_flops / 2`, with the gap a few percent on mobile networks
(keras.applications.MobileNetV2 at 224: 300.77M MAdds vs 307.65M = profiler / 2,
ratio 0.978; the conv/matmul part: 300.77M vs 300.77M).

Example:
>>> import keras
>>> inputs = keras.Input((8, 8, 3))
>>> model = keras.Model(inputs, keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs))
>>> profile_flops(model, (8, 8, 3))  # 2 * 6912
13824
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from tensorflow.python.framework.function_def_to_graph import function_def_to_graph

#: TF op types whose profiler FLOPs are exactly 2 * the MAdds of `count_madds`.
MADD_OPS: tuple[str, ...] = ("Conv2D", "Conv3D", "DepthwiseConv2dNative", "MatMul", "BatchMatMulV2", "Conv2DBackpropInput")


def profile_flops_by_op(model: keras.Model, input_shape: Sequence[int] | None = None) -> dict[str, int]:
    """Counts the float operations of one inference pass at batch 1, per TF op type.

    Args:
        model: A Keras model with one input.
        input_shape: The input shape without the batch dimension; by default the
            model's own (which must then be fully known).

    Returns:
        A dict from TF op type (`"Conv2D"`, `"AddV2"`, ...) to its float operations,
        only op types with a non-zero count.

    Raises:
        ValueError: if the model does not have exactly one input or its shape is unknown.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"Expected a keras.Model. Received: model={type(model).__name__}")
    if len(model.inputs) != 1:
        raise ValueError(f"profile_flops supports single-input models; model {model.name!r} has {len(model.inputs)}.")
    spec_input = model.inputs[0]
    if input_shape is None:
        input_shape = tuple(spec_input.shape)[1:]
        if any(d is None for d in input_shape):
            raise ValueError(
                f"Model input has shape {tuple(spec_input.shape)}: pass input_shape=(H, W, C)."
            )
    input_shape = tuple(input_shape)
    if not all(isinstance(d, int) and d > 0 for d in input_shape):
        raise ValueError(f"input_shape must be positive ints. Received: input_shape={input_shape!r}")

    @tf.function
    def forward(x):
        return model(x, training=False)

    concrete = forward.get_concrete_function(tf.TensorSpec((1,) + input_shape, spec_input.dtype))
    graph_def = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
    counts: dict[str, int] = {}
    _profile_graph(graph, library, counts)
    return counts


#: Op types that call a library function (Keras runs e.g. grouped convolutions in one).
_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")


def _profile_graph(graph: tf.Graph, library: dict, counts: dict[str, int]) -> None:
    """Adds the profiler's per-op-type FLOPs of `graph`, and of the functions it calls, to `counts`."""
    options = dict(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=options)
    stack = list(profile.children)
    while stack:  # The "op" view nests op types in a chain; walk it all.
        node = stack.pop()
        if node.float_ops:
            counts[node.name] = counts.get(node.name, 0) + int(node.float_ops)
        stack.extend(node.children)
    # The profiler does not descend into function calls: profile each called body at
    # the call's input shapes.
    for op in graph.get_operations():
        if op.type in _CALL_OPS:
            body = function_def_to_graph(
                library[op.get_attr("f").name], input_shapes=[t.shape for t in op.inputs]
            )
            _profile_graph(body, library, counts)


def profile_flops(model: keras.Model, input_shape: Sequence[int] | None = None) -> int:
    """Counts TensorFlow's float operations of one inference pass at batch 1.

    Args:
        model: A Keras model with one input.
        input_shape: The input shape without the batch dimension; by default the
            model's own (which must then be fully known).

    Returns:
        The profiler's total float operations (about `2 * MAdds` plus elementwise
        work; see the module docstring).

    Raises:
        ValueError: as `profile_flops_by_op`.
    """
    return sum(profile_flops_by_op(model, input_shape).values())
