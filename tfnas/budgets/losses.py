"""Hardware budgets inside the search loss: cost tables, expected cost, penalties, hard budgets.

A search space is a list of *decisions* (a mobile layer slot, an NB201 edge), each picking
one of its *choices* (a candidate block, an op). A `CostTable` gives the cost of every
choice of every decision plus a fixed `base` (stem, head, classifier, reduction blocks),
so that the cost of one architecture is exactly `base + sum_d cost[d][choice_d]`: MAdds
and parameters decompose this way exactly (each decision's layers cost the same whatever
the others pick, because the skeleton fixes every slot's input and output shape), latency
approximately (a per-block lookup table, as ProxylessNAS and FBNet use).

From an architecture distribution (per decision, probabilities over its choices)
`expected_cost` is the differentiable `base + sum_d sum_i p_{d,i} cost_{d,i}`; the two
published ways to put it in the loss are `proxyless_loss` (additive, ProxylessNAS) and
`fbnet_loss` (multiplicative, FBNet); `budget_hinge` penalises only the excess over a
budget. `meet_budget` turns the learned distribution into an architecture that provably
meets a hard budget (it only stops once the exact table cost is within it), and the exact
MAdds of the built child (`tfnas.budgets.counters.count_madds`) equal the table cost for
MAdds tables (tested).

`mobile_cost_table` builds the MAdds / parameter table of a mobile block space (any
object with `stem`, `stages`, `head` and `candidates(stage, slot)`: a
`tfnas.spaces.mobile.MobileSpace` or a learned space); `nb201_cost_table` that of the
NAS-Bench-201 space; `nb201_latency_table` fits an additive per-edge-op latency model to
the NAS-Bench-201 per-device latency table (least squares over all 15,625 cells).

References:
    - Cai et al., ProxylessNAS, arXiv 1812.00332 (expected latency sum_e sum_o p_o F(o)).
    - Wu et al., FBNet, arXiv 1812.03443 (loss CE * alpha * log(LAT)^beta).
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

Example:
>>> table = CostTable("madds", base=10.0, choices=((1.0, 5.0), (0.0, 2.0)))
>>> table.cost((1, 0))
15.0
>>> meet_budget([[0.2, 0.8], [0.3, 0.7]], table, budget=14.0)
(0, 1)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from keras import ops

METRICS: tuple[str, ...] = ("madds", "params", "latency_ms")


@dataclasses.dataclass(frozen=True)
class CostTable:
    """The cost of every choice of every decision of a search space, plus a fixed base.

    Args:
        metric: What the numbers are: `"madds"`, `"params"` or `"latency_ms"`.
        base: Cost of everything the decisions do not change.
        choices: Per decision, the cost of each of its choices (in the order of the
            supernet's architecture logits).
        labels: Optional per-decision choice labels (e.g. block strings), for reports.

    Raises:
        ValueError: for an unknown metric, an empty decision or a negative / non-finite cost.
    """

    metric: str
    base: float
    choices: tuple[tuple[float, ...], ...]
    labels: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}. Received: metric={self.metric!r}")
        choices = tuple(tuple(float(c) for c in row) for row in self.choices)
        if not choices or any(not row for row in choices):
            raise ValueError("A CostTable needs at least one decision and one choice per decision.")
        values = [self.base] + [c for row in choices for c in row]
        if any(not math.isfinite(v) for v in values):
            raise ValueError(f"CostTable costs must be finite. Received: base={self.base}, choices={choices}")
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "base", float(self.base))
        if self.labels is not None:
            labels = tuple(tuple(str(x) for x in row) for row in self.labels)
            if [len(r) for r in labels] != [len(r) for r in choices]:
                raise ValueError("CostTable labels must have the shape of choices.")
            object.__setattr__(self, "labels", labels)

    @property
    def num_decisions(self) -> int:
        return len(self.choices)

    def cost(self, indices: Sequence[int]) -> float:
        """Returns the exact table cost of the architecture picking `indices[d]` at decision d.

        Raises:
            ValueError: for a wrong number of indices or an index out of range.
        """
        indices = [int(i) for i in indices]
        if len(indices) != self.num_decisions:
            raise ValueError(f"Expected {self.num_decisions} choice indices. Received: {len(indices)}")
        total = self.base
        for d, (i, row) in enumerate(zip(indices, self.choices)):
            if not 0 <= i < len(row):
                raise ValueError(f"Choice index {i} out of range for decision {d} ({len(row)} choices).")
            total += row[i]
        return total

    def min_cost(self) -> float:
        """The cheapest architecture's cost."""
        return self.base + sum(min(row) for row in self.choices)

    def max_cost(self) -> float:
        """The most expensive architecture's cost."""
        return self.base + sum(max(row) for row in self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "base": self.base, "choices": [list(r) for r in self.choices],
                "labels": None if self.labels is None else [list(r) for r in self.labels]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostTable:
        return cls(data["metric"], data["base"], tuple(tuple(r) for r in data["choices"]),
                   None if data.get("labels") is None else tuple(tuple(r) for r in data["labels"]))


def expected_cost(probabilities: Sequence[Any], table: CostTable):
    """Differentiable expected cost `base + sum_d sum_i p[d][i] * cost[d][i]`.

    References:
        Cai et al., ProxylessNAS, arXiv 1812.00332, Eq. (4) (expected latency).

    Args:
        probabilities: Per decision a tensor of choice probabilities (softmax of the
            architecture logits), or one `[decisions, choices]` tensor.
        table: The cost table (same decision and choice order).

    Returns:
        A scalar tensor.

    Raises:
        ValueError: if the number of decisions or choices differs from the table's.
    """
    rows = [probabilities[d] for d in range(len(probabilities))]
    if len(rows) != table.num_decisions:
        raise ValueError(f"Expected probabilities for {table.num_decisions} decisions. Received: {len(rows)}")
    total = None
    for d, (p, costs) in enumerate(zip(rows, table.choices)):
        if int(p.shape[-1]) != len(costs):
            raise ValueError(f"Decision {d} has {len(costs)} choices in the table, {int(p.shape[-1])} probabilities.")
        term = ops.sum(p * ops.convert_to_tensor(np.asarray(costs, "float32"), dtype=p.dtype))
        total = term if total is None else total + term
    return total + table.base


def proxyless_loss(cross_entropy, expected, reference: float, weight: float = 0.1):
    """ProxylessNAS's additive regulariser: `CE + weight * (E[cost] - reference) / reference`.

    The released ProxylessNAS code's `add#linear` form of `CE + lambda_2 * E[LAT]`
    (the paper's Eq. 4-5), normalised by a reference cost so `weight` is unit free.

    References:
        Cai et al., ProxylessNAS, arXiv 1812.00332.

    Raises:
        ValueError: if `reference <= 0` or `weight < 0`.
    """
    if not reference > 0 or weight < 0:
        raise ValueError(f"Needs reference > 0 and weight >= 0. Received: reference={reference}, weight={weight}")
    return cross_entropy + weight * (expected - reference) / reference


def fbnet_loss(cross_entropy, expected, alpha: float = 0.2, beta: float = 0.6):
    """FBNet's multiplicative form: `CE * alpha * log(E[LAT]) ** beta`.

    FBNet used latency in milliseconds with alpha 0.2, beta 0.6; `log(E[LAT])` must be
    positive (a cost above 1 in its unit): it is clipped at 1e-6 below.

    References:
        Wu et al., FBNet, arXiv 1812.03443, Eq. (2).

    Raises:
        ValueError: if `alpha <= 0` or `beta <= 0`.
    """
    if not alpha > 0 or not beta > 0:
        raise ValueError(f"Needs alpha > 0 and beta > 0. Received: alpha={alpha}, beta={beta}")
    return cross_entropy * alpha * ops.power(ops.maximum(ops.log(expected), 1e-6), beta)


def budget_hinge(expected, budget: float):
    """`max(0, E[cost] / budget - 1)`: zero inside the budget, linear outside.

    Raises:
        ValueError: if `budget <= 0`.
    """
    if not budget > 0:
        raise ValueError(f"budget must be > 0. Received: budget={budget}")
    return ops.relu(expected / budget - 1.0)


def meet_budget(probabilities: Sequence[Sequence[float]], table: CostTable, budget: float) -> tuple[int, ...]:
    """The most likely architecture under a hard budget (greedy, provably within it).

    Starts from the argmax of every decision; while the table cost exceeds `budget`, makes
    the single change (one decision to a cheaper choice) that loses the least
    log-probability per unit of cost saved. Every change strictly lowers the cost, so the
    loop ends, and it ends only once `table.cost(result) <= budget`.

    Args:
        probabilities: Per decision, the probabilities of its choices (NumPy-able).
        table: The cost table.
        budget: The hard budget, in the table's unit.

    Returns:
        The chosen index of every decision.

    Raises:
        ValueError: if even the cheapest architecture exceeds `budget` (the message gives
            its cost), or the shapes do not match the table.
    """
    probs = [np.asarray(p, dtype=np.float64).reshape(-1) for p in probabilities]
    if len(probs) != table.num_decisions or any(len(p) != len(c) for p, c in zip(probs, table.choices)):
        raise ValueError("probabilities must have the table's decisions and choices.")
    if table.min_cost() > budget:
        raise ValueError(
            f"The budget {budget:.6g} {table.metric} is below the cheapest architecture of the space "
            f"({table.min_cost():.6g}); raise the budget or shrink the skeleton."
        )
    logp = [np.log(np.maximum(p, 1e-30)) for p in probs]
    choice = [int(np.argmax(p)) for p in probs]
    cost = table.cost(choice)
    while cost > budget:
        best = None
        for d, row in enumerate(table.choices):
            here = row[choice[d]]
            for i, c in enumerate(row):
                saved = here - c
                if saved <= 0:
                    continue
                score = (logp[d][choice[d]] - logp[d][i]) / saved
                if best is None or score < best[0]:
                    best = (score, d, i)
        _, d, i = best  # exists: cost > budget >= min_cost, so some decision can get cheaper
        choice[d] = i
        cost = table.cost(choice)
    return tuple(choice)


# ------------------------------------------------------------------------------ mobile tables
def _same(size: int, stride: int) -> int:
    return -(-size // stride)


def block_cost(block, in_channels: int, size: int, se_base: str = "in") -> tuple[int, int]:
    """MAdds and trainable parameters of one single block (`BlockSpec`) at input side `size`.

    The counting convention of `tfnas.budgets.counters` (convolutions and dense layers,
    BN folded; parameters include BN gamma and beta and the SE biases).

    Raises:
        ValueError: for a block type without a formula (`cn` is priced too).
    """
    from tfnas.ops.mbconv import se_width

    if block.is_zero:
        return 0, 0
    k, cout, stride = block.kernel, block.out_channels, block.stride or 1
    out = _same(size, stride)
    if block.block_type == "cn":
        return out * out * cout * k * k * in_channels, k * k * in_channels * cout + 2 * cout
    if block.block_type == "ir":
        mid = int(round(in_channels * float(block.expansion)))
        madds = size * size * in_channels * mid
        params = in_channels * mid + 2 * mid
    elif block.block_type == "ds":
        mid = in_channels
        madds, params = 0, 0
    else:
        raise ValueError(f"No cost formula for block type {block.block_type!r}.")
    madds += out * out * mid * k * k
    params += k * k * mid + 2 * mid
    if block.se_ratio:
        s = se_width(in_channels, mid, block.se_ratio, se_base)
        madds += 2 * mid * s
        params += 2 * mid * s + s + mid
    madds += out * out * mid * cout
    params += mid * cout + 2 * cout
    return madds, params


def mobile_cost_table(
    space: Any,
    metric: str = "madds",
    *,
    input_size: int = 224,
    num_classes: int = 1000,
    se_base: str = "in",
) -> CostTable:
    """The MAdds or parameter table of a mobile block space (one decision per layer slot).

    Base: the 3x3 stride-2 stem, the head 1x1 conv and the classifier of
    `tfnas.children.mobile_net.build_mobile_network`. Choices: `space.candidates(stage,
    slot)` in order, each priced by `block_cost` at its slot's resolution.

    Args:
        space: A `MobileSpace` or any object with `stem`, `stages`, `head` and
            `candidates(stage, slot)`.
        metric: `"madds"` or `"params"`.
        input_size: Image side.
        num_classes: Classifier width.
        se_base: The genotype's SE base (`"in"` or `"mid"`).

    Returns:
        The `CostTable`; `table.cost(indices)` equals `count_madds` / trainable
        `count_params` of the built child exactly.

    Raises:
        ValueError: for another metric.
    """
    if metric not in ("madds", "params"):
        raise ValueError(f"mobile_cost_table prices 'madds' or 'params'. Received: metric={metric!r}")
    j = 0 if metric == "madds" else 1
    size = _same(input_size, 2)
    base_madds = size * size * 3 * 9 * space.stem
    base_params = 27 * space.stem + 2 * space.stem
    channels = space.stem
    rows, labels = [], []
    for s, stage in enumerate(space.stages):
        for slot in range(stage.depth):
            candidates = space.candidates(s, slot)
            rows.append(tuple(block_cost(b, channels, size, se_base)[j] for b in candidates))
            labels.append(tuple(b.to_string() for b in candidates))
            if slot == 0:
                size = _same(size, stage.stride)
                channels = stage.width
    features = channels
    if space.head:
        base_madds += size * size * channels * space.head
        base_params += channels * space.head + 2 * space.head
        features = space.head
    base_madds += features * num_classes
    base_params += features * num_classes + num_classes
    return CostTable(metric, base_madds if j == 0 else base_params, tuple(rows), tuple(labels))


# ------------------------------------------------------------------------------ NB201 tables
def nb201_cost_table(
    metric: str = "madds",
    *,
    channels: int = 16,
    cells_per_stage: int = 5,
    input_size: int = 32,
    num_classes: int = 10,
) -> CostTable:
    """The MAdds or parameter table of the NAS-Bench-201 network (one decision per edge).

    The cell is shared by all `3 * cells_per_stage` cells, so an edge's op cost is summed
    over them: `nor_conv_kxk` (ReLU-conv-BN) costs `H*W*C*C*k*k` MAdds and `C*C*k*k + 2C`
    parameters at each stage's width and side; `none`, `skip_connect` and `avg_pool_3x3`
    cost 0. Base: the stem, the two residual reduction blocks, the last BN and the
    classifier of `tfnas.children.nb201_net`.

    Raises:
        ValueError: for another metric.
    """
    from tfnas.spaces import nb201 as nb201_space

    if metric not in ("madds", "params"):
        raise ValueError(f"nb201_cost_table prices 'madds' or 'params'. Received: metric={metric!r}")
    madds = metric == "madds"
    c, size = channels, input_size
    base = size * size * 27 * c if madds else 27 * c + 2 * c
    per_op = {op: 0.0 for op in nb201_space.OPS}
    for stage in range(3):
        if stage > 0:
            out = _same(size, 2)
            c2 = 2 * c
            if madds:
                base += out * out * (9 * c * c2 + 9 * c2 * c2 + c * c2)
            else:
                base += 9 * c * c2 + 2 * c2 + 9 * c2 * c2 + 2 * c2 + c * c2
            c, size = c2, out
        for k, op in ((1, "nor_conv_1x1"), (3, "nor_conv_3x3")):
            per_op[op] += cells_per_stage * (size * size * c * c * k * k if madds else c * c * k * k + 2 * c)
    base += c * num_classes if madds else 2 * c + c * num_classes + num_classes
    row = tuple(per_op[op] for op in nb201_space.OPS)
    return CostTable(metric, base, (row,) * len(nb201_space.EDGES), (nb201_space.OPS,) * len(nb201_space.EDGES))


def motif_cost_table(edge_table: CostTable, cells: Sequence[Any]) -> CostTable:
    """The cost table of a choice among whole NB201 cells (one decision: a motif supernet's).

    Each cell's cost is its exact cost in `edge_table` (one decision per edge, e.g.
    `nb201_cost_table`) minus the base, which stays the base.

    Args:
        edge_table: A per-edge NB201 table (6 decisions, choices in `nb201_space.OPS` order).
        cells: The motifs (`NB201Genotype`s), in the supernet's order.

    Raises:
        ValueError: for a table that is not per edge, or no cell.
    """
    from tfnas.spaces import nb201 as nb201_space

    if edge_table.num_decisions != len(nb201_space.EDGES) or any(len(r) != len(nb201_space.OPS)
                                                                   for r in edge_table.choices):
        raise ValueError("motif_cost_table needs a per-edge NB201 table (6 decisions of the 5 ops).")
    if not cells:
        raise ValueError("motif_cost_table needs at least one cell.")
    row = tuple(edge_table.cost([nb201_space.OPS.index(op) for op in cell.ops]) - edge_table.base for cell in cells)
    return CostTable(edge_table.metric, edge_table.base, (row,), ((tuple(c.to_string() for c in cells)),))


def nb201_latency_table(device: str, *, data_dir: str | None = None) -> tuple[CostTable, float]:
    """An additive per-edge-op latency model fitted to NAS-Bench-201's measured latencies.

    Least squares over all 15,625 cells of `latency ~ base + sum_e c[e, op_e]` on `device`
    (`tfnas.benchmarks.NB201LatencyTable`), with `c[e, none] = 0` fixing the offset; costs
    are clipped at 0 (the clip's effect is in the returned R^2).

    Args:
        device: A device column (`pixel3`, `raspi4`, `1080ti_1`, ...).
        data_dir: The shared data folder; default `$TFNAS_DATA_DIR`.

    Returns:
        `(table, r2)`: the `latency_ms` table and the fit's coefficient of determination.

    Raises:
        ValueError: for an unknown device (listing them), FileNotFoundError without the data.
    """
    from tfnas.benchmarks import NB201LatencyTable
    from tfnas.genotypes.nb201 import all_nb201_genotypes
    from tfnas.spaces import nb201 as nb201_space

    latency = NB201LatencyTable(data_dir=data_dir)
    y = np.asarray(latency.latencies(device), dtype=np.float64)
    num_ops = len(nb201_space.OPS)
    cells = all_nb201_genotypes()
    design = np.zeros((len(cells), 1 + len(nb201_space.EDGES) * (num_ops - 1)))
    design[:, 0] = 1.0
    for r, cell in enumerate(cells):
        for e, op in enumerate(cell.ops):
            j = nb201_space.OPS.index(op)
            if j:
                design[r, 1 + e * (num_ops - 1) + j - 1] = 1.0
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    rows = []
    for e in range(len(nb201_space.EDGES)):
        rows.append((0.0,) + tuple(max(0.0, float(c)) for c in coef[1 + e * (num_ops - 1): 1 + (e + 1) * (num_ops - 1)]))
    table = CostTable("latency_ms", float(coef[0]), tuple(rows), (nb201_space.OPS,) * len(nb201_space.EDGES))
    pred = np.array([table.cost([nb201_space.OPS.index(op) for op in cell.ops]) for cell in cells])
    r2 = 1.0 - float(np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2))
    return table, r2


# ------------------------------------------------------------------------------ the search term
FORMS: tuple[str, ...] = ("proxyless", "fbnet", "hinge")


@dataclasses.dataclass(frozen=True)
class BudgetLoss:
    """How a cost table enters the architecture loss of a search.

    Forms (`E` = `expected_cost(probabilities, table)`):
    - `"proxyless"`: `CE + weight * (E - target) / target` (`proxyless_loss`);
    - `"fbnet"`: `CE * alpha * log(E) ** beta` (`fbnet_loss`; latency in ms);
    - `"hinge"`: `CE + weight * max(0, E / target - 1)` (`budget_hinge`): free inside the
      budget, so the search is only pushed once the expected cost exceeds it.

    References:
        Cai et al., ProxylessNAS, arXiv 1812.00332; Wu et al., FBNet, arXiv 1812.03443.

    Args:
        table: The `CostTable` (its decisions in the supernet's `arch_probabilities()` order).
        form: One of `FORMS`.
        target: Reference / budget cost (`proxyless`, `hinge`), in the table's unit.
        weight: Penalty weight (`proxyless`, `hinge`).
        alpha: FBNet alpha.
        beta: FBNet beta.

    Raises:
        ValueError: for an unknown form or a non-positive target where one is needed.

    Example:
    >>> loss = BudgetLoss(CostTable("madds", 0.0, ((1.0, 3.0),)), "hinge", target=2.0)
    >>> loss.multiplicative
    False
    """

    table: CostTable
    form: str = "hinge"
    target: float | None = None
    weight: float = 1.0
    alpha: float = 0.2
    beta: float = 0.6

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}. Received: form={self.form!r}")
        if self.form != "fbnet" and not (self.target is not None and self.target > 0):
            raise ValueError(f"form={self.form!r} needs a target > 0. Received: target={self.target!r}")
        if self.weight < 0:
            raise ValueError(f"weight must be >= 0. Received: weight={self.weight}")

    @property
    def multiplicative(self) -> bool:
        """True when the term multiplies the cross-entropy (FBNet) instead of adding to it."""
        return self.form == "fbnet"

    def term(self, probabilities: Sequence[Any]):
        """The additive penalty, or the multiplicative factor (FBNet), of a distribution."""
        expected = expected_cost(probabilities, self.table)
        if self.form == "fbnet":
            return fbnet_loss(1.0, expected, self.alpha, self.beta)
        if self.form == "proxyless":
            return proxyless_loss(0.0, expected, self.target, self.weight)
        return self.weight * budget_hinge(expected, self.target)

    def __call__(self, cross_entropy, probabilities: Sequence[Any]):
        """The architecture loss: `CE + term` or `CE * term`."""
        term = self.term(probabilities)
        return cross_entropy * term if self.multiplicative else cross_entropy + term
