"""AutoRNN: the searched recurrent cell of AutoCaption's decoder, its genotype and its Keras cells.

A cell of N nodes, ENAS's recurrent-cell layout (Pham et al., arXiv 1802.03268) with the two
kinds of choices AutoCaption searches (Zhu et al., arXiv 2012.09742): the *connections* (which
earlier node feeds each node) and the *operation* of each node:

- node 0 reads the step's input and the previous state: `n_0 = f_0(x_t W_x + h_{t-1} W_h + b_0)`;
- node i >= 1 reads one earlier node `j_i < i`: `n_i = f_i(n_{j_i} W_{i, j_i} + b_i)`;
- `f` is one of `RNN_OPS` (tanh, relu, sigmoid, identity);
- the new state `h_t` is the mean of the loose ends (the nodes no later node reads).

The plain (Elman) RNN cell `h_t = tanh(x_t W_x + h_{t-1} W_h + b)` is the one-node member
`"tanh"` (tested against `keras.layers.SimpleRNNCell`): the space contains the hand-designed
cell, as AutoCaption's does. AutoCaption describes its space by connections and operations
only; ENAS's released PTB cell (which AutoCaption's shared-parameter search follows) also gates
every node with a highway connection, and so does DARTS's recurrent cell. That gate is the
option `highway` (genotype prefix `highway:`): node i computes
`c_i = sigmoid(s W^c + b^c_i)`, `n_i = c_i * f_i(s W + b_i) + (1 - c_i) * s_prev`, where `s` is
what the node reads (`x_t, h_{t-1}` for node 0, node `j_i` otherwise) and `s_prev` is `h_{t-1}`
for node 0 and `n_{j_i}` otherwise: each node can pass its input through, as an LSTM's forget
gate can. It doubles the cell's weights. Off by default (then the Elman cell is a member).

Genotype string: node 0's op, then `op<j` for each later node, joined by `|`, e.g.
`"tanh|relu<0|identity<0|sigmoid<2"`; with highway gates, `"highway:tanh|relu<0|..."`.

Two cells share the computation:
- `AutoRNNCell(units, genotype=...)`: a fixed cell, the weights of its own connections only
  (a child);
- `AutoRNNCell(units, num_nodes=N)`: the shared-weight cell of the search, one `W_{i, j}` per
  possible connection, the architecture read from two integer variables (`set_architecture`),
  so one traced step serves every sampled cell (ENAS's parameter sharing); every op is
  computed per node and the sampled one selected by a one-hot mask (elementwise, cheap).

References:
    - Zhu et al., AutoCaption: Image Captioning with Neural Architecture Search, arXiv 2012.09742.
    - Pham et al., Efficient Neural Architecture Search via Parameter Sharing, arXiv 1802.03268.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

RNN_OPS: tuple[str, ...] = ("tanh", "relu", "sigmoid", "identity")
_HIGHWAY = "highway:"


@dataclasses.dataclass(frozen=True)
class RNNCellGenotype:
    """An AutoRNN cell: `ops[i]` of node i, `inputs[i]` the node it reads (`inputs[0]` is -1: x_t,
    h_{t-1}); `highway`: every node gated by a highway connection (see the module doc).

    Raises:
        ValueError: for an unknown op, or a node reading itself or a later node.

    Example:
    >>> g = RNNCellGenotype.from_string("tanh|relu<0|identity<0|sigmoid<2")
    >>> g.loose_ends()
    (1, 3)
    """

    ops: tuple[str, ...]
    inputs: tuple[int, ...]
    highway: bool = False

    def __post_init__(self) -> None:
        if not self.ops or len(self.ops) != len(self.inputs):
            raise ValueError(f"a cell needs one op and one input per node. Received: ops={self.ops}, "
                             f"inputs={self.inputs}")
        for i, (op, j) in enumerate(zip(self.ops, self.inputs)):
            if op not in RNN_OPS:
                raise ValueError(f"node {i}: op {op!r} is not one of {RNN_OPS}.")
            if (i == 0 and j != -1) or (i > 0 and not 0 <= j < i):
                raise ValueError(f"node {i} reads node {j}: node 0 reads the input (-1), node i > 0 an earlier "
                                 "node 0..i-1.")

    @classmethod
    def from_string(cls, text: str) -> RNNCellGenotype:
        """Parses `"op|op<j|..."` or `"highway:op|op<j|..."` (see the module doc)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"an AutoRNN genotype is 'op|op<j|...', e.g. 'tanh|relu<0'. Received: {text!r}")
        body = text.strip()
        highway = body.startswith(_HIGHWAY)
        body = body[len(_HIGHWAY):] if highway else body
        ops, inputs = [], []
        for i, part in enumerate(body.split("|")):
            op, sep, source = part.partition("<")
            if (i == 0) == bool(sep):
                raise ValueError(f"{text!r}: node {i} must be written {'op' if i == 0 else 'op<j'}, not {part!r}.")
            try:
                inputs.append(-1 if i == 0 else int(source))
            except ValueError:
                raise ValueError(f"{text!r}: node {i}'s input {source!r} is not a node number.") from None
            ops.append(op)
        return cls(tuple(ops), tuple(inputs), highway)

    def to_string(self) -> str:
        cell = "|".join([self.ops[0]] + [f"{op}<{j}" for op, j in zip(self.ops[1:], self.inputs[1:])])
        return _HIGHWAY + cell if self.highway else cell

    @property
    def num_nodes(self) -> int:
        return len(self.ops)

    def plot(self, path: str, title: str | None = None) -> None:
        """Writes the cell's picture (PNG) to `path`."""
        from tfnas.genotypes.plot import save_rnn_cell_plot

        save_rnn_cell_plot(self.ops, self.inputs, self.loose_ends(), path, title=title or self.to_string())

    def loose_ends(self) -> tuple[int, ...]:
        """The nodes no later node reads: their mean is the new state."""
        read = set(self.inputs[1:])
        return tuple(i for i in range(self.num_nodes) if i not in read)


def _activation(x, op: str):
    return {"tanh": keras.ops.tanh, "relu": keras.ops.relu, "sigmoid": keras.ops.sigmoid,
            "identity": lambda v: v}[op](x)


class AutoRNNCell(keras.layers.Layer):
    """An AutoRNN cell for `keras.layers.RNN`: a fixed genotype, or the shared-weight search cell.

    Args:
        units: State size.
        genotype: A fixed cell (`RNNCellGenotype` or its string); None for the search cell.
        num_nodes: Nodes of the search cell (ignored with a genotype).
        highway: The search cell's highway gates (a fixed cell takes them from its genotype).
        **kwargs: Passed to `keras.layers.Layer`.

    Raises:
        ValueError: for a non-positive size, neither or both of genotype and num_nodes, or
            `highway` given with a genotype.
    """

    def __init__(self, units: int, genotype: RNNCellGenotype | str | None = None, num_nodes: int | None = None,
                 highway: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer. Received: units={units!r}")
        if (genotype is None) == (num_nodes is None):
            raise ValueError("give either genotype (a fixed cell) or num_nodes (the search cell).")
        if isinstance(genotype, str):
            genotype = RNNCellGenotype.from_string(genotype)
        if num_nodes is not None and (isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1):
            raise ValueError(f"num_nodes must be a positive integer. Received: num_nodes={num_nodes!r}")
        if genotype is not None and highway is not None:
            raise ValueError("a fixed cell takes its highway gates from its genotype ('highway:...'); leave "
                             "highway unset.")
        self.units = units
        self.genotype = genotype
        self.num_nodes = genotype.num_nodes if genotype is not None else num_nodes
        self.highway = genotype.highway if genotype is not None else bool(highway)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape) -> None:
        features = int(input_shape[-1])
        init = keras.initializers.GlorotUniform()
        width = 2 * self.units if self.highway else self.units  # highway: [gate | candidate] columns
        self.input_kernel = self.add_weight(name="input_kernel", shape=(features, width), initializer=init)
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, width),
                                                initializer=keras.initializers.Orthogonal())
        self.node_bias = self.add_weight(name="node_bias", shape=(self.num_nodes, width), initializer="zeros")
        if self.genotype is not None:  # the child: one kernel per node, for its own connection
            self.node_kernels = [self.add_weight(name=f"node{i}_kernel", shape=(self.units, width),
                                                 initializer=init) for i in range(1, self.num_nodes)]
        else:  # the search cell: one kernel per possible connection (i, j), j < i
            self.node_kernels = [self.add_weight(name=f"node{i}_kernels", shape=(i, self.units, width),
                                                 initializer=init) for i in range(1, self.num_nodes)]
            self.arch_inputs = self.add_weight(name="arch_inputs", shape=(self.num_nodes,), dtype="int32",
                                               initializer="zeros", trainable=False)
            self.arch_ops = self.add_weight(name="arch_ops", shape=(self.num_nodes,), dtype="int32",
                                            initializer="zeros", trainable=False)
        self.built = True

    def set_architecture(self, genotype: RNNCellGenotype | str) -> None:
        """Search cell: the cell the next calls compute (assigns the architecture variables)."""
        if self.genotype is not None:
            raise ValueError("set_architecture is for the search cell; this cell is fixed.")
        if isinstance(genotype, str):
            genotype = RNNCellGenotype.from_string(genotype)
        if not self.built:
            raise ValueError("build the search cell first (call its RNN layer once) before set_architecture.")
        if genotype.num_nodes != self.num_nodes:
            raise ValueError(f"the search cell has {self.num_nodes} nodes; {genotype.to_string()!r} has "
                             f"{genotype.num_nodes}.")
        if genotype.highway != self.highway:
            raise ValueError(f"the search cell {'has' if self.highway else 'has no'} highway gates; "
                             f"{genotype.to_string()!r} {'has none' if self.highway else 'has them'}.")
        self.arch_inputs.assign([0] + list(genotype.inputs[1:]))
        self.arch_ops.assign([RNN_OPS.index(op) for op in genotype.ops])

    def _search_activation(self, x, node: int):
        mask = keras.ops.one_hot(self.arch_ops[node], len(RNN_OPS), dtype=x.dtype)
        return sum(mask[k] * _activation(x, op) for k, op in enumerate(RNN_OPS))

    def _node(self, pre, carried, activation):
        """`activation(pre)`, or with highway gates `c * activation(candidate) + (1 - c) * carried`."""
        if not self.highway:
            return activation(pre)
        gate = keras.ops.sigmoid(pre[:, :self.units])
        return gate * activation(pre[:, self.units:]) + (1.0 - gate) * carried

    def call(self, inputs, states):
        h = states[0] if isinstance(states, (list, tuple)) else states
        pre = keras.ops.matmul(inputs, self.input_kernel) + keras.ops.matmul(h, self.recurrent_kernel)
        pre = pre + self.node_bias[0]
        if self.genotype is not None:
            ops = self.genotype.ops
            nodes = [self._node(pre, h, lambda v: _activation(v, ops[0]))]
            for i in range(1, self.num_nodes):
                source = nodes[self.genotype.inputs[i]]
                nodes.append(self._node(keras.ops.matmul(source, self.node_kernels[i - 1]) + self.node_bias[i],
                                        source, lambda v, op=ops[i]: _activation(v, op)))
            loose = self.genotype.loose_ends()
            out = sum(nodes[i] for i in loose) / float(len(loose))
            return out, [out]
        nodes = [self._node(pre, h, lambda v: self._search_activation(v, 0))]
        for i in range(1, self.num_nodes):
            j = self.arch_inputs[i]
            source = keras.ops.take(keras.ops.stack(nodes, axis=0), j, axis=0)
            kernel = keras.ops.take(self.node_kernels[i - 1], j, axis=0)
            nodes.append(self._node(keras.ops.matmul(source, kernel) + self.node_bias[i], source,
                                    lambda v, node=i: self._search_activation(v, node)))
        # Loose ends: node k is read when some later node's input is k.
        later = keras.ops.arange(self.num_nodes) > 0
        read = keras.ops.any(keras.ops.logical_and(
            keras.ops.equal(self.arch_inputs[:, None], keras.ops.arange(self.num_nodes)[None, :]), later[:, None]),
            axis=0)
        weights = keras.ops.cast(keras.ops.logical_not(read), nodes[0].dtype)
        out = keras.ops.einsum("n,nbu->bu", weights, keras.ops.stack(nodes, axis=0)) / keras.ops.sum(weights)
        return out, [out]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, genotype=None if self.genotype is None else self.genotype.to_string(),
                      num_nodes=None if self.genotype is not None else self.num_nodes,
                      highway=None if self.genotype is not None else self.highway)
        return config
