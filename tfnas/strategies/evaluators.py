"""Evaluators the multi-trial strategies score cells with: the table, standalone training.

- `TableEvaluator` (benchmark mode): the NAS-Bench-201 table's 200-epoch test accuracy of a
  chosen dataset column, optionally with Gaussian noise. Instant, for studying strategies
  over many seeds. When the column is the one the result is judged on (CIFAR-10), the run is
  a *simulation* of search with a perfect evaluator, not a search result; the harness says so.
  Our table has no validation or short-training columns (see `../shared/data/README.md`), so
  the honest table modes are another dataset's column (CIFAR-100 or ImageNet16-120: transfer)
  or noise.
- `TrainEvaluator` (real mode): trains the cell's NB201 network standalone at a CPU proxy and
  scores it by its accuracy on held-out *training* images (never the test set); the cost is
  the measured wall seconds.

- `SupernetEvaluator` (one-shot mode): the inherited weights of a trained SPOS supernet.
- `ScorerEvaluator` (zero-cost mode): a training-free scorer of `tfnas.ranking`.

Each implements `evaluate(cell) -> (score, seconds)`; see `tfnas.strategies.base.Evaluator`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from tfnas.genotypes.nb201 import NB201Genotype


class TableEvaluator:
    """Scores a cell by a NAS-Bench-201 table column (benchmark mode).

    Args:
        column: The dataset column the strategy sees: `"cifar10"`, `"cifar100"` or
            `"imagenet16-120"` (200-epoch test accuracy).
        noise_std: Standard deviation of Gaussian noise added to each score (points).
        seconds_per_evaluation: The declared cost of one evaluation (e.g. the measured cost
            of `TrainEvaluator` at the proxy, to compare at equal cost); 0 by default.
        seed: Seed of the noise.
        table: A loaded `tfnas.benchmarks.NB201Table` (default: loaded from `data_dir`).
        data_dir: The shared data folder (default `$TFNAS_DATA_DIR`).

    Example:
    >>> evaluator = TableEvaluator("cifar100")  # doctest: +SKIP
    >>> evaluator.evaluate(NB201Genotype(("nor_conv_3x3",) * 6))  # doctest: +SKIP
    (71.05..., 0.0)
    """

    def __init__(self, column: str = "cifar10", *, noise_std: float = 0.0, seconds_per_evaluation: float = 0.0,
                 seed: int = 0, table: Any = None, data_dir: str | None = None) -> None:
        from tfnas.benchmarks import NB201Table
        from tfnas.benchmarks.nb201 import canonical_dataset

        if noise_std < 0 or seconds_per_evaluation < 0:
            raise ValueError(
                f"noise_std and seconds_per_evaluation must be >= 0. Received: noise_std={noise_std}, "
                f"seconds_per_evaluation={seconds_per_evaluation}"
            )
        self.column = canonical_dataset(column)
        self.noise_std = float(noise_std)
        self.seconds_per_evaluation = float(seconds_per_evaluation)
        self.table = table if table is not None else NB201Table(data_dir=data_dir)
        self._scores = self.table.accuracies(self.column)
        self._rng = np.random.default_rng(seed)
        self.name = f"table:{self.column}" + (f"+noise{self.noise_std:g}" if self.noise_std else "")

    def evaluate(self, cell: NB201Genotype) -> tuple[float, float]:
        score = float(self._scores[self.table.index(cell)])
        if self.noise_std:
            score += float(self._rng.normal(0.0, self.noise_std))
        return score, self.seconds_per_evaluation

    def describe(self, judged_on: str = "cifar10") -> str:
        """One line saying what the strategies see, and whether the run is a simulation."""
        what = f"the table's 200-epoch {self.column} test accuracy"
        if self.noise_std:
            what += f" plus N(0, {self.noise_std:g}) noise"
        if self.column == judged_on and not self.noise_std:
            return f"strategies see {what}: the column they are judged on, a simulation, not a search result"
        return f"strategies see {what}; found cells are judged on {judged_on}"


@dataclasses.dataclass(frozen=True)
class ProxyConfig:
    """The standalone-training proxy of `TrainEvaluator`.

    Defaults fit a 2-core CPU (about half a minute per cell): the NB201 network with 8
    channels and 1 cell per stage at 16x16, 5,000 training and 1,000 held-out CIFAR-10
    training images, 10 epochs of the NB201 recipe (SGD, Nesterov momentum 0.9, learning
    rate 0.1 with cosine decay, weight decay 5e-4; arXiv 2001.00326 trains 200 epochs at batch
    256 with crop and flip), no augmentation at this length.

    Args:
        dataset: Training data (`"cifar10"`, or `"digits"` for smoke runs).
        data_dir: The shared data folder (default `$TFNAS_DATA_DIR`).
        channels: Initial channels of the NB201 network (paper 16).
        layers: Cells per stage (paper 5).
        image_size: Image side (paper 32).
        train_examples: Training images (the first of the training split).
        val_examples: Held-out training images that score the cell (the next ones).
        epochs: Training epochs.
        batch_size: Batch size.
        learning_rate: Initial learning rate.
        weight_decay: Coupled L2 coefficient.
        seed: Initialisation and shuffling seed (the same for every cell).
    """

    dataset: str = "cifar10"
    data_dir: str | None = None
    channels: int = 8
    layers: int = 1
    image_size: int = 16
    train_examples: int = 5000
    val_examples: int = 1000
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 0.1
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("channels", "layers", "image_size", "train_examples", "val_examples", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError(
                f"Need learning_rate > 0 and weight_decay >= 0. Received: {self.learning_rate}, {self.weight_decay}"
            )


class TrainEvaluator:
    """Scores a cell by training its network standalone at a proxy (real mode).

    The data is loaded once; every cell is trained from the same seed on the same images and
    scored by its held-out accuracy (%). The cost is the measured wall seconds of building,
    training and scoring.

    With `cache_path`, every result is appended to a JSON-lines file (one line per cell, with
    the proxy settings it was measured at); a cell found there for the same proxy is not
    trained again and costs its recorded seconds, so budgets stay what the training cost, an
    interrupted comparison resumes where it stopped, and strategies and seeds that meet the
    same cell share its training. A line that does not parse is reported, not skipped.

    Args:
        proxy: The proxy settings.
        cache_path: The JSON-lines result file (None: no cache).

    Raises:
        FileNotFoundError: without the data; ValueError when the split is too small.
    """

    def __init__(self, proxy: ProxyConfig | None = None, *, cache_path: str | None = None) -> None:
        self.proxy = proxy or ProxyConfig()
        self.name = "train"
        self.cache_path = cache_path
        self._data: tuple[np.ndarray, ...] | None = None
        self._log = None
        self._cache: dict[str, tuple[float, float]] = {}
        if cache_path:
            from tfnas.runs import ResultLog

            self._log = ResultLog(cache_path, self._proxy_key(), settings_key="proxy", fields=("score", "seconds"))
            self._cache = {cell: (row["score"], row["seconds"]) for cell, row in self._log.read().items()}

    def _proxy_key(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self.proxy).items() if k != "data_dir"}

    def _load(self) -> tuple[np.ndarray, ...]:
        if self._data is None:
            from tfnas.algorithms.runner import load_training_set

            p = self.proxy
            ds, n, _, classes = load_training_set(p.dataset, p.data_dir, p.train_examples + p.val_examples,
                                                  p.image_size)
            if n < p.train_examples + p.val_examples:
                raise ValueError(
                    f"The {p.dataset} training split has {n} images; the proxy needs train_examples + "
                    f"val_examples = {p.train_examples + p.val_examples}. Lower them."
                )
            x, y = (np.concatenate(parts) for parts in zip(*((a.numpy(), b.numpy()) for a, b in ds.batch(8192))))
            from tfnas.data.pipeline import resolve_stats

            mean, std = resolve_stats(p.dataset)
            x = ((x.astype(np.float32) / 255.0) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
            cut = p.train_examples
            self._data = (x[:cut], y[:cut], x[cut:], y[cut:], classes)
        return self._data

    def evaluate(self, cell: NB201Genotype) -> tuple[float, float]:
        key = cell.to_string()
        if key in self._cache:
            return self._cache[key]
        score, seconds = self._train(cell)
        self._cache[key] = (score, seconds)
        if self._log:
            self._log.append(key, score=score, seconds=seconds)
        return score, seconds

    def _train(self, cell: NB201Genotype) -> tuple[float, float]:
        import keras

        from tfnas.children import build_child
        from tfnas.children.training import train_and_score

        start = time.perf_counter()
        p = self.proxy
        x_train, y_train, x_val, y_val, classes = self._load()
        keras.utils.set_random_seed(p.seed)
        child = build_child(cell, channels=p.channels, layers=p.layers, input_size=p.image_size,
                            num_classes=classes)
        accuracy = train_and_score(child, x_train, y_train, x_val, y_val, epochs=p.epochs, batch_size=p.batch_size,
                                   learning_rate=p.learning_rate, weight_decay=p.weight_decay)
        keras.backend.clear_session()
        return accuracy, time.perf_counter() - start



class SupernetEvaluator:
    """Scores a cell with the inherited weights of a trained sampling supernet (one-shot mode).

    The cell's path is fixed by taking every other op out of the supernet's sampling
    (`Supernet.ops_removed`), and its accuracy is measured on held-out batches in training
    mode, so every BatchNorm normalises with the statistics of the evaluation batch: the
    statistics are recomputed per candidate, as the one-shot literature does (SPOS, arXiv
    1904.00420; Ning et al., arXiv 2008.03064). (The search cells' BatchNorm uses batch
    statistics always; the stem's and the reduction blocks' Keras BatchNorm layers update
    their moving averages during scoring, which the scores do not read.) The cost is the
    measured wall seconds. The forward pass runs eagerly, because a removal is read when it is
    traced.

    Args:
        supernet: A trained NB201 supernet with `mixing="gumbel"` (e.g. SPOS's, from
            `tfnas.algorithms.runner.restore_search(workdir).supernet`).
        batches: `(images, labels)` batches, normalised as in training, not used for training
            the weights (e.g. the validation half of the search's bilevel split).

    Raises:
        ValueError: for a supernet that does not sample or an empty batch list.
    """

    def __init__(self, supernet: Any, batches: list[tuple[Any, Any]]) -> None:
        if getattr(supernet, "temperature", None) is None or not hasattr(supernet, "ops_removed"):
            raise ValueError("SupernetEvaluator needs a sampling supernet (mixing='gumbel'), e.g. SPOS's.")
        if not batches:
            raise ValueError("SupernetEvaluator needs at least one held-out batch.")
        self.supernet = supernet
        self.batches = batches
        self.name = "supernet"

    def evaluate(self, cell: NB201Genotype) -> tuple[float, float]:
        import keras

        start = time.perf_counter()
        names = list(self.supernet.op_names)
        removed = [(e, o) for e, op in enumerate(cell.ops) for o, name in enumerate(names) if name != op]
        correct = total = 0
        with self.supernet.ops_removed(removed):
            for images, labels in self.batches:
                logits = self.supernet(images, training=True)
                predicted = np.asarray(keras.ops.convert_to_numpy(keras.ops.argmax(logits, axis=-1)))
                correct += int(np.sum(predicted == np.asarray(labels).reshape(-1)))
                total += int(predicted.shape[0])
        return 100.0 * correct / total, time.perf_counter() - start


class ScorerEvaluator:
    """Scores a cell with a training-free ranking scorer (zero-cost mode).

    Any per-cell scorer of `tfnas.ranking.scorers` (`params`, `synflow`, `naswot`,
    `grad_norm`, `zico`) rates the cell's NB201 network at its freshly initialised weights on
    training images (`ScoringContext`); the cost is the measured wall seconds. Scores are
    cached per cell, so strategies and seeds sharing this evaluator pay once per cell in wall
    time, while each run is still charged the cell's first measured cost (the `SearchTrace`
    budget counts what a lone run would pay).

    A degenerate score (the scorer's `-inf`, e.g. a singular NASWOT kernel of a cell with no
    ReLU on any path) becomes one below the lowest finite score returned so far (0 before
    any): the strategies need finite values (PNAS standardises its surrogate's targets), and a
    degenerate cell must rank last.

    References:
        - Mellor et al., NASWOT, arXiv 2006.04647 (search guided by the score: Table 2,
          N = 100 cells, CIFAR-10 92.96 +- 0.81).
        - Abdelfattah et al., zero-cost proxies, arXiv 2101.08134.

    Args:
        scorer: A registered scorer name.
        context: The `tfnas.ranking.scorers.ScoringContext` (proxy network, images).
    """

    def __init__(self, scorer: str, context: Any) -> None:
        from tfnas.ranking import scorers

        if not issubclass(scorers.SCORERS.get(scorer), scorers.PerCellScorer):
            raise ValueError(f"ScorerEvaluator needs a training-free scorer that rates cells one at a time "
                             f"(e.g. naswot, zico, synflow, params). Received: {scorer!r}")
        self.scorer = scorers.make_scorer(scorer)
        self.context = context
        self.name = f"scorer:{scorer}"
        self._cache: dict[str, tuple[float, float]] = {}
        self._lowest: float | None = None

    def evaluate(self, cell: NB201Genotype) -> tuple[float, float]:
        key = cell.to_string()
        if key not in self._cache:
            start = time.perf_counter()
            score = float(self.scorer.score([cell], self.context)[0])
            seconds = time.perf_counter() - start
            if np.isfinite(score):
                self._lowest = score if self._lowest is None else min(self._lowest, score)
            else:
                score = (0.0 if self._lowest is None else self._lowest) - 1.0
            self._cache[key] = (score, seconds)
        return self._cache[key]
