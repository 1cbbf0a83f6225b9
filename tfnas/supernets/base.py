"""`Supernet`: the shared part of the search supernets (architecture variables, sampling,
schedule state, export); `build_supernet(config)` builds the one a config names.

References:
    - Liu et al., DARTS, arXiv 1806.09055 (derivation rule).
    - Xu et al., PC-DARTS, arXiv 1907.05737 (edge normalization).
    - Chu et al., DARTS-, arXiv 2009.01027 (auxiliary skip, beta).
    - Dong & Yang, GDAS, arXiv 1910.04465 (hard Gumbel-softmax).
    - Wang et al., ROME, arXiv 2011.11233 (Gumbel top-2 topology sampling).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from tfnas.supernets.config import SupernetConfig

_TINY = 1e-10


def _softmax_np(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


class Supernet(keras.Model):
    """Base class of the search supernets (subclasses: `DartsSupernet`, `NB201Supernet`).

    Architecture variables (trainable, `arch_variables`): per cell kind an alpha matrix
    `[edges, ops]` (initialised `1e-3 * N(0, 1)`), PC-DARTS edge logits `[edges]` with
    edge normalization, ROME topology logits `[edges]`. Everything else trainable is in
    `weight_variables`. Schedule state is in non-trainable variables: `temperature`
    (Gumbel tau, default 1) and `aux_skip_beta` (DARTS- beta, default 1). Sampling uses
    `seed_generator` (a `keras.random.SeedGenerator`, checkpointed with the model), so every
    call draws a fresh sample; sampling happens in inference calls too.

    Subclasses set `cell_kinds`, `edges` (`(node, input)` pairs), `op_names` and build their
    layers, then call `_make_arch_variables()`.

    References:
        - Liu et al., DARTS, arXiv 1806.09055.
        - Dong & Yang, GDAS, arXiv 1910.04465; Wang et al., ROME, arXiv 2011.11233.

    Args:
        config: The `SupernetConfig`.

    Raises:
        ValueError: if `config` is not a `SupernetConfig`.
    """

    cell_kinds: tuple[str, ...] = ()

    def __init__(self, config: SupernetConfig, **kwargs: Any) -> None:
        if isinstance(config, dict):
            config = SupernetConfig.from_dict(config)
        if not isinstance(config, SupernetConfig):
            raise ValueError(
                f"config must be a SupernetConfig. Received: config={type(config).__name__}"
            )
        super().__init__(**kwargs)
        self.config = config
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self._removed_ops: tuple[str, np.ndarray] | None = None  # set by `ops_removed`

    # ------------------------------------------------------------------ variables
    def _make_arch_variables(self) -> None:
        num_edges, num_ops = len(self.edges), len(self.op_names)
        self._alphas: dict[str, Any] = {}
        self._edge_logits: dict[str, Any] = {}
        for i, kind in enumerate(self.cell_kinds):
            self._alphas[kind] = self.add_weight(
                name=f"{kind}_alpha",
                shape=(num_edges, num_ops),
                initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=self.config.seed + i),
                trainable=True,
            )
            if self.config.edge_normalization or self.config.mixing == "rome":
                name = "topology" if self.config.mixing == "rome" else "edge_beta"
                self._edge_logits[kind] = self.add_weight(
                    name=f"{kind}_{name}",
                    shape=(num_edges,),
                    initializer=keras.initializers.RandomNormal(
                        stddev=1e-3, seed=self.config.seed + 100 + i),
                    trainable=True,
                )
        self.temperature = self.add_weight(
            name="temperature", shape=(), initializer=keras.initializers.Constant(1.0),
            trainable=False,
        )
        self.aux_skip_beta = self.add_weight(
            name="aux_skip_beta", shape=(), initializer=keras.initializers.Constant(1.0),
            trainable=False,
        )
        # Node -> rows of its incoming edges (for per-node softmax / top-2).
        nodes = sorted({n for n, _ in self.edges})
        self._node_rows = [[i for i, (n, _) in enumerate(self.edges) if n == node] for node in nodes]

    @property
    def arch_variables(self) -> list:
        """Trainable architecture variables: alphas, edge logits (PC-DARTS / ROME)."""
        return list(self._alphas.values()) + list(self._edge_logits.values())

    @property
    def op_logit_variables(self) -> list:
        """The op logits alpha of each cell kind, `[E, O]` each (no edge logits)."""
        return list(self._alphas.values())

    @property
    def weight_variables(self) -> list:
        """Every trainable variable that is not an architecture variable."""
        arch = {id(v) for v in self.arch_variables}
        return [v for v in self.trainable_variables if id(v) not in arch]

    # ------------------------------------------------------------------ architecture tensors
    def _node_softmax(self, logits):
        parts = [ops.softmax(ops.take(logits, rows, axis=0)) for rows in self._node_rows]
        return ops.concatenate(parts, axis=0)

    def _gumbel(self, shape):
        u = keras.random.uniform(shape, minval=_TINY, maxval=1.0, seed=self.seed_generator)
        return -ops.log(-ops.log(u))

    def _op_logits(self, kind: str):
        """The op logits of a cell kind's edges `[E, O]` (subclasses may mask ops out)."""
        return self._alphas[kind]

    def arch_inputs(self, kind: str) -> dict[str, Any]:
        """The architecture tensors a cell of `kind` consumes (see `SearchCell`).

        Draws a fresh sample in `gumbel` and `rome` mixing.
        """
        alpha = self._op_logits(kind)
        mixing = self.config.mixing
        keep = self._removal_keep(kind, alpha.dtype)
        if keep is not None and mixing != "softmax":
            alpha = alpha + (keep - 1.0) * 1e9
        if mixing == "softmax":
            weights = ops.softmax(alpha, axis=-1)
            if keep is not None:
                weights = weights * keep
            arch: dict[str, Any] = {}
            if self.config.edge_normalization:
                edge = self._node_softmax(self._edge_logits[kind])
                weights = weights * edge[:, None]
                arch["edge_weights"] = edge
            arch["weights"] = weights
            if self.config.aux_skip:
                arch["beta"] = ops.cast(self.aux_skip_beta, weights.dtype)
            return arch
        tau = ops.cast(self.temperature, alpha.dtype)
        logits = (ops.log_softmax(alpha, axis=-1) + self._gumbel(ops.shape(alpha))) / tau
        probs = ops.softmax(logits, axis=-1)
        index = ops.argmax(probs, axis=-1)
        one_hot = ops.one_hot(index, len(self.op_names), dtype=probs.dtype)
        arch = {"hard": one_hot - ops.stop_gradient(probs) + probs, "index": index}
        if getattr(self.config, "unsampled_term", False):
            # sum_{j != k} h_j per edge: each term (0 - p_j) + p_j is exactly 0 forward
            arch["unsampled"] = ops.sum(arch["hard"] * (1.0 - one_hot), axis=-1)
        if mixing == "rome":
            topo = self._edge_logits[kind]
            noise = self._gumbel(ops.shape(topo))
            keep_parts, rows_all = [], []
            for rows in self._node_rows:
                node_logits = (ops.log_softmax(ops.take(topo, rows, axis=0)) +
                               ops.take(noise, rows, axis=0)) / tau
                node_probs = ops.softmax(node_logits)
                k = min(2, len(rows))
                _, top = ops.top_k(node_logits, k)
                hard = ops.sum(ops.one_hot(top, len(rows), dtype=node_probs.dtype), axis=0)
                keep_parts.append(hard - ops.stop_gradient(node_probs) + node_probs)
                rows_all.extend(rows)
            keep = ops.concatenate(keep_parts, axis=0)
            order = np.argsort(np.asarray(rows_all))
            keep = ops.take(keep, order, axis=0)
            kept = ops.cast(ops.greater(ops.stop_gradient(keep), 0.5), "int32")
            arch["keep"] = keep
            arch["branch"] = kept * (ops.cast(index, "int32") + 1)
        return arch

    def child_arch(self, kind: str, one_hot) -> dict[str, Any]:
        """Softmax mixing: the architecture tensors of the child that runs op `one_hot[e]` on
        every edge `e` (`[E, O]`, one 1 per row), with the supernet's own edge weights (edge
        normalization) and auxiliary skip; no gradient reaches the op logits. Pass
        `{kind: child_arch(kind, ...)}` as the supernet's `arch`.

        Raises:
            ValueError: for a supernet with sampled mixing.
        """
        if self.config.mixing != "softmax":
            raise ValueError(f"child_arch needs softmax mixing. Received: mixing={self.config.mixing!r}")
        arch = dict(self.arch_inputs(kind))
        weights = ops.cast(one_hot, arch["weights"].dtype)
        if "edge_weights" in arch:
            weights = weights * arch["edge_weights"][:, None]
        arch["weights"] = weights
        return arch

    def _removal_keep(self, kind: str, dtype):
        """The `[E, O]` 0/1 mask of `ops_removed` for `kind` (0 = removed), or None."""
        if self._removed_ops is None or self._removed_ops[0] != kind:
            return None
        return ops.convert_to_tensor(self._removed_ops[1], dtype=dtype)

    @contextlib.contextmanager
    def ops_removed(self, removed: Sequence[tuple[int, int]], kind: str | None = None) -> Iterator[None]:
        """Temporarily takes ops out of the mixture (the perturbation of arXiv 2108.04392).

        Inside the block, op `o` of edge `e` for every `(e, o)` in `removed` gets mixing
        weight 0 with the edge's other weights left as they are (softmax mixing: removing
        `none` changes nothing), or is never sampled (Gumbel mixing); `arch_probabilities`
        (NB201) gives it probability 0 likewise. The removal is read when the forward pass
        is traced: call the model eagerly, or trace inside the block.

        Args:
            removed: `(edge, op index)` pairs.
            kind: The cell kind (default: the first, e.g. NB201's only `"cell"`).

        Raises:
            ValueError: for an index outside the edges or ops, or an unknown kind.
        """
        kind = self.cell_kinds[0] if kind is None else kind
        if kind not in self._alphas:
            raise ValueError(f"Unknown cell kind {kind!r}; this supernet has {self.cell_kinds}.")
        keep = np.ones((len(self.edges), len(self.op_names)), dtype="float32")
        for e, o in removed:
            if not (0 <= int(e) < keep.shape[0] and 0 <= int(o) < keep.shape[1]):
                raise ValueError(f"(edge, op) = {(e, o)} is outside the {keep.shape[0]} edges x "
                                 f"{keep.shape[1]} ops of kind {kind!r}.")
            keep[int(e), int(o)] = 0.0
        previous = self._removed_ops
        self._removed_ops = (kind, keep)
        try:
            yield
        finally:
            self._removed_ops = previous

    def restrict_ops(self, alive: Sequence[np.ndarray] | None) -> None:
        """Leaves out of the next traced graph the ops whose weight is 0 on every edge of a
        cell's edge group, and runs an op kept on at most half of a group's edges on those
        edges only (`SearchCell.restrict_ops`).

        Args:
            alive: One `[E, O]` bool per cell kind (in `cell_kinds` order), or None for all ops.
        """
        masks = dict(zip(self.cell_kinds, alive)) if alive is not None else {}
        if alive is not None and len(masks) != len(self.cell_kinds):
            raise ValueError(f"restrict_ops needs one mask per cell kind {self.cell_kinds}. Received: {len(alive)}")
        for cell, kind in self.cells_with_kinds():
            cell.restrict_ops(masks.get(kind))

    def cells_with_kinds(self) -> list[tuple[Any, str]]:
        """Every `SearchCell` of the network with its kind (one of `cell_kinds`). This default
        serves a space of one cell kind; a space of several overrides it."""
        from tfnas.supernets.cells import SearchCell

        if len(self.cell_kinds) != 1:
            raise NotImplementedError(f"{type(self).__name__} has cell kinds {self.cell_kinds}: it must say which "
                                      "cell is which (override cells_with_kinds).")
        return [(layer, self.cell_kinds[0]) for layer in self._flatten_layers(include_self=False)
                if isinstance(layer, SearchCell)]

    # ------------------------------------------------------------------ logging and export
    def arch_state(self) -> dict[str, np.ndarray]:
        """Named probability arrays for logging.

        Returns:
            `"{kind}/alpha"`: softmax over ops per edge `[edges, ops]`; with edge
            normalization or ROME, `"{kind}/edge"`: softmax over each node's incoming edges.
        """
        state = {}
        for kind in self.cell_kinds:
            state[f"{kind}/alpha"] = _softmax_np(np.asarray(self._alphas[kind].numpy()), -1)
            if kind in self._edge_logits:
                logits = np.asarray(self._edge_logits[kind].numpy())
                edge = np.zeros_like(logits)
                for rows in self._node_rows:
                    edge[rows] = _softmax_np(logits[rows])
                state[f"{kind}/edge"] = edge
        return state

    def get_config(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Supernet:
        return cls(SupernetConfig.from_dict(config["config"]), name=config.get("name"))
