"""`SearchCell`: the mixed cell of the DARTS and NAS-Bench-201 supernets, edges batched.

A cell's edges are processed in *groups*: all edges leaving the same source nodes at once
(DARTS: the two cell inputs feed nodes 2..5, then node 2 feeds 3..5, node 3 feeds 4..5,
node 4 feeds 5; NB201: node 0 feeds 1..3, node 1 feeds 2..3, node 2 feeds 3). Inside a group
every candidate op is computed for all its edges in one batched call (`kernels`), so a DARTS
cell is 4 groups of a few dozen ops instead of 14 edges x 8 ops x several layers.

Ops that do not depend on the edge (pooling, identity, and the non-affine BN after pooling,
which sees the same input on every edge of a source) are computed once per source, which is
exact: all edges of a source would compute the same tensor.

Mixing:
- `softmax`: `node_t += sum_{s,o} w[s,t,o] * op_o(x_s)`. Every parametric op ends in a
  non-affine BatchNorm, so its mixing weights enter as that BN's per-channel `scale`
  (`w[s,t,o]` repeated over the edge's channels): the fused BN kernel multiplies and gives
  the weights' gradient, and no separate multiply / reduce over a stacked `[.., O, E, C]`
  tensor is needed (it cost a quarter of a DARTS step). Parameter-free ops (pooling,
  identity) are weighted by a broadcast multiply onto the edges.
- `gumbel` / `rome`: the group's edges are sorted by their sampled op and each op runs once
  on the block of edges that sampled it, with those edges' weights gathered from the
  batched variables (unsampled ops and edges get exactly zero gradient); the output is
  weighted by the straight-through `h[e, index]` (times ROME's `keep`) as the last BN's
  scale, and routed back to the nodes (`kernels.gather_edges` / `scatter_edges`). Block
  sizes are known only at run time, so this path calls TensorFlow directly.

References:
    - Liu et al., DARTS, arXiv 1806.09055 (`model_search.py`: MixedOp, Cell).
    - Xu et al., PC-DARTS, arXiv 1907.05737 (partial channels, edge normalization).
    - Chu et al., DARTS-, arXiv 2009.01027 (auxiliary skip).
    - Dong & Yang, GDAS, arXiv 1910.04465; Wang et al., ROME, arXiv 2011.11233.
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326 (SearchCell).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfnas.spaces import darts as darts_space
from tfnas.spaces import nb201 as nb201_space
from tfnas.supernets import kernels

#: Op name -> (kind, parameter) for the batched kernels.
OP_KINDS: dict[str, tuple[str, Any]] = {
    "none": ("none", None),
    "max_pool_3x3": ("pool", "max"),
    "avg_pool_3x3": ("pool", "avg"),
    "skip_connect": ("skip", None),
    "sep_conv_3x3": ("sep", 3),
    "sep_conv_5x5": ("sep", 5),
    "dil_conv_3x3": ("dil", 3),
    "dil_conv_5x5": ("dil", 5),
    "nor_conv_1x1": ("conv", 1),
    "nor_conv_3x3": ("conv", 3),
}


def cell_structure(space: str, steps: int = darts_space.STEPS):
    """Returns `(num_inputs, nodes, edges, groups)` of a search cell.

    `edges` are `(node, input)` pairs in the space's edge order (the alpha row order);
    `groups` are `(sources, targets)` tuples in computation order.
    """
    if space == "darts":
        num_inputs = darts_space.NUM_INPUTS
        edges = darts_space.supernet_edges(steps)
    else:
        num_inputs = 1
        edges = nb201_space.EDGES
    nodes = tuple(sorted({n for n, _ in edges}))
    groups = [(tuple(range(num_inputs)), nodes)]
    for source in nodes[:-1]:
        groups.append(((source,), tuple(n for n in nodes if n > source)))
    return num_inputs, nodes, edges, tuple(groups)


class SearchCell(keras.layers.Layer):
    """A search cell with all candidate ops on every edge, edges batched by source.

    References:
        - Liu et al., DARTS, arXiv 1806.09055.
        - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

    Args:
        space: `"darts"` or `"nb201"`.
        channels: Channels `C` of the cell's nodes.
        op_names: Candidate ops (the alpha columns), from the space's `OPS`.
        mixing: `"softmax"`, `"gumbel"` or `"rome"`.
        reduction: DARTS: edges from the cell inputs have stride 2.
        reduction_prev: DARTS: the previous cell was a reduction (preprocess0 is then a
            FactorizedReduce).
        prev_prev_channels: DARTS: channels of input 0 (before preprocessing).
        prev_channels: DARTS: channels of input 1 (before preprocessing).
        partial_channels: PC-DARTS `K` (1 = off).
        aux_skip: DARTS- auxiliary skip on every edge.
        steps: DARTS intermediate nodes.
        seed: Initializer seed.
        binarized: BNAS (arXiv 1911.10862): every convolution of the cell uses 1-bit weights,
            XNOR-Net's `mean|W| * sign(W)` per output channel of each edge's op with a
            straight-through gradient (`tfnas.ops.binary.binarize_kernel`), as the released
            BNAS code; activations stay float. Softmax mixing only.

    Call arguments:
        inputs: DARTS: `(s0, s1)`; NB201: the cell input.
        arch: Dict of architecture tensors prepared by the supernet: softmax mixing:
            `weights` `[E, O]` (edge normalization already folded in), `edge_weights` `[E]`
            (PC bypass), `beta` (aux skip); gumbel: `hard` `[E, O]`, `index` `[E]`;
            gumbel with the reference term: `unsampled` `[E]` (`sum_{j != k} h_j`, 0 forward);
            rome: also `keep` `[E]` (0/1 forward value, straight-through gradient) and
            `branch` `[E]` (0 = edge dropped, else op index + 1).

    Example:
    >>> cell = SearchCell("nb201", 4, nb201_space.OPS)
    >>> w = keras.ops.ones((6, 5)) / 5
    >>> tuple(cell(keras.ops.ones((2, 8, 8, 4)), {"weights": w}).shape)
    (2, 8, 8, 4)
    """

    def __init__(
        self,
        space: str,
        channels: int,
        op_names: Sequence[str],
        mixing: str = "softmax",
        reduction: bool = False,
        reduction_prev: bool = False,
        prev_prev_channels: int | None = None,
        prev_channels: int | None = None,
        partial_channels: int = 1,
        aux_skip: bool = False,
        steps: int = darts_space.STEPS,
        seed: int = 0,
        binarized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if space not in ("darts", "nb201"):
            raise ValueError(f"space must be 'darts' or 'nb201'. Received: space={space!r}")
        if not isinstance(channels, int) or channels < 1 or channels % partial_channels:
            raise ValueError(
                f"channels must be a positive multiple of partial_channels. Received: "
                f"channels={channels!r}, partial_channels={partial_channels!r}"
            )
        unknown = [op for op in op_names if op not in OP_KINDS]
        if unknown:
            raise ValueError(f"Unknown ops {unknown}. Received: op_names={tuple(op_names)}")
        self.space = space
        self.channels = channels
        self.op_names = tuple(op_names)
        self.mixing = mixing
        self.reduction = bool(reduction)
        self.reduction_prev = bool(reduction_prev)
        self.prev_prev_channels = prev_prev_channels
        self.prev_channels = prev_channels
        self.partial_channels = partial_channels
        self.aux_skip = bool(aux_skip)
        self.steps = steps
        self.seed = seed
        if binarized and mixing != "softmax":
            raise ValueError(f"binarized cells need softmax mixing (BNAS). Received: mixing={mixing!r}")
        self.binarized = bool(binarized)
        self._out_axes: dict[str, tuple[int, ...]] = {}
        self.op_channels = channels // partial_channels
        self.num_inputs, self.nodes, self.edges, self.groups = cell_structure(space, steps)
        self.edge_index = {edge: i for i, edge in enumerate(self.edges)}
        self._vars: dict[str, Any] = {}
        self._seed_counter = 0
        self.alive_ops: np.ndarray | None = None

    def restrict_ops(self, alive: np.ndarray | None) -> None:
        """Builds, at the next trace, only the ops `alive[e, o]` keeps on some edge of a group;
        an op with weights kept on at most half of a group's edges runs on those edges alone
        (`runs_per_edge`).

        Args:
            alive: `[E, O]` bool (the ops whose mixing weight can be non-zero), or None for all.
                The caller guarantees that a left-out op's weight is exactly 0 on every edge
                (BNAS's abandoned ops); softmax mixing only. Takes effect when the calling
                function is traced again.
        """
        if alive is not None:
            alive = np.asarray(alive, dtype=bool)
            if alive.shape != (len(self.edges), len(self.op_names)) or self.mixing != "softmax":
                raise ValueError(f"restrict_ops needs softmax mixing and a [{len(self.edges)}, {len(self.op_names)}] "
                                 f"mask. Received: shape {alive.shape}, mixing={self.mixing!r}")
        self.alive_ops = alive

    # ------------------------------------------------------------------ weights
    def _weight(self, name: str, shape: tuple[int, ...], fan_in: int, out_axes: tuple[int, ...]):
        """A kernel; `out_axes` are the axes of one output channel of one edge's op (what
        keeps its own scale when the cell is binarized)."""
        self._out_axes[name] = out_axes
        self._seed_counter += 1
        var = self.add_weight(
            name=name,
            shape=shape,
            initializer=kernels.uniform_initializer(fan_in, self.seed * 7919 + self._seed_counter),
            trainable=True,
        )
        self._vars[name] = var
        return var

    def _kernel(self, name: str):
        """The kernel the forward pass uses: the variable, or its 1-bit version (`binarized`)."""
        var = self._vars[name]
        if not self.binarized:
            return var
        from tfnas.ops.binary import binarize_kernel

        return binarize_kernel(var, self._out_axes[name])

    def group_stride(self, group: int) -> int:
        return 2 if self.reduction and group == 0 else 1

    def build(self, input_shape=None) -> None:
        c, cp = self.channels, self.op_channels
        if self.space == "darts":
            if self.reduction_prev:
                self._weight("pre0_fr_a", (self.prev_prev_channels, c // 2), self.prev_prev_channels, (1,))
                self._weight("pre0_fr_b", (self.prev_prev_channels, c // 2), self.prev_prev_channels, (1,))
            else:
                self._weight("pre0_conv", (self.prev_prev_channels, c), self.prev_prev_channels, (1,))
            self._weight("pre1_conv", (self.prev_channels, c), self.prev_channels, (1,))
        for g, (sources, targets) in enumerate(self.groups):
            s, t = len(sources), len(targets)
            e = s * t
            stride = self.group_stride(g)
            for op in self.op_names:
                kind, k = OP_KINDS[op]
                if kind == "sep":
                    self._weight(f"g{g}_{op}_dw1", (k, k, s * cp, t), k * k, (2, 3))
                    self._weight(f"g{g}_{op}_pw1", (e, cp, cp), cp, (0, 2))
                    self._weight(f"g{g}_{op}_dw2", (k, k, e * cp, 1), k * k, (2, 3))
                    self._weight(f"g{g}_{op}_pw2", (e, cp, cp), cp, (0, 2))
                elif kind == "dil":
                    self._weight(f"g{g}_{op}_dw", (k, k, s * cp, t), k * k, (2, 3))
                    self._weight(f"g{g}_{op}_pw", (e, cp, cp), cp, (0, 2))
                elif kind == "conv":
                    self._weight(f"g{g}_{op}_w", (s, k, k, cp, t * cp), k * k * cp, (0, 4))
                elif kind == "skip" and stride == 2:
                    self._weight(f"g{g}_{op}_fa", (s, cp, t * (cp // 2)), cp, (0, 2))
                    self._weight(f"g{g}_{op}_fb", (s, cp, t * (cp // 2)), cp, (0, 2))
            if self.aux_skip and stride == 2:
                self._weight(f"g{g}_aux_fa", (s, c, t * (c // 2)), c, (0, 2))
                self._weight(f"g{g}_aux_fb", (s, c, t * (c // 2)), c, (0, 2))
        self.built = True

    # ------------------------------------------------------------------ call
    def call(self, inputs, arch: dict[str, Any]):
        if self.space == "darts":
            s0, s1 = inputs
            states = {0: self._preprocess0(s0), 1: self._preprocess1(s1)}
        else:
            states = {0: inputs}
        partial = {n: [] for n in self.nodes}
        bypass = {n: [] for n in self.nodes}
        done = set(states)
        for g, (sources, targets) in enumerate(self.groups):
            for source in sources:
                if source not in done:
                    states[source] = self._finish_node(partial[source], bypass[source])
                    done.add(source)
            xs = [states[src] for src in sources]
            if self.mixing == "softmax":
                contributions = self._group_softmax(g, sources, targets, xs, arch)
                # unstack, not T slices: a slice's gradient is a full-size zero tensor each.
                for node, part in zip(targets, ops.unstack(contributions, axis=3)):
                    partial[node].append(part)
                if self.partial_channels > 1:
                    self._add_bypass(g, sources, targets, xs, arch, bypass)
            else:
                contributions = self._group_sampled(g, sources, targets, xs, arch)
                for node, part in zip(targets, ops.unstack(contributions, axis=3)):
                    partial[node].append(part)
        for node in self.nodes:
            if node not in done:
                states[node] = self._finish_node(partial[node], bypass[node])
        if self.space == "darts":
            return ops.concatenate([states[n] for n in self.nodes], axis=-1)
        return states[self.nodes[-1]]

    def _preprocess0(self, x):
        x = ops.relu(x)
        if self.reduction_prev:
            even, odd = kernels.diagonal_phases(x)
            a = kernels.source_matmul(even, self._kernel("pre0_fr_a"))
            b = kernels.source_matmul(odd, self._kernel("pre0_fr_b"))
            return kernels.batch_norm(ops.concatenate([a, b], axis=-1))
        return kernels.batch_norm(kernels.source_matmul(x, self._kernel("pre0_conv")))

    def _preprocess1(self, x):
        return kernels.batch_norm(kernels.source_matmul(ops.relu(x), self._kernel("pre1_conv")))

    def _finish_node(self, parts, bypass_parts):
        node = parts[0]
        for part in parts[1:]:
            node = node + part
        if self.partial_channels == 1:
            return node
        rest = bypass_parts[0]
        for part in bypass_parts[1:]:
            rest = rest + part
        return kernels.channel_shuffle(ops.concatenate([node, rest], axis=-1), self.partial_channels)

    def _group_edges(self, sources, targets):
        return [self.edge_index[(t, s)] for s in sources for t in targets]

    def _add_bypass(self, g, sources, targets, xs, arch, bypass):
        """PC-DARTS: the channels past C/K skip the ops (max-pooled 2x2 on stride 2)."""
        edge_weights = arch.get("edge_weights")
        for src, x in zip(sources, xs):
            rest = x[..., self.op_channels :]
            if self.group_stride(g) == 2:
                rest = ops.max_pool(rest, 2, 2, padding="valid")
            for node in targets:
                if edge_weights is None:
                    bypass[node].append(rest)
                else:
                    bypass[node].append(rest * edge_weights[self.edge_index[(node, src)]])

    def _group_softmax(self, g, sources, targets, xs, arch):
        """All edges of one group, every op, mixed: returns `[B, H', W', T, C/K]`."""
        s_count, t_count = len(sources), len(targets)
        e_count = s_count * t_count
        cp = self.op_channels
        stride = self.group_stride(g)
        rows = self._group_edges(sources, targets)
        weights = ops.take(arch["weights"], rows, axis=0)  # [E, O], edge (s, t)
        if self.partial_channels > 1:
            xs = [x[..., :cp] for x in xs]
        x = xs[0] if s_count == 1 else ops.concatenate(xs, axis=-1)
        relu = ops.relu(x)
        edge_terms = []  # per-edge layout [B, H', W', S*T*C], already weighted
        source_terms = []  # (per-source tensor [B, H', W', S*C], weights [E])
        columns = ops.unstack(weights, axis=1)  # one op, where `weights[:, o]` makes one per op
        # Ops left out of the graph (`restrict_ops`): abandoned on every edge of the group, their
        # mixing weight is exactly 0 there, so the output is the same without them. An op with
        # weights kept on at most half of the group's edges runs on those edges alone
        # (`_single_op`, `runs_per_edge`), each added to its target (`edge_extras`).
        alive_edges = None if self.alive_ops is None else self.alive_ops[rows]
        edge_extras: dict[int, list] = {}
        for o, op in enumerate(self.op_names):
            kind, k = OP_KINDS[op]
            w = columns[o]
            if kind == "none" or (alive_edges is not None and not alive_edges[:, o].any()):
                continue
            if alive_edges is not None and runs_per_edge(kind, stride, alive_edges[:, o]):
                for e in np.flatnonzero(alive_edges[:, o]):
                    si, ti = divmod(int(e), t_count)
                    edge_extras.setdefault(ti, []).append(self._single_op(g, op, si, ti, xs[si]) * w[e])
                continue
            if kind == "pool":
                y = kernels.pool(x, k, stride)
                source_terms.append((kernels.batch_norm(y) if self.space == "darts" else y, w))
            elif kind == "skip":
                if stride == 1:
                    source_terms.append((x, w))
                else:
                    y = self._factorized(relu, f"g{g}_{op}", s_count, t_count, cp)
                    edge_terms.append(kernels.batch_norm(y, scale=_per_channel(w, cp)))
            elif kind == "sep":
                y = kernels.depthwise(relu, self._kernel(f"g{g}_{op}_dw1"), stride=stride)
                y = kernels.edge_matmul(y, self._kernel(f"g{g}_{op}_pw1"), sources=s_count,
                                        targets=t_count, channels=cp, multiplier_layout=True)
                y = ops.relu(kernels.batch_norm(y))
                y = kernels.depthwise(y, self._kernel(f"g{g}_{op}_dw2"))
                y = kernels.edge_matmul(y, self._kernel(f"g{g}_{op}_pw2"), sources=e_count,
                                        targets=1, channels=cp, multiplier_layout=False)
                edge_terms.append(kernels.batch_norm(y, scale=_per_channel(w, cp)))
            elif kind == "dil":
                y = kernels.depthwise(relu, self._kernel(f"g{g}_{op}_dw"), stride=stride, dilation=2)
                y = kernels.edge_matmul(y, self._kernel(f"g{g}_{op}_pw"), sources=s_count,
                                        targets=t_count, channels=cp, multiplier_layout=True)
                edge_terms.append(kernels.batch_norm(y, scale=_per_channel(w, cp)))
            elif kind == "conv":
                parts = []
                conv_kernels = self._kernel(f"g{g}_{op}_w")
                for si in range(s_count):
                    r = relu if s_count == 1 else relu[..., si * cp : (si + 1) * cp]
                    parts.append(_conv(r, conv_kernels[si], stride))
                y = parts[0] if s_count == 1 else ops.concatenate(parts, axis=-1)
                edge_terms.append(kernels.batch_norm(y, scale=_per_channel(w, cp)))
        if self.aux_skip:
            beta = ops.ones((e_count,), dtype=weights.dtype) * arch["beta"]
            if stride == 1:
                source_terms.append((x, beta))
            else:
                y = self._factorized(relu, f"g{g}_aux", s_count, t_count, cp)
                edge_terms.append(kernels.batch_norm(y, scale=_per_channel(beta, cp)))
        parts = []
        if edge_terms:  # per edge, then summed over each target's sources
            total = _add_all(edge_terms)
            dims = kernels.leading_dims(total)
            if s_count == 1:
                parts.append(ops.reshape(total, (*dims, t_count, cp)))
            else:
                parts.append(ops.sum(ops.reshape(total, (*dims, s_count, t_count, cp)), axis=3))
        if source_terms:
            parts.append(_mix_sources(source_terms, s_count, t_count, cp))
        if edge_extras:
            zeros = ops.zeros_like(next(iter(edge_extras.values()))[0])
            parts.append(ops.stack([_add_all(edge_extras[t]) if t in edge_extras else zeros
                                    for t in range(t_count)], axis=3))
        if not parts:  # only `none`: zeros of the output shape
            shape = ops.shape(x[:, ::stride, ::stride, :cp])
            return ops.zeros((shape[0], shape[1], shape[2], t_count, cp), dtype=x.dtype)
        return _add_all(parts)

    def _factorized(self, relu, prefix, s_count, t_count, channels):
        """Per-edge FactorizedReduce (before BN) of every edge of the group: `[.., E*C]`."""
        parts = []
        fa, fb = self._kernel(f"{prefix}_fa"), self._kernel(f"{prefix}_fb")
        for si in range(s_count):
            r = relu if s_count == 1 else relu[..., si * channels : (si + 1) * channels]
            even, odd = kernels.diagonal_phases(r)
            a = kernels.source_matmul(even, fa[si])
            b = kernels.source_matmul(odd, fb[si])
            parts.append(kernels.interleave_halves(a, b, t_count))
        return parts[0] if s_count == 1 else ops.concatenate(parts, axis=-1)

    # ------------------------------------------------------------------ sampled mixing
    def _group_sampled(self, g, sources, targets, xs, arch):
        """GDAS / ROME: the group's edges sorted by sampled op, each op run once on its edges.

        Returns `[B, H', W', T, C]`, each target's sum over its sources of
        `h[e] * op_{index[e]}(x_s)` with `h` the straight-through weight (times ROME's `keep`);
        dropped ROME edges contribute zeros. With `arch["unsampled"]` (GDAS's reference term,
        `SupernetConfig.unsampled_term`) each edge also adds its unsampled ops' weights.
        """
        s_count, t_count = len(sources), len(targets)
        cp = self.op_channels
        num_ops = len(self.op_names)
        rows = self._group_edges(sources, targets)
        index = tf.cast(tf.gather(arch["index"], rows), tf.int32)
        hard = kernels.gather_rows(arch["hard"], rows)
        # each edge's weight of its sampled op (a one-hot product: the batched gather's
        # gradient is about 56 ops)
        scale = tf.reduce_sum(hard * tf.one_hot(index, num_ops, dtype=hard.dtype), axis=1)
        code = index
        if self.mixing == "rome":
            scale = scale * kernels.gather_rows(arch["keep"], rows)
            code = tf.where(tf.gather(arch["branch"], rows) > 0, index, num_ops)
        order = tf.argsort(code, stable=True)
        inverse = tf.math.invert_permutation(order)
        counts = tf.math.bincount(code, minlength=num_ops + 1, maxlength=num_ops + 1)
        x = xs[0] if s_count == 1 else ops.concatenate(xs, axis=-1)
        edge_inputs = kernels.gather_edges(x, order // t_count, inverse, sources=s_count,
                                           targets=t_count, channels=cp)
        pieces = tf.split(edge_inputs, counts * cp, axis=-1, num=num_ops + 1)
        selections = tf.split(order, counts, num=num_ops + 1)
        # each edge's weight repeated over its channels, split like the inputs: one repeat for
        # the group, not one per op
        per_channel = _per_channel(kernels.gather_rows(scale, order), cp)
        scales = tf.split(per_channel, counts * cp, num=num_ops + 1)
        outputs = []
        for o in range(num_ops + 1):
            op = self.op_names[o] if o < num_ops else "none"
            outputs.append(self._block_op(g, op, pieces[o], selections[o], scales[o]))
        y = tf.concat(outputs, axis=-1)
        y = kernels.scatter_edges(y, order, inverse, sources=s_count, targets=t_count, channels=cp)
        if "unsampled" in arch:  # GDAS's reference term: each target gets its edges' sum
            extra = tf.reduce_sum(tf.reshape(tf.gather(arch["unsampled"], rows), [s_count, t_count]), axis=0)
            y = y + tf.cast(extra, y.dtype)[:, None]
        return y

    def _edge_table(self, name, layout, s_count, t_count):
        """A batched variable rearranged to one row per edge `(s, t)` of the group."""
        var = self._vars[name]
        cp = self.op_channels
        if layout == "multiplier":  # depthwise [k, k, S*C, T] -> [E, k, k, C]
            k = int(var.shape[0])
            t = tf.reshape(var, [k, k, s_count, cp, t_count])
            return tf.reshape(tf.transpose(t, [2, 4, 0, 1, 3]), [s_count * t_count, k, k, cp])
        if layout == "edge_depthwise":  # [k, k, E*C, 1] -> [E, k, k, C]
            k = int(var.shape[0])
            t = tf.reshape(var, [k, k, s_count * t_count, cp])
            return tf.transpose(t, [2, 0, 1, 3])
        if layout == "conv":  # [S, k, k, C, T*C] -> [E, k, k, C, C]
            k = int(var.shape[1])
            t = tf.reshape(var, [s_count, k, k, cp, t_count, cp])
            return tf.reshape(tf.transpose(t, [0, 4, 1, 2, 3, 5]), [-1, k, k, cp, cp])
        if layout == "factorized":  # [S, C, T*h] -> [E, C, h]
            half = int(var.shape[-1]) // t_count
            t = tf.reshape(var, [s_count, cp, t_count, half])
            return tf.reshape(tf.transpose(t, [0, 2, 1, 3]), [-1, cp, half])
        # pointwise [E, C, D]: read as a tensor, so `kernels.gather_rows`'s custom gradient
        # differentiates a tensor, not a variable read inside it
        return tf.reshape(var, var.shape)

    def _block_op(self, g, op, x, sel, per_channel):
        """One op on the edges `sel` of group `g`, inputs side by side `[B, H, W, n*C]`, outputs
        scaled by `per_channel` (`[n*C]`: each edge's weight repeated over its channels)."""
        kind, k = OP_KINDS[op]
        sources, targets = self.groups[g]
        s_count, t_count = len(sources), len(targets)
        stride = self.group_stride(g)
        cp = self.op_channels

        def table(suffix, layout, rows):
            """The op's per-edge weights of the edges `rows`: `[len(rows), ...]`."""
            return kernels.gather_rows(
                self._edge_table(f"g{g}_{op}_{suffix}", layout, s_count, t_count), rows)

        if kind == "none":  # zeros of the strided size (no strided copy of x to take the shape of)
            spatial = kernels.strided_size(x, stride)
            if stride == 1 or spatial is None:
                return tf.zeros_like(x[:, ::stride, ::stride, :])
            return tf.zeros(tf.stack([kernels.batch_size(x), *spatial, tf.shape(x)[-1]]), x.dtype)
        if kind == "pool":
            y = kernels.block_pool(x, k, stride, channels=cp)
            if self.space == "darts":
                return kernels.batch_norm(y, scale=per_channel)
            return y * per_channel
        if kind == "skip":
            if stride == 1:
                return x * per_channel
            r = tf.nn.relu(x)
            even, odd = kernels.diagonal_phases(r)
            a = kernels.block_matmul(even, table("fa", "factorized", sel))
            b = kernels.block_matmul(odd, table("fb", "factorized", sel))
            half = cp // 2  # per edge: its `a` half, then its `b` half
            rows = tf.concat([tf.reshape(a, [-1, half]), tf.reshape(b, [-1, half])], axis=-1)
            y = tf.reshape(rows, kernels.image_shape(a, 2 * tf.shape(a)[-1]))
            return kernels.batch_norm(y, scale=per_channel)
        # sep / dil / conv: an unsampled op's empty block is read as a zero batch of one edge
        # (`kernels.as_edges`) with a stand-in row of weights whose gradient is dropped
        r, rows, size, batch = kernels.as_edges(tf.nn.relu(x), cp, sel)

        if kind == "sep":
            y = kernels.block_depthwise(r, table("dw1", "multiplier", rows), stride=stride)
            y = tf.nn.relu(kernels.batch_norm(kernels.block_matmul(y, table("pw1", "pointwise", rows), padded=True)))
            y = kernels.block_depthwise(y, table("dw2", "edge_depthwise", rows))
            y = kernels.block_matmul(y, table("pw2", "pointwise", rows), padded=True)
        elif kind == "dil":
            y = kernels.block_depthwise(r, table("dw", "multiplier", rows), stride=stride, dilation=2)
            y = kernels.block_matmul(y, table("pw", "pointwise", rows), padded=True)
        elif k == 1:  # conv 1x1
            y = kernels.block_matmul(r[:, ::stride, ::stride, :] if stride > 1 else r,
                                     table("w", "conv", rows)[:, 0, 0], padded=True)
        else:
            y = kernels.block_conv(r, table("w", "conv", rows), stride=stride)
        y = kernels.first_channels(y, size, batch, kernels.strided_size(x, stride))
        return kernels.batch_norm(y, scale=per_channel)

    def _single_op(self, g, op, si, ti, x):
        """One op of one edge `(source si, target ti)` of group `g`, weights sliced.

        The plain per-edge reading of the batched variables (binarized when the cell is): the
        independent reference the tests check the batched paths against, and the softmax path's
        form for an op kept on few edges of a group (`restrict_ops`, `runs_per_edge`).
        """
        kind, k = OP_KINDS[op]
        sources, targets = self.groups[g]
        t_count = len(targets)
        e = si * t_count + ti
        cp = self.op_channels
        stride = self.group_stride(g)
        if kind == "none":
            return ops.zeros_like(x[:, ::stride, ::stride, :])
        if kind == "pool":
            y = kernels.pool(x, k, stride)
            return kernels.batch_norm(y) if self.space == "darts" else y
        if kind == "skip":
            if stride == 1:
                return x
            r = ops.relu(x)
            half = cp // 2
            a = kernels.source_matmul(
                r[:, ::2, ::2, :], self._kernel(f"g{g}_{op}_fa")[si][:, ti * half : (ti + 1) * half])
            b = kernels.source_matmul(
                r[:, 1::2, 1::2, :], self._kernel(f"g{g}_{op}_fb")[si][:, ti * half : (ti + 1) * half])
            return kernels.batch_norm(ops.concatenate([a, b], axis=-1))
        r = ops.relu(x)
        if kind == "sep":
            dw1 = self._kernel(f"g{g}_{op}_dw1")[:, :, si * cp : (si + 1) * cp, ti : ti + 1]
            y = kernels.depthwise(r, dw1, stride=stride)
            y = kernels.source_matmul(y, self._kernel(f"g{g}_{op}_pw1")[e])
            y = ops.relu(kernels.batch_norm(y))
            dw2 = self._kernel(f"g{g}_{op}_dw2")[:, :, e * cp : (e + 1) * cp, :]
            y = kernels.depthwise(y, dw2)
            y = kernels.source_matmul(y, self._kernel(f"g{g}_{op}_pw2")[e])
            return kernels.batch_norm(y)
        if kind == "dil":
            dw = self._kernel(f"g{g}_{op}_dw")[:, :, si * cp : (si + 1) * cp, ti : ti + 1]
            y = kernels.depthwise(r, dw, stride=stride, dilation=2)
            y = kernels.source_matmul(y, self._kernel(f"g{g}_{op}_pw")[e])
            return kernels.batch_norm(y)
        kernel = self._kernel(f"g{g}_{op}_w")[si][..., ti * cp : (ti + 1) * cp]
        return kernels.batch_norm(_conv(r, kernel, stride))

    def edge_op_slice(self, edge: int, op: str) -> tuple[Any, tuple[Any, ...]]:
        """Where the weights of convolution op `op` of edge row `edge` live: `(variable, index)`,
        `variable[index]` being the `[k, k, C, C]` kernel `_single_op` computes that edge with.

        For measurements on one operator (e.g. the gradient similarity of
        `tfnas.ranking.interference`): take the gradient of the whole batched variable and
        index it. Only the plain convolutions (NB201's `nor_conv_*`) have a single weight.

        Raises:
            ValueError: for an op that is not a plain convolution of this cell, or an unknown edge.
        """
        if op not in self.op_names or OP_KINDS[op][0] != "conv":
            raise ValueError(f"edge_op_slice covers the plain convolutions of the cell "
                             f"({[o for o in self.op_names if OP_KINDS[o][0] == 'conv']}). Received: {op!r}")
        if not 0 <= edge < len(self.edges):
            raise ValueError(f"edge must be in [0, {len(self.edges)}). Received: {edge}")
        target, source = self.edges[edge]
        for g, (sources, targets) in enumerate(self.groups):
            if source in sources and target in targets:
                si, ti, cp = sources.index(source), targets.index(target), self.op_channels
                return self._vars[f"g{g}_{op}_w"], (si, Ellipsis, slice(ti * cp, (ti + 1) * cp))
        raise ValueError(f"Edge {edge} ({source} -> {target}) is in no group of the cell.")  # pragma: no cover

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "space": self.space, "channels": self.channels, "op_names": list(self.op_names),
            "mixing": self.mixing, "reduction": self.reduction,
            "reduction_prev": self.reduction_prev,
            "prev_prev_channels": self.prev_prev_channels, "prev_channels": self.prev_channels,
            "partial_channels": self.partial_channels, "aux_skip": self.aux_skip,
            "steps": self.steps, "seed": self.seed,
        })
        return config


def _conv(x, kernel, stride: int):
    k = int(kernel.shape[0])
    if stride == 1 or k == 1:
        return ops.conv(x, kernel, strides=stride, padding="same" if k > 1 else "valid")
    pad = (k - 1) // 2
    x = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return ops.conv(x, kernel, strides=stride, padding="valid")


def runs_per_edge(kind: str, stride: int, kept: np.ndarray) -> bool:
    """Whether an op of a restricted group (`SearchCell.restrict_ops`) runs edge by edge on the
    edges that keep it (`kept`, `[E]` bool) instead of batched over all of the group's edges.

    Only ops with weights of their own per edge (the convolutions, the strided skip) compute
    per edge; pooling and identity run once per source anyway. Edge by edge pays one chain of
    small ops per kept edge where the batched form pays one chain for the group: measured
    (`launch.bench search_step --algorithm=bnas --bnas_rounds=N`, WORKSPACE), edge by edge
    for every partly kept op made the DARTS space's step slower at 5 of 7 ops left, so it
    runs only where it at least halves the op's work: kept on at most half of the edges.

    >>> runs_per_edge("sep", 1, np.array([True, False, False])), runs_per_edge("pool", 1, np.array([True, False]))
    (True, False)
    >>> runs_per_edge("conv", 1, np.array([True, True, False])), runs_per_edge("skip", 2, np.array([True, False]))
    (False, True)
    """
    per_edge_weights = kind in ("sep", "dil", "conv") or (kind == "skip" and stride == 2)
    count = int(np.sum(kept))
    return per_edge_weights and 0 < count and 2 * count <= len(kept)


def _concat(tensors):
    return tensors[0] if len(tensors) == 1 else ops.concatenate(tensors, axis=-1)


def _per_channel(edge_weights, channels: int):
    """`[E]` edge weights -> `[E * C]` per-channel BN scale in per-edge layout."""
    return kernels.repeat_each(edge_weights, channels)


def _mix_sources(terms, s_count: int, t_count: int, channels: int):
    """The parameter-free ops' share of each target, `[B, H, W, T, C]`: for terms `(y_k, w_k)`,
    `y_k` a per-source tensor `[B, H, W, S*C]` and `w_k` its edge weights `[S*T]`,
    `sum_k sum_s w_k[s, t] * y_k[:, :, :, s]`.

    One batched matmul of the stacked sources `[P, K*S, C]` by the weights `[T, K*S]` (shared
    by every pixel): its gradients are one matmul each plus a sum over pixels of `[P, T, K*S]`.
    Spreading each source to its edges and summing there (`y * w` broadcast over targets)
    did the same in reductions over a `[P, S, T, C]` product per op and its gradient (the
    `Sum` ops were the largest kernel share of a DARTS step in a oneDNN profile); this form
    took the DARTS step from 3.40 s to 3.08 s on the AVX-512 Xeon (WORKSPACE.md).
    """
    dims = kernels.leading_dims(terms[0][0])
    stacked = terms[0][0] if len(terms) == 1 else ops.concatenate([y for y, _ in terms], axis=-1)
    stacked = ops.reshape(stacked, (-1, len(terms) * s_count, channels))
    weights = ops.concatenate([ops.reshape(w, (s_count, t_count)) for _, w in terms], axis=0)
    mixed = ops.matmul(ops.transpose(weights)[None], stacked)  # [P, T, C]
    return ops.reshape(mixed, (*dims, t_count, channels))


def _add_all(tensors):
    total = tensors[0]
    for t in tensors[1:]:
        total = total + t
    return total
