"""AutoSpace: evolve the search space itself, then search inside the learned space.

A space is a list of *decisions* (NB201: one, the cell; mobile: a layer slot), each with
a *population* of candidates (NB201: cell motifs, whole cells as 4-node DAGs with an op
on each of the 6 edges, the paper's 4x4 op-matrix motifs; mobile: single blocks
`BlockSpec`, kernel x expansion x SE x activation, or `zero`). One generation:

1. per decision, K candidates are drawn from its population by tournament selection
   (`tournament_size` members drawn at random, the fittest wins), each winner being
   replaced, with probability `mutation_rate`, by a mutant (NB201: one edge's op changed,
   the paper's local mutation; mobile: one field of the block changed) and, with
   probability `crossover_rate`, by a recombination of two winners (each edge's op, or
   each block field, from either parent); new candidates join the population, so it grows
   with motifs that were never in it;
2. a supernet holding exactly these K candidates per decision is trained by a bilevel
   search (`tfnas.algorithms.mobile_search.run_search`: NB201 the K motifs in parallel at
   every cell position, `tfnas.supernets.motifs.MotifSupernet`, first-order DARTS;
   mobile single-path GDAS), with the budget (`tfnas.budgets.losses.BudgetLoss`, expected
   MAdds) in the architecture loss;
3. each sampled candidate's fitness is its learned architecture weight relative to
   uniform, `K * softmax(alpha)_i` (the differentiable fitness score: it already carries
   the budget, which shaped alpha), blended into its running fitness
   `f <- (1 - fitness_update) * f + fitness_update * K * p` (first evaluation: `K * p`),
   which ranks every candidate ever evaluated (the global ranking). NB201 also has
   `fitness="perturbation"` (`perturbation_fitness`): the candidate's share of the
   search objective's rise when it is taken out of the trained supernet, `K * d_i /
   sum_j d_j`, on held-out images; see "Fitness" below;
4. after the last generation the learned space keeps the top `keep` candidates per
   decision (NB201: the kept motifs span a sub-space, per edge the ops they use, so every
   engine and strategy searches it; `LearnedNB201Space.spanned_by`).

Reference architecture (the paper leaves open how it is used; our choice): it *seeds* the
populations. Its choice at every decision is in the initial population and is one of the
K candidates of that decision in the first generation, so the evolution starts around a
strong network instead of a random one, and every generation's supernet is the reference
network's skeleton (same widths, strides and depth). NB201's reference is the ResNet cell
of the NAS-Bench-201 paper; the mobile reference is a genotype of the skeleton (default
MobileNetV2-like `ir_k3_e6` everywhere).

Fitness: the perturbation fitness (arXiv 2108.04392 shows that the magnitude of alpha
does not reflect an op's strength) measures what each candidate contributes to the
trained supernet instead: the rise of the validation objective (cross-entropy, plus the
budget term when there is one, so the budget still shapes fitness) when its mixing weight
is set to 0, the others unchanged. Measurements of both at our proxy are in WORKSPACE.md.

The learned spaces are JSON-serializable (`LearnedNB201Space`, and
`tfnas.spaces.mobile.CandidateSpace` for mobile), and any algorithm of the engine
searches in them: an NB201 learned space becomes `SupernetConfig(edge_ops=...)`
(`LearnedNB201Space.supernet_overrides()`), a mobile one is the space of a
`tfnas.supernets.mobile.MobileSupernet`.

References:
    - Zhou et al., AutoSpace: Neural Architecture Search with Less Human Interference,
      arXiv 2103.11833.
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.
    - Real et al., Regularized Evolution, arXiv 1802.01548 (tournament selection).
    - Wang et al., Rethinking Architecture Selection in Differentiable NAS,
      arXiv 2108.04392 (perturbation-based op strength).

Example:
>>> space = LearnedNB201Space((("nor_conv_3x3", "skip_connect"),) * 6)
>>> space.size
64
>>> LearnedNB201Space.from_json(space.to_json()) == space
True
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.spaces import nb201 as nb201_space

if TYPE_CHECKING:
    from tfnas.ranking.scorers import ProxyConfig

#: The reference architecture of the NB201 evolution: the NB201 paper's ResNet cell.
NB201_REFERENCE = nb201_space.RESNET_CELL


# ------------------------------------------------------------------------------ config
@dataclasses.dataclass(frozen=True)
class AutoSpaceConfig:
    """Hyper-parameters of the evolution (see the module docstring).

    Args:
        generations: Number of generations (supernet trainings).
        sample_size: K, candidates per decision in each generation's supernet.
        keep: Candidates per decision kept in the learned space.
        tournament_size: Members drawn per tournament.
        mutation_rate: Probability a tournament winner is replaced by a mutant.
        crossover_rate: Probability a winner is recombined with a second winner.
        fitness_update: Weight of a new evaluation in a candidate's running fitness.
        seed: Seed of the selection, mutation and recombination draws.

    Raises:
        ValueError: naming the field and value.
    """

    generations: int = 3
    sample_size: int = 3
    keep: int = 2
    tournament_size: int = 2
    mutation_rate: float = 0.3
    crossover_rate: float = 0.2
    fitness_update: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("generations", "sample_size", "keep", "tournament_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1. Received: {name}={value!r}")
        for name in ("mutation_rate", "crossover_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]. Received: {name}={getattr(self, name)!r}")
        if not 0.0 < self.fitness_update <= 1.0:
            raise ValueError(f"fitness_update must be in (0, 1]. Received: fitness_update={self.fitness_update!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------ engine
class Population:
    """Per-decision candidate populations with running fitness (the global ranking).

    Args:
        initial: Per decision, its initial candidates (hashable).
        mutate: `mutate(decision, candidate, rng) -> candidate`.
        crossover: `crossover(decision, a, b, rng) -> candidate`, or None.
        reference: The reference architecture's candidate per decision (seeds the
            populations and the first generation), or None.

    Raises:
        ValueError: for an empty decision list or population.
    """

    def __init__(
        self,
        initial: Sequence[Sequence[Hashable]],
        mutate: Callable[[int, Any, random.Random], Any],
        crossover: Callable[[int, Any, Any, random.Random], Any] | None = None,
        reference: Sequence[Hashable] | None = None,
    ) -> None:
        if not initial or any(not list(c) for c in initial):
            raise ValueError("Population needs at least one decision and one candidate per decision.")
        self.members: list[list[Any]] = [list(dict.fromkeys(c)) for c in initial]
        if reference is not None:
            if len(reference) != len(self.members):
                raise ValueError(f"reference needs one candidate per decision ({len(self.members)}).")
            for d, r in enumerate(reference):
                if r not in self.members[d]:
                    self.members[d].insert(0, r)
        self.reference = None if reference is None else list(reference)
        self.mutate = mutate
        self.crossover = crossover
        self.fitness: list[dict[Any, float]] = [{} for _ in self.members]
        self.evaluations: list[dict[Any, int]] = [{} for _ in self.members]

    @property
    def num_decisions(self) -> int:
        return len(self.members)

    def score(self, decision: int, candidate: Any) -> float:
        """Running fitness; 1.0 (as good as uniform) before the first evaluation."""
        return self.fitness[decision].get(candidate, 1.0)

    def _tournament(self, d: int, rng: random.Random, size: int) -> Any:
        pool = [rng.choice(self.members[d]) for _ in range(size)]
        return max(pool, key=lambda c: self.score(d, c))

    def sample(self, k: int, config: AutoSpaceConfig, rng: random.Random, first: bool) -> list[tuple[Any, ...]]:
        """Draws up to `k` distinct candidates per decision (tournament + mutation + crossover)."""
        chosen = []
        for d in range(self.num_decisions):
            picked: list[Any] = []
            if first and self.reference is not None:
                picked.append(self.reference[d])
            tries = 0
            while len(picked) < k and tries < 50 * k:
                tries += 1
                cand = self._tournament(d, rng, config.tournament_size)
                if self.crossover is not None and rng.random() < config.crossover_rate:
                    cand = self.crossover(d, cand, self._tournament(d, rng, config.tournament_size), rng)
                if rng.random() < config.mutation_rate or (cand in picked and tries > 5 * k):
                    cand = self.mutate(d, cand, rng)
                if cand not in picked:
                    picked.append(cand)
                    if cand not in self.members[d]:
                        self.members[d].append(cand)
            chosen.append(tuple(picked))
        return chosen

    def update(self, sampled: Sequence[Sequence[Any]], fitness: Sequence[Sequence[float]], rate: float) -> None:
        """Blends each sampled candidate's new fitness (the `K * p` scale) into its running fitness."""
        for d, (cands, values) in enumerate(zip(sampled, fitness)):
            for cand, value in zip(cands, values):
                new = float(value)
                old = self.fitness[d].get(cand)
                self.fitness[d][cand] = new if old is None else (1.0 - rate) * old + rate * new
                self.evaluations[d][cand] = self.evaluations[d].get(cand, 0) + 1

    def top(self, d: int, keep: int) -> tuple[Any, ...]:
        """The `keep` fittest evaluated candidates of decision `d` (fitness, then first seen)."""
        ranked = sorted(self.fitness[d].items(), key=lambda item: -item[1])
        return tuple(c for c, _ in ranked[:keep])


def _label(candidate: Any) -> str:
    """A candidate's short name (block string for a `BlockSpec`, op name for NB201)."""
    to_string = getattr(candidate, "to_string", None)
    return to_string() if callable(to_string) else str(candidate)


def evolve(
    population: Population,
    train_generation: Callable[[list[tuple[Any, ...]], int], Sequence[Sequence[float]]],
    config: AutoSpaceConfig,
    log: Callable[[str], None] | None = None,
) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """Runs the evolution: sample, train a supernet over the sample, score, repeat.

    Args:
        population: The populations (modified in place).
        train_generation: `(sampled, generation) -> fitness`: trains a supernet over
            `sampled[d]` (candidate tuples per decision) and returns, per decision, the
            fitness of each sampled candidate (same order) on the `K * p` scale (1.0 = as
            good as uniform), e.g. `K * softmax(alpha)`.
        config: The evolution hyper-parameters.
        log: Optional progress printer.

    Returns:
        `(learned, records)`: the top `config.keep` candidates per decision, and one
        record per generation (the sample and its fitness).
    """
    rng = random.Random(config.seed)
    records = []
    for generation in range(config.generations):
        sampled = population.sample(config.sample_size, config, rng, first=generation == 0)
        fitness = [np.asarray(f, dtype=np.float64) for f in train_generation(sampled, generation)]
        population.update(sampled, fitness, config.fitness_update)
        records.append({"generation": generation, "sampled": [[_label(c) for c in s] for s in sampled],
                        "fitness": [f.tolist() for f in fitness]})
        if log:
            log(f"generation {generation + 1}/{config.generations}: "
                + "; ".join(",".join(f"{_label(c)}:{f:.2f}" for c, f in zip(s, fs)) for s, fs in zip(sampled, fitness)))
    return [population.top(d, config.keep) for d in range(population.num_decisions)], records


# ------------------------------------------------------------------------------ NB201
@dataclasses.dataclass(frozen=True)
class LearnedNB201Space:
    """A learned NAS-Bench-201 sub-space: an allowed op subset per edge.

    Its members are every cell picking an allowed op on each edge. It is searched by any
    algorithm of the engine through `SupernetConfig(edge_ops=space.edge_ops)`
    (`supernet_overrides()`), and by the multi-trial strategies (`tfnas.strategies`,
    `Strategy.search(..., edge_ops=space.edge_ops)`). The evolution (`evolve_nb201`) keeps
    whole cells (motifs); the space is spanned by them: per edge, the ops the kept motifs
    use there, so it holds every kept motif and their recombinations.

    Args:
        edge_ops: Per edge (`tfnas.spaces.nb201.EDGES` order), the allowed ops.
        fitness: Optional per-edge `{op: fitness}` (a per-edge evolution's record).
        motifs: Optional `(cell string, fitness)` of the kept motifs that span the space.

    Raises:
        ValueError: for a wrong edge count or an unknown op.
    """

    edge_ops: tuple[tuple[str, ...], ...]
    fitness: tuple[tuple[tuple[str, float], ...], ...] | None = None
    motifs: tuple[tuple[str, float], ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "edge_ops", nb201_space.canonical_edge_ops(self.edge_ops))
        if self.fitness is not None:
            object.__setattr__(self, "fitness", tuple(tuple((str(o), float(f)) for o, f in row) for row in self.fitness))
        if self.motifs is not None:
            motifs = tuple((NB201Genotype.from_string(str(c)).to_string(), float(f)) for c, f in self.motifs)
            object.__setattr__(self, "motifs", motifs)
            for cell, _ in motifs:
                self.validate(NB201Genotype.from_string(cell))

    @classmethod
    def spanned_by(cls, motifs: Sequence[tuple[NB201Genotype, float]]) -> LearnedNB201Space:
        """The space of `(motif, fitness)` pairs: per edge, the ops the motifs use (OPS order).

        Raises:
            ValueError: for no motif.
        """
        if not motifs:
            raise ValueError("A learned space needs at least one motif.")
        edge_ops = tuple(tuple(op for op in nb201_space.OPS if any(m.ops[e] == op for m, _ in motifs))
                         for e in range(len(nb201_space.EDGES)))
        return cls(edge_ops, motifs=tuple((m.to_string(), float(f)) for m, f in motifs))

    space = "nb201"
    format = "tfnas.learned_space.nb201/1"

    @property
    def size(self) -> int:
        return int(np.prod([len(ops) for ops in self.edge_ops]))

    def members(self) -> list[NB201Genotype]:
        """Every cell of the space."""
        return [NB201Genotype(tuple(ops)) for ops in itertools.product(*self.edge_ops)]

    def validate(self, genotype: NB201Genotype) -> None:
        """Raises ValueError naming the edge whose op is outside the learned space."""
        nb201_space.validate(genotype)
        for e, (op, allowed) in enumerate(zip(genotype.ops, self.edge_ops)):
            if op not in allowed:
                raise ValueError(f"Edge {e} has {op!r}; the learned space allows {allowed} there.")

    def supernet_overrides(self) -> dict[str, Any]:
        """`SupernetConfig` fields restricting a supernet to this space."""
        return {"edge_ops": self.edge_ops}

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "space": self.space, "edge_ops": [list(o) for o in self.edge_ops],
                "size": self.size,
                "fitness": None if self.fitness is None else [dict(row) for row in self.fitness],
                "motifs": None if self.motifs is None else [{"cell": c, "fitness": f} for c, f in self.motifs]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LearnedNB201Space:
        """Raises ValueError for another format."""
        if data.get("format") != cls.format:
            raise ValueError(f"Not a learned NB201 space (format {data.get('format')!r}, expected {cls.format!r}).")
        fitness, motifs = data.get("fitness"), data.get("motifs")
        return cls(tuple(tuple(o) for o in data["edge_ops"]),
                   None if fitness is None else tuple(tuple(row.items()) for row in fitness),
                   None if motifs is None else tuple((m["cell"], m["fitness"]) for m in motifs))

    @classmethod
    def from_json(cls, text: str) -> LearnedNB201Space:
        return cls.from_dict(json.loads(text))


def load_learned_space(path: str, flag: str = "--learned_space") -> LearnedNB201Space:
    """The learned NB201 space in `path` (`launch.evolve_space`'s `learned_space.json`).

    Raises:
        FileNotFoundError / ValueError: naming `flag`, the path and what to pass instead.
    """
    import os

    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{flag}={path} does not exist; pass the learned_space.json that launch.evolve_space wrote.")
    try:
        with open(path, encoding="utf-8") as f:
            return LearnedNB201Space.from_json(f.read())
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{flag}={path} is not a learned space ({err!r}); pass launch.evolve_space's learned_space.json.") from None


def _motif_mutate(decision: int, cell: NB201Genotype, rng: random.Random) -> NB201Genotype:
    """Local mutation of a motif: one edge's op changed to another op."""
    ops = list(cell.ops)
    edge = rng.randrange(len(ops))
    ops[edge] = rng.choice([o for o in nb201_space.OPS if o != ops[edge]])
    return NB201Genotype(tuple(ops))


def _motif_crossover(decision: int, a: NB201Genotype, b: NB201Genotype, rng: random.Random) -> NB201Genotype:
    """Recombination of two motifs: each edge's op from either parent."""
    return NB201Genotype(tuple(x if rng.random() < 0.5 else y for x, y in zip(a.ops, b.ops)))


def random_motif(rng: random.Random) -> NB201Genotype:
    """A cell motif drawn uniformly: an op of `nb201_space.OPS` on each of the 6 edges."""
    return NB201Genotype(tuple(rng.choice(nb201_space.OPS) for _ in nb201_space.EDGES))


def nb201_population(reference: str | None = NB201_REFERENCE, *, size: int = 8, seed: int = 0) -> Population:
    """The population of NB201 cell motifs: one decision, the cell (the benchmark ties it to
    every cell position), whose candidates are whole cells (4-node DAGs, an op per edge).

    The initial population is the reference cell (first) and `size - 1` distinct random
    motifs (seeded); mutation changes one edge's op, crossover takes each edge from either
    parent, so the population grows with motifs that were not in it.

    Raises:
        ValueError: for `size` < 1.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1. Received: size={size}")
    rng = random.Random(seed)
    ref = None if reference is None else NB201Genotype.from_string(reference)
    initial: list[NB201Genotype] = [] if ref is None else [ref]
    while len(initial) < size:
        cell = random_motif(rng)
        if cell not in initial:
            initial.append(cell)
    return Population([initial], _motif_mutate, _motif_crossover, None if ref is None else [ref])


FITNESS_KINDS = ("alpha", "perturbation", "meco")
#: Algorithms that train a `MotifSupernet` (softmax mixing over the K motifs, no per-edge state).
MOTIF_ALGORITHMS = ("darts",)


def heldout_batches(train_ds, *, split_seed: int, train_portion: float = 0.5, examples: int = 2048,
                    batch_size: int = 256, dataset: str = "cifar10") -> list[tuple[Any, Any]]:
    """The first `examples` images of the architecture part of a search's bilevel split,
    normalised and batched (no augmentation), materialised once.

    They are the images a search with `split_seed` never trains the weights on.
    """
    from tfnas.data.bilevel import bilevel_split
    from tfnas.data.pipeline import make_eval_dataset

    _, arch_part = bilevel_split(train_ds, train_portion, split_seed)
    return list(make_eval_dataset(arch_part.take(examples), batch_size, dataset=dataset))


def perturbation_fitness(supernet, batches: Sequence[tuple[Any, Any]], sampled: Sequence[Sequence[int]], *,
                         budget=None) -> list[list[float]]:
    """Per decision, the fitness of each sampled op: its share of the objective's rise on removal.

    For every edge `e` and op `o` of `sampled[e]`, `d = J(without o) - J(full)` where `J` is
    the mean cross-entropy of the trained supernet on `batches` (plus `budget.term` of the
    architecture distribution, or times it for FBNet's form, when a budget is given), and
    "without o" is `supernet.ops_removed([(e, o)])`: the op's mixing weight set to 0, the
    edge's other weights unchanged (renormalising them would scale the edge's output, so
    that even removing `none` would move the loss). The fitness is `K * max(d, 0) /
    sum_j max(d_j, 0)`, uniform (1.0 each) when no op's removal raises `J` or `K = 1`:
    the scale of `K * softmax(alpha)`, so both feed the same running fitness.

    References:
        Wang et al., Rethinking Architecture Selection in Differentiable NAS, arXiv 2108.04392.

    Args:
        supernet: A trained supernet with `ops_removed` (softmax mixing).
        batches: Held-out `(images, labels)` batches (`heldout_batches`).
        sampled: Per edge, the op indices of its candidates.
        budget: The search's `BudgetLoss`, or None.

    Returns:
        Per edge, one fitness per sampled op (same order).

    Raises:
        ValueError: for no batches.
    """
    import keras

    if not batches:
        raise ValueError("perturbation_fitness needs at least one held-out batch.")

    def summed_ce(images, labels):  # eager: `ops_removed` is read when the forward pass runs
        logits = supernet(images, training=False)
        return keras.ops.sum(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))

    total = sum(int(keras.ops.shape(y)[0]) for _, y in batches)

    def objective() -> float:  # inside `ops_removed`, arch_probabilities() drops the op too
        ce = sum(float(summed_ce(x, y)) for x, y in batches) / total
        if budget is None:
            return ce
        return float(budget(ce, supernet.arch_probabilities()))

    base = objective()
    fitness = []
    for e, ops_ in enumerate(sampled):
        if len(ops_) < 2:
            fitness.append([1.0] * len(ops_))
            continue
        rises = []
        for o in ops_:
            with supernet.ops_removed([(e, int(o))]):
                rises.append(max(objective() - base, 0.0))
        total_rise = sum(rises)
        k = len(ops_)
        fitness.append([k * r / total_rise for r in rises] if total_rise > 0 else [1.0] * k)
    return fitness


def evolve_nb201(
    search_config,
    config: AutoSpaceConfig,
    *,
    train_ds,
    num_examples: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    dataset: str = "cifar10",
    budget=None,
    reference: str | None = NB201_REFERENCE,
    population_size: int = 8,
    fitness: str = "alpha",
    fitness_examples: int = 2048,
    data_dir: str | None = None,
    meco_proxy: ProxyConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[LearnedNB201Space, list[dict[str, Any]]]:
    """Evolves NB201 cell motifs and returns the learned space they span (module docstring).

    Each generation places the K sampled motifs in parallel at every cell position of a
    `tfnas.supernets.motifs.MotifSupernet` and trains it with `search_config` (softmax
    mixing: `darts`); the fitness of each motif is `K * softmax(alpha)` ("alpha", the
    paper's) or its share of the objective's rise when it is taken out ("perturbation").
    After the last generation the `config.keep` fittest motifs span the learned space
    (`LearnedNB201Space.spanned_by`).

    Args:
        search_config: The bilevel search of each generation (`epochs` = epochs per
            generation, `channels` / `layers` = the supernet's width and cells per stage).
        config: The evolution hyper-parameters (`sample_size` = K motifs per generation).
        train_ds: The search training set (`mobile_search.load_search_data`).
        num_examples: Its size.
        input_shape: Image shape.
        num_classes: Classes.
        dataset: Dataset name.
        budget: Optional `BudgetLoss` over a per-edge `nb201_cost_table`; each generation
            prices its motifs with `motif_cost_table`.
        reference: The reference cell (seeds the population), or None.
        population_size: Initial motifs (the reference included).
        fitness: `"alpha"` or `"perturbation"` (`perturbation_fitness` on `fitness_examples`
            held-out images of each generation's architecture split), or `"meco"`: each motif's
            share of the generation's summed MeCo score (`K * s_i / sum_j s_j`, the `K * p`
            scale), MeCo computed on the motif's NB201 network (16 channels, 5 cells per stage,
            32x32, one CIFAR-10 training image, the ranking benchmark's settings) with no
            supernet trained: the training-free scorer that rates NB201 cells best here
            (Kendall tau 0.756, WORKSPACE.md), replacing the learned fitness, which at our
            proxy ranks motifs close to arbitrarily.
        fitness_examples: Held-out images of the perturbation fitness.
        data_dir: The shared data folder of the MeCo image (None: `$TFNAS_DATA_DIR`).
        meco_proxy: The `tfnas.ranking.scorers.ProxyConfig` of the MeCo fitness's network
            (None: `ProxyConfig()`, the settings above).
        log: Optional progress printer.

    Returns:
        `(learned_space, records)`.

    Raises:
        ValueError: for an unknown fitness or a search whose algorithm does not mix by softmax.
    """
    from tfnas.algorithms.base import ALGORITHMS
    from tfnas.algorithms.mobile_search import run_search
    from tfnas.budgets.losses import motif_cost_table
    from tfnas.supernets.motifs import MotifSupernet

    if fitness not in FITNESS_KINDS:
        raise ValueError(f"fitness must be one of {FITNESS_KINDS}. Received: fitness={fitness!r}")
    if fitness_examples < 1:
        raise ValueError(f"fitness_examples must be >= 1. Received: fitness_examples={fitness_examples}")
    if search_config.algorithm not in MOTIF_ALGORITHMS:
        raise ValueError(f"evolve_algorithm must train the motif weights by softmax mixing: {MOTIF_ALGORITHMS}. "
                         f"Received: {search_config.algorithm!r}")
    ALGORITHMS.get(search_config.algorithm)
    population = nb201_population(reference, size=population_size, seed=config.seed)

    zero_cost: dict[str, float] = {}
    if fitness == "meco":
        from tfnas.ranking.scorers import ProxyConfig, ScoringContext, make_scorer

        scorer, context = make_scorer("meco"), ScoringContext(meco_proxy or ProxyConfig(), data_dir=data_dir)

    def train_generation(sampled, generation):
        (cells,) = sampled
        if fitness == "meco":  # deterministic per motif: each is scored once
            for cell in cells:
                if cell.to_string() not in zero_cost:
                    zero_cost[cell.to_string()] = float(scorer.score([cell], context)[0])
            scores = np.array([zero_cost[c.to_string()] for c in cells])
            return [len(cells) * scores / scores.sum()]
        run = search_config.replace(seed=search_config.seed * 1000 + generation)
        supernet = MotifSupernet(cells, channels=run.channels or 16, cells_per_stage=run.layers or 5, num_classes=num_classes,
                                 input_shape=input_shape, seed=run.seed)
        generation_budget = None if budget is None else dataclasses.replace(
            budget, table=motif_cost_table(budget.table, cells))
        run_search(run, supernet, train_ds=train_ds, num_examples=num_examples, dataset=dataset,
                   budget=generation_budget)
        if fitness == "perturbation":
            batches = heldout_batches(train_ds, split_seed=run.seed, train_portion=run.train_portion,
                                      examples=fitness_examples, dataset=dataset)
            return perturbation_fitness(supernet, batches, [list(range(len(cells)))], budget=generation_budget)
        (probs,) = supernet.arch_probabilities()
        return [len(cells) * np.asarray(probs)]

    learned, records = evolve(population, train_generation, config, log)
    motifs = [(cell, population.fitness[0][cell]) for cell in learned[0]]
    return LearnedNB201Space.spanned_by(motifs), records


def search_nb201(
    search_config,
    space: LearnedNB201Space | None,
    *,
    train_ds,
    num_examples: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    dataset: str = "cifar10",
    budget=None,
    hard_budget: float | None = None,
) -> dict[str, Any]:
    """One search of `search_config.algorithm` in a learned NB201 space (None: the full space).

    Returns:
        `mobile_search.run_search`'s report.
    """
    from tfnas.algorithms.base import ALGORITHMS
    from tfnas.algorithms.mobile_search import run_search
    from tfnas.supernets import build_supernet

    cls = ALGORITHMS.get(search_config.algorithm)
    overrides = space.supernet_overrides() if space is not None else {}
    supernet = build_supernet(cls.supernet_config(search_config, "nb201", num_classes, input_shape, **overrides))
    return run_search(search_config, supernet, train_ds=train_ds, num_examples=num_examples, dataset=dataset,
                      budget=budget, hard_budget=hard_budget)


# ------------------------------------------------------------------------------ mobile
#: What a mobile mutation draws from with `mutation_range="open"`: wider than the hand-made
#: grids (the cifar preset's kernels 3/5/7, expansions 3/6, SE 0/0.25, relu6), so the
#: evolution makes blocks no designer listed, AutoSpace's point. Any `ir`/`ds` block with
#: these fields builds, is priced (`mobile_cost_table`) and exports like a hand-made one.
MOBILE_PRIMITIVES = {
    "kernel": (3, 5, 7, 9),
    "expansion": (1, 2, 3, 4, 6, 8),
    "se_ratio": (0.0, 0.125, 0.25, 0.5),
    "activation": ("relu", "relu6", "hswish", "swish"),
}
MUTATION_RANGES = ("open", "space")


def _mobile_mutate_fn(space, mutation_range: str = "open") -> tuple[Callable, Callable]:
    """Mutation and crossover of mobile candidates.

    Mutation changes one field (kernel, expansion, SE ratio, activation) or turns the block
    into `zero` where the slot allows it; recombination takes each field from either parent.
    `mutation_range="open"` draws the new value from `MOBILE_PRIMITIVES` and keeps any
    result; `"space"` draws from the slot's hand-made options and keeps only members of them.
    """
    from tfnas.genotypes.block import BlockSpec

    if mutation_range not in MUTATION_RANGES:
        raise ValueError(f"mutation_range must be one of {MUTATION_RANGES}. Received: {mutation_range!r}")
    open_range = mutation_range == "open"
    slots = [(s, i) for s, st in enumerate(space.stages) for i in range(st.depth)]

    def allowed(block: Any, options: Sequence[Any]) -> bool:
        return open_range or block in options

    def mutate(decision: int, block: Any, rng: random.Random) -> Any:
        s, i = slots[decision]
        options = space.candidates(s, i)
        if block.is_zero:
            return rng.choice([b for b in options if not b.is_zero])
        field = rng.choice(["kernel", "expansion", "se_ratio", "activation", "zero"])
        if field == "zero":
            zero = [b for b in options if b.is_zero]
            if zero:
                return zero[0]
            field = "kernel"
        if field == "expansion" and block.block_type != "ir":
            field = "kernel"
        if open_range:
            values = list(MOBILE_PRIMITIVES[field])
        else:
            values = sorted({getattr(b, field) for b in options if not b.is_zero and b.block_type == block.block_type},
                            key=str)
        others = [v for v in values if v != getattr(block, field)]
        if not others:
            return rng.choice(options)
        child = dataclasses.replace(block, **{field: rng.choice(others)})
        return child if allowed(child, options) else rng.choice(options)

    def crossover(decision: int, a: Any, b: Any, rng: random.Random) -> Any:
        if a.is_zero or b.is_zero or a.block_type != b.block_type:
            return a if rng.random() < 0.5 else b
        fields = {f: getattr(a if rng.random() < 0.5 else b, f) for f in ("kernel", "expansion", "se_ratio", "activation")}
        child = dataclasses.replace(a, **fields)
        s, i = slots[decision]
        return child if isinstance(child, BlockSpec) and allowed(child, space.candidates(s, i)) else a

    return mutate, crossover


def mobile_population(space, reference, mutation_range: str = "open") -> Population:
    """Per layer slot of `space` (a `MobileSpace`), a population seeded by `reference`.

    The initial population of a slot is the reference's block plus two random choices of
    the slot; later members come from mutation and recombination, beyond the slot's
    hand-made options with `mutation_range="open"` (`_mobile_mutate_fn`).

    Args:
        space: The hand-made `MobileSpace`: the skeleton, the initial options, and with
            `mutation_range="space"` the bound of the evolution.
        reference: A `BlockGenotype` in `space` (`space.validate(reference)` passes).
        mutation_range: `"open"` or `"space"`.

    Raises:
        ValueError: if `reference` is not in `space`, or for an unknown range.
    """
    space.validate(reference)
    rng = random.Random(0)
    layers = reference.layers()
    ref_blocks, initial = [], []
    for layer in layers:
        block = layer.spec if layer.spec.is_zero else dataclasses.replace(
            layer.spec, activation=reference.activation_of(layer.spec), skip=None)
        options = space.candidates(layer.stage, layer.index)
        ref_blocks.append(block)
        initial.append([block] + rng.sample(list(options), min(2, len(options))))
    mutate, crossover = _mobile_mutate_fn(space, mutation_range)
    return Population(initial, mutate, crossover, ref_blocks)


def evolve_mobile(
    search_config,
    config: AutoSpaceConfig,
    space,
    reference,
    *,
    train_ds,
    num_examples: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    dataset: str = "cifar10",
    budget_madds: float | None = None,
    budget_weight: float = 1.0,
    mutation_range: str = "open",
    log: Callable[[str], None] | None = None,
):
    """Evolves a learned mobile space (a `CandidateSpace` with `config.keep` blocks per slot).

    Each generation trains a `MobileSupernet` over the K sampled blocks per slot with
    `search_config.algorithm` (`gdas` or `rome`) and, with `budget_madds`, the hinge on the
    expected MAdds of the network at `input_shape` in the architecture loss. Candidates
    mutate beyond `space`'s options with `mutation_range="open"` (`mobile_population`).

    Returns:
        `(learned_space, records)`.
    """
    from tfnas.algorithms.mobile_search import run_search
    from tfnas.budgets.losses import BudgetLoss, mobile_cost_table
    from tfnas.spaces.mobile import CandidateSpace
    from tfnas.supernets.mobile import MobileSupernet

    population = mobile_population(space, reference, mutation_range)

    def as_space(per_slot):
        return CandidateSpace.from_slots(space, per_slot, act=reference.act)

    def train_generation(sampled, generation):
        cands = as_space(sampled)
        run = search_config.replace(seed=search_config.seed * 1000 + generation)
        supernet = MobileSupernet(cands, num_classes=num_classes, input_shape=input_shape, seed=run.seed)
        budget = None
        if budget_madds:
            table = mobile_cost_table(cands, "madds", input_size=input_shape[0], num_classes=num_classes)
            budget = BudgetLoss(table, "hinge", target=float(budget_madds), weight=budget_weight)
        run_search(run, supernet, train_ds=train_ds, num_examples=num_examples, dataset=dataset, budget=budget)
        return [len(p) * np.asarray(p) for p in supernet.arch_probabilities()]

    learned, records = evolve(population, train_generation, config, log)
    return as_space(learned), records


# ------------------------------------------------------------------------------ NB201 experiment
@dataclasses.dataclass(frozen=True)
class NB201ExperimentConfig:
    """The NAS-Bench-201 AutoSpace experiment: evolve a sub-space, search in it and in the full space.

    Defaults are sized for 2 CPU cores: the search network of `launch.nb201` (8 channels, 1
    cell per stage, 16x16 CIFAR-10, the first 10,000 training images, batch 64; the paper:
    16, 5, 32x32, 50,000).

    Args:
        evolve_algorithm: Algorithm training each generation's motif supernet (`darts`:
            softmax mixing of the K motifs, first order).
        evolve_arch_learning_rate: Architecture learning rate of those supernets. A
            generation is a few epochs, over which the DARTS rate 3e-4 moves the weights
            by about 1% (0.33 -> 0.34 measured): too little to rank candidates, so 10x.
        generations: AutoSpace generations.
        generation_epochs: Search epochs per generation.
        population_size: Initial motifs (the reference cell and random cells).
        sample_size: K, motifs in parallel in a generation's supernet (the paper's figure: 4).
        keep: Motifs kept; they span the learned space (per edge, the ops they use).
        mutation_rate: Probability a tournament winner is replaced by a one-edge mutant.
        fitness: `"alpha"` (the paper's `K * softmax(alpha)`) or `"perturbation"` (each
            motif's share of the validation objective's rise when it is taken out of the
            trained supernet); see the module docstring's "Fitness".
        fitness_examples: Held-out images of the perturbation fitness.
        search_algorithm: The differentiable search run in the learned and in the full
            space (`darts_minus` default; also `darts`, `gdas`, `pc_darts`).
        search_epochs: Epochs of each of those searches.
        seeds: Seeds of the searches (one per seed in each space); empty: none.
        strategy: The multi-trial strategy run in the learned and in the full space
            (`tfnas.strategies`: `pnas` default, the best of the benchmark-mode comparison;
            `evolution`, `random`), scored by the table's `table_column`.
        strategy_evaluations: Its budget in evaluations, in both spaces.
        strategy_seeds: Its runs per space (seeds 0..N-1).
        table_column: The table column the strategy sees (`cifar100`: transfer, the honest
            default; `cifar10` is a simulation with a perfect evaluator).
        budget_madds: Optional MAdds budget of the benchmark network (16 channels, 5 cells,
            32x32: the table's networks): hinge term in every architecture loss, hard limit
            on every derived cell; 0 = none.
        channels: Search supernet channels.
        layers: Search supernet cells per stage.
        image_size: Search image side.
        max_train_examples: First N CIFAR-10 training images.
        batch_size: Batch size of each part per step.
        dataset: `cifar10` (the benchmark) or `digits` (smoke runs).
        data_dir: Shared data folder; None reads `$TFNAS_DATA_DIR`.
        seed: Seed of the evolution.

    Raises:
        ValueError: naming the bad field.
    """

    evolve_algorithm: str = "darts"
    evolve_arch_learning_rate: float = 3e-3
    generations: int = 10
    generation_epochs: int = 4
    population_size: int = 8
    sample_size: int = 4
    keep: int = 3
    mutation_rate: float = 0.5
    fitness: str = "alpha"
    fitness_examples: int = 2048
    search_algorithm: str = "darts_minus"
    search_epochs: int = 10
    seeds: tuple[int, ...] = (0, 1, 2)
    strategy: str = "pnas"
    strategy_evaluations: int = 30
    strategy_seeds: int = 10
    table_column: str = "cifar100"
    budget_madds: float = 0.0
    channels: int = 8
    layers: int = 1
    image_size: int = 16
    max_train_examples: int = 10000
    batch_size: int = 64
    dataset: str = "cifar10"
    data_dir: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if self.search_algorithm == "rome":
            raise ValueError("ROME keeps 2 inputs per node, which the NB201 cell does not have; "
                             "use darts_minus, darts, gdas or pc_darts. Received: search_algorithm='rome'")
        if self.evolve_algorithm not in MOTIF_ALGORITHMS:
            raise ValueError(f"evolve_algorithm must train the motif weights by softmax mixing: {MOTIF_ALGORITHMS}. "
                             f"Received: {self.evolve_algorithm!r}")
        from tfnas.strategies import STRATEGIES

        STRATEGIES.get(self.strategy)
        if self.table_column not in ("cifar10", "cifar100", "imagenet16"):
            raise ValueError(f"table_column must be cifar10, cifar100 or imagenet16. Received: {self.table_column!r}")
        if self.budget_madds < 0:
            raise ValueError(f"budget_madds must be >= 0. Received: budget_madds={self.budget_madds}")
        if self.fitness not in FITNESS_KINDS:
            raise ValueError(f"fitness must be one of {FITNESS_KINDS}. Received: fitness={self.fitness!r}")
        for name in ("generation_epochs", "search_epochs", "channels", "layers", "batch_size", "max_train_examples",
                     "fitness_examples", "population_size", "strategy_evaluations", "strategy_seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1. Received: {name}={value!r}")
        self.autospace_config()

    def autospace_config(self) -> AutoSpaceConfig:
        """The evolution's hyper-parameters."""
        return AutoSpaceConfig(generations=self.generations, sample_size=self.sample_size, keep=self.keep,
                               mutation_rate=self.mutation_rate, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["seeds"] = list(self.seeds)
        return data

    #: Fields the learned space does not depend on (what runs in it afterwards, where the data lie).
    AFTER_EVOLUTION = ("search_algorithm", "search_epochs", "seeds", "strategy", "strategy_evaluations",
                       "strategy_seeds", "table_column", "data_dir")

    def evolution_dict(self) -> dict[str, Any]:
        """The fields that decide the evolution: a finished one with the same is reused."""
        return {k: v for k, v in self.to_dict().items() if k not in self.AFTER_EVOLUTION}


def _finished_evolution(config: NB201ExperimentConfig, workdir: str) -> tuple[LearnedNB201Space, Any, Any] | None:
    """`(space, records, evolve_seconds)` of a finished evolution in `workdir` made with the
    same `evolution_dict()` (its `config.json` and `learned_space.json`), else None."""
    import os

    paths = [os.path.join(workdir, name) for name in ("config.json", "learned_space.json")]
    if not all(os.path.isfile(p) for p in paths):
        return None
    try:
        with open(paths[0], encoding="utf-8") as f:
            old = NB201ExperimentConfig(**{**json.load(f), "data_dir": config.data_dir})
        with open(paths[1], encoding="utf-8") as f:
            data = json.load(f)
        space = LearnedNB201Space.from_dict(data)
    except (ValueError, KeyError, TypeError):
        return None  # a partial or foreign file: evolve again
    if old.evolution_dict() != config.evolution_dict():
        return None
    seconds = data.get("evolve_seconds")
    report = os.path.join(workdir, "report.json")
    if seconds is None and os.path.isfile(report):  # files written before the time was kept beside the space
        with open(report, encoding="utf-8") as f:
            seconds = json.load(f).get("evolve_seconds")
    return space, data.get("generations", []), seconds


def nb201_experiment(config: NB201ExperimentConfig, workdir: str,
                     log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Runs the NB201 experiment and returns the summary the CLI prints as its last line.

    Writes `<workdir>/config.json`, `learned_space.json` and `report.json`. The summary:
    `{"members_cifar10": {mean, median, best, size}, "full_space_cifar10": {...},
    "search_in_learned": {"cifar10_mean", "cifar10_std", "cells", ...},
    "search_in_full": {...}, "strategy_in_learned": {...}, "strategy_in_full": {...}}`,
    every accuracy the 200-epoch CIFAR-10 test accuracy of
    `$TFNAS_DATA_DIR/nb201/nats_bench_tss_200ep.csv`; `search_*` are the differentiable
    searches (`seeds`; absent without seeds), `strategy_*` the multi-trial strategy's runs.

    Raises:
        FileNotFoundError: without the data or the table; ValueError for a bad config.
    """
    import os
    import time

    from tfnas.algorithms.mobile_search import load_search_data
    from tfnas.algorithms.runner import make_search_config
    from tfnas.benchmarks import NB201Table
    from tfnas.budgets.losses import BudgetLoss, nb201_cost_table

    log = log or (lambda message: None)
    os.makedirs(workdir, exist_ok=True)
    finished = _finished_evolution(config, workdir)
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config.to_dict(), f, indent=2)
    table = NB201Table(data_dir=config.data_dir)
    start = time.perf_counter()
    train_ds, n, shape, classes = load_search_data(
        config.dataset, data_dir=config.data_dir, max_train_examples=config.max_train_examples,
        image_size=config.image_size)
    costs = nb201_cost_table("madds")
    budget = BudgetLoss(costs, "hinge", target=float(config.budget_madds)) if config.budget_madds else None
    hard = float(config.budget_madds) if config.budget_madds else None
    common = dict(batch_size=config.batch_size, channels=config.channels, layers=config.layers)
    evolve_search = make_search_config(config.evolve_algorithm, "nb201", epochs=config.generation_epochs,
                                       seed=config.seed, arch_learning_rate=config.evolve_arch_learning_rate,
                                       **common)
    if finished is not None:
        space, records, evolve_seconds = finished
        log(f"reusing the finished evolution in {workdir} (same evolution config)")
    else:
        space, records = evolve_nb201(
            evolve_search, config.autospace_config(), train_ds=train_ds, num_examples=n, input_shape=shape,
            num_classes=classes, dataset=config.dataset, budget=budget, population_size=config.population_size,
            fitness=config.fitness, fitness_examples=config.fitness_examples, data_dir=config.data_dir, log=log)
        evolve_seconds = time.perf_counter() - start
        path = os.path.join(workdir, "learned_space.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump({**space.to_dict(), "generations": records, "evolve_seconds": evolve_seconds}, f, indent=2)
        os.replace(path + ".tmp", path)  # a killed write never leaves a half file that looks finished
    log(f"learned space ({space.size} cells, evolution {evolve_seconds or 0:.0f} s): {space.edge_ops}")

    def stats(cells):
        s = table.stats("cifar10", cells)
        return {"mean": s.mean, "median": s.median, "best": s.best, "size": s.size}

    members = space.members()
    if hard is not None:
        members = [c for c in members if costs.cost([nb201_space.OPS.index(o) for o in c.ops]) <= hard] or members
    results: dict[str, Any] = {}
    for label, learned in (("strategy_in_learned", space), ("strategy_in_full", None)):
        results[label] = _strategy_runs(config, table, None if learned is None else learned.edge_ops)
        r = results[label]
        log(f"{label}: {config.strategy} C10 {r['cifar10_mean']:.2f} +- {r['cifar10_std']:.2f} "
            f"({config.strategy_seeds} seeds, {config.strategy_evaluations} evaluations on {config.table_column})")
    for label, learned in (("search_in_learned", space), ("search_in_full", None)):
        if not config.seeds:
            continue
        runs = []
        for seed in config.seeds:
            search = make_search_config(config.search_algorithm, "nb201", epochs=config.search_epochs, seed=seed,
                                        **common)
            report = search_nb201(search, learned, train_ds=train_ds, num_examples=n, input_shape=shape,
                                  num_classes=classes, dataset=config.dataset, budget=budget, hard_budget=hard)
            accuracy = table.accuracy(report["genotype"], "cifar10")
            runs.append({"seed": seed, "cell": report["genotype"], "cifar10": accuracy,
                         "madds": costs.cost([nb201_space.OPS.index(o) for o in
                                              NB201Genotype.from_string(report["genotype"]).ops]),
                         "search_seconds": report["search_seconds"]})
            log(f"{label} seed {seed}: {report['genotype']} C10 {accuracy:.2f} ({report['search_seconds']:.0f} s)")
        values = np.array([r["cifar10"] for r in runs])
        results[label] = {"cifar10_mean": float(values.mean()), "cifar10_std": float(values.std()),
                          "cells": [r["cell"] for r in runs], "cifar10": values.tolist(), "runs": runs}
    summary = {
        "members_cifar10": stats(members),
        "full_space_cifar10": stats(None),
        **results,
        "learned_space": [list(o) for o in space.edge_ops],
        "motifs": [{"cell": c, "fitness": f, "cifar10": table.accuracy(c, "cifar10")} for c, f in space.motifs],
        "evolve_seconds": evolve_seconds,
        "total_seconds": time.perf_counter() - start,
    }
    with open(os.path.join(workdir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return summary


def _strategy_runs(config: NB201ExperimentConfig, table, edge_ops) -> dict[str, Any]:
    """`config.strategy` over seeds 0..strategy_seeds-1 in `edge_ops` (None: the full space),
    each scored by the table's `table_column` under `strategy_evaluations` evaluations."""
    from tfnas.strategies import Budget, TableEvaluator, make_strategy

    cells, values = [], []
    for seed in range(config.strategy_seeds):
        evaluator = TableEvaluator(config.table_column, table=table, seed=seed)
        trace = make_strategy(config.strategy).search(evaluator, Budget(evaluations=config.strategy_evaluations),
                                                      seed, edge_ops=edge_ops)
        cells.append(trace.best().cell)
        values.append(table.accuracy(trace.best().cell, "cifar10"))
    values = np.asarray(values)
    return {"strategy": config.strategy, "evaluations": config.strategy_evaluations, "column": config.table_column,
            "cifar10_mean": float(values.mean()), "cifar10_std": float(values.std()), "cells": cells,
            "cifar10": values.tolist()}
