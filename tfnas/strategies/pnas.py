"""PNAS: progressive search with a surrogate, on the NAS-Bench-201 cell.

Liu et al., Progressive Neural Architecture Search, arXiv 1712.00559. PNAS grows cells in
order of complexity (1 block, then 2, ..., B), keeps a beam of the K most promising cells of
each size, and ranks the expansions of the beam with a surrogate (an ensemble of predictors,
LSTM or MLP over the cell encoding) retrained on every cell evaluated so far; only the top K
expansions are trained. Paper settings: K=256, B=5 blocks, each child trained 20 epochs, an
ensemble of 5 predictors each fitted on 4/5 of the data.

On NAS-Bench-201 (fixed topology, one op per edge) a cell of size b has its first b edges, in
the canonical order `1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`, assigned; the unassigned edges hold
`default_op` so that every partial cell is a complete network the evaluator can score. The
surrogate sees the partial encoding (per edge: one of the 5 ops or "unassigned"), as PNAS's
predictors see a cell of b blocks, and must generalise from size b to size b + 1. Size 1 is
enumerated (5 cells); each later size evaluates the K expansions the surrogate ranks highest,
so a run costs at most 5 + 5 K evaluations. With `beam_size=None` K is set from the
evaluation budget (`(budget - 5) // 5`, at least 1) so the run ends at the full cell.
The returned cell is the best scored of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.spaces import nb201 as nb201_space
from tfnas.strategies.base import STRATEGIES, SearchTrace, Strategy, space_edge_ops

_UNASSIGNED = len(nb201_space.OPS)  # The token of an unassigned edge.


def encode(partials: Sequence[Sequence[str]], op_counts: bool = False) -> np.ndarray:
    """Encoding of partial cells: per edge a one-hot of 5 ops + "unassigned" (`[n, 36]`), and
    with `op_counts` the count of each op over the assigned edges after it (`[n, 41]`).

    The counts are shared across positions, as the LSTM predictor's token embedding is: they
    let the MLP carry what it learnt about an op on the assigned edges to the edge a step
    assigns next, which a purely positional one-hot cannot (its feature for that edge is
    always "unassigned" in the training data).
    """
    edges = len(nb201_space.EDGES)
    tokens = np.full((len(partials), edges), _UNASSIGNED, dtype=np.int64)
    for row, partial in enumerate(partials):
        for edge, op in enumerate(partial):
            tokens[row, edge] = nb201_space.OPS.index(op)
    onehot = np.zeros((len(partials), edges, _UNASSIGNED + 1), dtype=np.float32)
    np.put_along_axis(onehot, tokens[..., None], 1.0, axis=-1)
    flat = onehot.reshape(len(partials), -1)
    if not op_counts:
        return flat
    return np.concatenate([flat, onehot[:, :, :_UNASSIGNED].sum(axis=1)], axis=1)


def complete(partial: Sequence[str], default_op: str,
             edge_ops: Sequence[Sequence[str]] | None = None) -> NB201Genotype:
    """The cell a partial stands for: its edges, then `default_op` on the unassigned ones (in a
    restricted space, on an edge that does not allow it, that edge's first allowed op)."""
    rows = space_edge_ops(edge_ops)
    rest = [default_op if default_op in rows[e] else rows[e][0] for e in range(len(partial), len(rows))]
    return NB201Genotype(tuple(partial) + tuple(rest))


class _Ensemble:
    """An ensemble of regressors on standardised targets, each fitted on all folds but one
    (PNAS's ensemble); the prediction is the members' mean. Subclasses fit and apply one member.
    """

    def __init__(self, members: int = 5, hidden: int = 100, seed: int = 0) -> None:
        self.members = members
        self.hidden = hidden
        self.seed = seed
        self._models: list[Any] = []
        self._mean = 0.0
        self._std = 1.0

    def _fit_member(self, x: np.ndarray, target: np.ndarray, seed: int) -> Any:
        raise NotImplementedError

    def _predict_member(self, model: Any, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Ensemble:
        y = np.asarray(y, dtype=np.float64)
        self._mean, self._std = float(y.mean()), float(y.std()) or 1.0
        target = (y - self._mean) / self._std
        folds = np.arange(len(y)) % self.members
        self._models = []
        for member in range(self.members):
            keep = folds != member if len(y) >= 2 * self.members else np.ones(len(y), dtype=bool)
            self._models.append(self._fit_member(x[keep], target[keep], self.seed + member))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if not self._models:
            raise ValueError("The surrogate must be fitted before it predicts.")
        mean = np.mean([self._predict_member(m, x) for m in self._models], axis=0)
        return mean * self._std + self._mean


class MLPEnsemble(_Ensemble):
    """An ensemble of scikit-learn `MLPRegressor`s (two hidden layers of `hidden` units, Adam, ReLU)."""

    def __init__(self, members: int = 5, hidden: int = 100, max_iter: int = 500, seed: int = 0) -> None:
        super().__init__(members, hidden, seed)
        self.max_iter = max_iter

    def _fit_member(self, x: np.ndarray, target: np.ndarray, seed: int) -> Any:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        model = MLPRegressor(hidden_layer_sizes=(self.hidden, self.hidden), max_iter=self.max_iter,
                             random_state=seed, learning_rate_init=1e-3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, target)
        return model

    def _predict_member(self, model: Any, x: np.ndarray) -> np.ndarray:
        return model.predict(x)


class LSTMEnsemble(_Ensemble):
    """An ensemble of LSTM regressors over the edge-token sequence (PNAS's LSTM predictor).

    Each member embeds the 6 tokens (5 ops + "unassigned"), runs an LSTM and regresses the
    standardised score from its last state with a linear head, trained with Adam. Keras, so
    the first fit imports TensorFlow.
    """

    def __init__(self, members: int = 5, hidden: int = 100, epochs: int = 50, seed: int = 0) -> None:
        super().__init__(members, hidden, seed)
        self.epochs = epochs

    @staticmethod
    def _tokens(x: np.ndarray) -> np.ndarray:
        edges = len(nb201_space.EDGES)
        return x[:, : edges * (_UNASSIGNED + 1)].reshape(len(x), edges, _UNASSIGNED + 1).argmax(-1)

    def _fit_member(self, x: np.ndarray, target: np.ndarray, seed: int) -> Any:
        import keras

        keras.utils.set_random_seed(seed)
        model = keras.Sequential([
            keras.layers.Input((len(nb201_space.EDGES),), dtype="int32"),
            keras.layers.Embedding(_UNASSIGNED + 1, self.hidden),
            keras.layers.LSTM(self.hidden),
            keras.layers.Dense(1),
        ])
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        model.fit(self._tokens(x), target.astype(np.float32), epochs=self.epochs, batch_size=32, verbose=0)
        return model

    def _predict_member(self, model: Any, x: np.ndarray) -> np.ndarray:
        return model.predict(self._tokens(x), verbose=0)[:, 0]


SURROGATES = {"mlp": MLPEnsemble, "lstm": LSTMEnsemble}


@STRATEGIES.register("pnas")
class ProgressiveSearch(Strategy):
    """PNAS on NAS-Bench-201 (see the module docstring).

    References:
        - Liu et al., Progressive Neural Architecture Search, arXiv 1712.00559.

    Args:
        beam_size: K, cells evaluated per size (paper 256; None: from the evaluation budget).
        surrogate: `"mlp"` or `"lstm"` (the paper's two predictors).
        ensemble: Predictors in the ensemble (paper 5).
        default_op: The op of the unassigned edges of a partial cell.
        op_counts: Add the per-op counts to the MLP's encoding (see `encode`; not in the paper).

    Raises:
        ValueError: for an unknown surrogate or op, or a beam size below 1.
    """

    name = "pnas"

    def __init__(self, beam_size: int | None = None, surrogate: str = "mlp", ensemble: int = 5,
                 default_op: str = "skip_connect", op_counts: bool = False) -> None:
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {sorted(SURROGATES)}. Received: surrogate={surrogate!r}")
        if default_op not in nb201_space.OPS:
            raise ValueError(f"default_op must be one of {nb201_space.OPS}. Received: default_op={default_op!r}")
        if beam_size is not None and beam_size < 1:
            raise ValueError(f"beam_size must be >= 1 or None. Received: beam_size={beam_size}")
        if ensemble < 1:
            raise ValueError(f"ensemble must be >= 1. Received: ensemble={ensemble}")
        self.beam_size = beam_size
        self.surrogate = surrogate
        self.ensemble = ensemble
        self.default_op = default_op
        self.op_counts = op_counts

    def _beam(self, trace: SearchTrace) -> int:
        if self.beam_size is not None:
            return self.beam_size
        evaluations = trace.budget.evaluations
        if evaluations is None:
            return 10
        return max(1, (evaluations - len(nb201_space.OPS)) // (len(nb201_space.EDGES) - 1))

    def run(self, trace: SearchTrace, rng: np.random.Generator) -> None:
        beam_size = self._beam(trace)
        partials: list[tuple[str, ...]] = []
        scores: list[float] = []

        def evaluate(partial: tuple[str, ...]) -> None:
            score = trace.evaluate(complete(partial, self.default_op, trace.edge_ops))
            partials.append(partial)
            scores.append(score)

        rows = trace.edge_ops
        beam = [(op,) for op in rows[0]]
        for partial in beam:
            evaluate(partial)
        for size in range(2, len(nb201_space.EDGES) + 1):
            model = SURROGATES[self.surrogate](members=self.ensemble, seed=int(rng.integers(2**31)))
            model.fit(encode(partials, self.op_counts), np.asarray(scores))
            expansions = [p + (op,) for p in beam for op in rows[size - 1]]
            predicted = model.predict(encode(expansions, self.op_counts))
            # Ties (identical predictions) broken at random, not by list order.
            order = np.lexsort((rng.random(len(expansions)), -predicted))
            beam = [expansions[i] for i in order[:beam_size]]
            for partial in beam:
                evaluate(partial)
