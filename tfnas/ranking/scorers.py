"""Scorers that rate NAS-Bench-201 cells without the table: a registry, one object per scorer.

A scorer is an object with `score(cells, context) -> np.ndarray` (one number per cell,
higher = predicted better, `-inf` for a degenerate score). `context` is a `ScoringContext`:
the proxy network settings (`ProxyConfig`), real training images loaded once and shared by
every cell, and a slot for trained state. Scorers are registered by name in `SCORERS`
(`make_scorer(name, **options)` builds one); adding a scorer is its own class plus one
registration line (`@register_scorer`).

Registered here (training-free, each on a freshly initialised child at the proxy, the same
seed for every cell):

- `params`: trainable parameter count of the child (`tfnas.budgets.counters.count_params`).
- `synflow`: synaptic flow, sum over conv / dense kernels of |theta * dR/dtheta| with
  R = sum of the outputs of the network whose weights are all made positive, fed one all-ones
  image, in float64 and without BatchNorm (Tanaka et al. arXiv 2006.05467, as the zero-cost
  proxies of Abdelfattah et al. arXiv 2101.08134 compute it).
- `naswot`: log-determinant of the binary ReLU-code kernel of one minibatch (Mellor et al.
  arXiv 2006.04647).
- `grad_norm`: sum over conv / dense kernels of the L2 norm of the cross-entropy gradient on
  one minibatch (arXiv 2101.08134's `grad_norm`).
- `zico`: sum over conv / dense kernels of log(sum mean|g| / std(g)) of the gradients of
  two minibatches (Li et al. arXiv 2301.11300).

`tfnas.ranking.standalone` registers the reference scorer `standalone` (standalone
training at the proxy). A scorer built on a trained one-shot supernet (inherited-weight
accuracy, DARTS alphas, DNA block loss) receives that state either as a constructor option
(`make_scorer("supernet_accuracy", supernet=...)`) or through `ScoringContext.state`, and
overrides `score` to rate all cells against it at once:

    @register_scorer
    class SupernetAccuracy(Scorer):
        name = "supernet_accuracy"
        def __init__(self, supernet): self.supernet = supernet
        def score(self, cells, context): ...

Example:
>>> context = ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8, batch_size=8))
>>> from tfnas.ranking.sample import sample_cells
>>> make_scorer("params").score(sample_cells(2, seed=0), context).shape
(2,)
"""

from __future__ import annotations

import abc
import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from tfnas import runtime
from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.registry import Registry


@dataclasses.dataclass(frozen=True)
class ProxyConfig:
    """The child network every per-cell scorer builds, and the seed of its initialisation.

    Args:
        channels: Initial channels (NAS-Bench-201: 16).
        layers: Cells per stage (NAS-Bench-201: 5).
        image_size: Square input side; CIFAR-10 images are resized to it (native 32).
        batch_size: Images in one minibatch (the zero-cost proxies paper: 64 / 128).
        seed: Seed of `keras.utils.set_random_seed` before each cell is built, so every cell
            starts from the same random stream.
        dataset: The image data (`"cifar10"`; `"digits"` for smoke runs).
    """

    channels: int = 16
    layers: int = 5
    image_size: int = 32
    batch_size: int = 64
    seed: int = 0
    dataset: str = "cifar10"

    def __post_init__(self) -> None:
        for name in ("channels", "layers", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        if self.channels % 2:
            raise ValueError(f"channels must be even (NB201's reduction blocks halve it). Received: {self.channels}")
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int) or self.image_size < 4:
            raise ValueError(f"image_size must be an integer >= 4. Received: image_size={self.image_size!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0. Received: seed={self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ScoringContext:
    """What the scorers of one benchmark share: proxy settings, real images, trained state.

    Images are the first training images of `proxy.dataset` (never the test split),
    resized to `proxy.image_size` and normalised with the dataset's statistics; they are
    loaded once, on first use, and the same for every cell and every scorer. Tests pass
    arrays instead.

    Args:
        proxy: The child network's settings.
        data_dir: The shared data folder (`cifar10/`); None reads `$TFNAS_DATA_DIR`.
        images: Optional float32 `[N, H, W, 3]` images (already normalised) to use instead of
            loading; `labels` must come with them.
        labels: Their int labels `[N]`.
        num_classes: Classifier width; default the dataset's.
        state: Trained state for scorers that need it (e.g. `{"supernet": ...}`); the
            training-free scorers ignore it.
        log: Called with progress lines (None: silent).
        results: A `tfnas.runs.ResultLog` where a `PerCellScorer` appends each cell's score
            and seconds as it goes and finds the cells an interrupted run already scored
            (None: nothing kept). Its settings must identify the run (scorer, its settings,
            the proxy).
        share: `(position, count)` of this process in a cluster (`tfnas.runs.task_share`):
            a `PerCellScorer` scores the cells `i % count == position` only, and `combine`
            sums the processes' scores (`tfnas.runs.sum_over_tasks`). Default: every cell here.
        combine: The cluster's sum of an array, which every process calls (required when
            `count > 1`).

    Example:
    >>> import numpy as np
    >>> ctx = ScoringContext(ProxyConfig(batch_size=2, image_size=8),
    ...                      images=np.zeros((4, 8, 8, 3), np.float32), labels=np.zeros(4, np.int64))
    >>> ctx.minibatch(1)[0].shape
    (2, 8, 8, 3)
    """

    def __init__(
        self,
        proxy: ProxyConfig | None = None,
        *,
        data_dir: str | None = None,
        images: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        num_classes: int | None = None,
        state: Mapping[str, Any] | None = None,
        log: Callable[[str], None] | None = None,
        results: Any = None,
        share: tuple[int, int] = (0, 1),
        combine: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.proxy = proxy or ProxyConfig()
        self.results = results
        position, count = (int(v) for v in share)
        if not 0 <= position < count or (count > 1 and combine is None):
            raise ValueError(f"share must be (position, count) with 0 <= position < count, and a count above 1 "
                             f"needs combine. Received: share={share!r}, combine={combine!r}")
        self.share, self.combine = (position, count), combine
        self.data_dir = data_dir
        if (images is None) != (labels is None):
            raise ValueError("images and labels must be given together.")
        self._fixed = images is not None
        self._images: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        if images is not None:
            images = np.asarray(images, dtype=np.float32)
            labels = np.asarray(labels).astype(np.int64).reshape(-1)
            expected = (self.proxy.image_size, self.proxy.image_size, 3)
            if images.ndim != 4 or images.shape[1:] != expected or images.shape[0] != labels.shape[0]:
                raise ValueError(
                    f"images must be [N, {expected[0]}, {expected[1]}, 3] with N labels. "
                    f"Received: images {images.shape}, labels {labels.shape}"
                )
            self._images, self._labels = images, labels
        if num_classes is None:
            from tfnas import data

            num_classes = data.get_dataset_spec(self.proxy.dataset).num_classes
        self.num_classes = int(num_classes)
        self.state: dict[str, Any] = dict(state or {})
        self.log = log

    def images(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Returns the first `count` training images and labels (loading them once).

        Raises:
            ValueError: if fewer than `count` images exist (or were given).
            FileNotFoundError: if the data is missing.
        """
        have = 0 if self._images is None else self._images.shape[0]
        if count > have:
            if self._fixed:
                raise ValueError(f"The scorer needs {count} images; the context holds {have}.")
            self._images, self._labels = _load_images(self.proxy, self.data_dir, count)
            if self._images.shape[0] < count:
                raise ValueError(
                    f"The scorer needs {count} {self.proxy.dataset} training images; the split has "
                    f"{self._images.shape[0]}."
                )
        return self._images[:count], self._labels[:count]

    def minibatch(self, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Returns minibatch `index` (images `[index * B, (index + 1) * B)`, B = `proxy.batch_size`)."""
        b = self.proxy.batch_size
        x, y = self.images((index + 1) * b)
        return x[index * b:], y[index * b:]


def _load_images(proxy: ProxyConfig, data_dir: str | None, count: int) -> tuple[np.ndarray, np.ndarray]:
    from tfnas import data
    from tfnas.algorithms.runner import load_training_set
    from tfnas.data.pipeline import normalized_arrays

    native = data.get_dataset_spec(proxy.dataset).image_shape[0]
    size = None if proxy.image_size == native else proxy.image_size
    ds, _, _, _ = load_training_set(proxy.dataset, data_dir, count, size)
    return normalized_arrays(ds, proxy.dataset)


def build_proxy_child(cell: NB201Genotype, context: ScoringContext) -> keras.Model:
    """Builds `cell`'s NAS-Bench-201 network at the context's proxy, seeded by `proxy.seed`.

    Example:
    >>> ctx = ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8))
    >>> from tfnas.ranking.sample import sample_cells
    >>> build_proxy_child(sample_cells(1)[0], ctx).output.shape
    (None, 10)
    """
    from tfnas.children import build_child

    p = context.proxy
    keras.utils.set_random_seed(p.seed)
    return build_child(cell, dataset=p.dataset, channels=p.channels, layers=p.layers, input_size=p.image_size,
                       num_classes=context.num_classes)


def weight_kernels(model: keras.Model) -> list[keras.Variable]:
    """The kernels of the conv and dense layers: the parameters zero-cost proxies score
    (arXiv 2101.08134's `mode='param'`: Conv2d and Linear weights, no biases, no BN)."""
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    return [layer.kernel for layer in model.layers if isinstance(layer, kinds)]


# ---------------------------------------------------------------------------- the interface
class Scorer(abc.ABC):
    """Rates cells: `score(cells, context)` returns one value per cell, higher = better.

    Subclasses set `name` (the registry key), `minibatches` (real minibatches they read;
    informational), and implement `score`, or `score_cell` through `PerCellScorer`.
    Constructor arguments are the scorer's own settings (returned by `settings()` for the
    benchmark's JSON) or trained state it rates cells against.
    """

    name: ClassVar[str] = ""
    minibatches: ClassVar[int] = 0
    #: Whether `score` splits its work over a cluster's processes by `ScoringContext.share`
    #: (each returns every score, summed with `ScoringContext.combine`); then `scored_here`
    #: counts the cells this process rated and `cluster_seconds` holds the `(cpu, wall)`
    #: seconds summed over the processes.
    splits_over_tasks: ClassVar[bool] = False
    cluster_seconds: tuple[float, float] | None = None
    scored_here: int = 0
    #: `(cells, cpu_seconds, wall_seconds)` of the last `score` call's cells read back from
    #: `ScoringContext.results` (scored by an earlier, interrupted run) instead of scored again.
    resumed: tuple[int, float, float] = (0, 0.0, 0.0)

    def settings(self) -> dict[str, Any]:
        """The scorer's own settings, JSON-able (reported next to its results)."""
        return {}

    def upstream_seconds(self) -> dict[str, float]:
        """Seconds spent before `score` that its scores depend on (e.g. members scored
        earlier): `{"cpu_seconds", "supernet_training_seconds"}`, added to its cost."""
        return {"cpu_seconds": 0.0, "supernet_training_seconds": 0.0}

    def prepare(self, context: ScoringContext) -> None:
        """Trains what the scores depend on (e.g. DNA's teacher and students), before `score`
        is timed; its seconds belong in `upstream_seconds`. Default: nothing to train."""
        del context

    @abc.abstractmethod
    def score(self, cells: Sequence[NB201Genotype], context: ScoringContext) -> np.ndarray:
        """Returns a float64 array, one score per cell, in the order of `cells`."""


class PerCellScorer(Scorer):
    """A scorer that rates each cell on its own network: `score_cell(cell, context)`.

    `score` clears the Keras session before each cell (so 200 networks do not pile up in
    memory, and layer names restart) and logs progress about ten times. With
    `context.results`, each cell's score and its CPU and wall seconds are appended there as
    soon as it is scored, and a cell already there is read back, not scored again (its
    seconds in `resumed`). In a cluster (`context.share`) each process scores its share of
    the cells and every process returns all the scores; `cluster_seconds` then holds the
    `(cpu, wall)` seconds summed over the processes and `scored_here` the cells this one rated.
    """

    splits_over_tasks: ClassVar[bool] = True

    @abc.abstractmethod
    def score_cell(self, cell: NB201Genotype, context: ScoringContext) -> float:
        """Returns the score of one cell."""

    def score(self, cells: Sequence[NB201Genotype], context: ScoringContext) -> np.ndarray:
        values = np.empty(len(cells), dtype=np.float64)
        start = time.perf_counter()
        every = max(1, math.ceil(len(cells) / 10))
        done = context.results.read() if context.results is not None else {}
        resumed = [0, 0.0, 0.0]
        position, count = context.share
        spent = [0.0, 0.0]  # this process's cpu and wall seconds, its resumed cells included
        for i, cell in enumerate(cells):
            if i % count != position:
                values[i] = 0.0  # another process's cell: its score arrives in the sum below
                continue
            key = cell.to_string()
            if key in done:
                row = done[key]
                values[i] = row["score"]
                resumed = [resumed[0] + 1, resumed[1] + row["cpu_seconds"], resumed[2] + row["wall_seconds"]]
                spent = [spent[0] + row["cpu_seconds"], spent[1] + row["wall_seconds"]]
                continue
            keras.backend.clear_session()
            cpu0, wall0 = runtime.cpu_seconds(), time.perf_counter()
            with runtime.released_custom_gradients():  # a traced gradient would keep each cell's graph
                values[i] = float(self.score_cell(cell, context))
            cpu, wall = runtime.cpu_seconds() - cpu0, time.perf_counter() - wall0
            spent = [spent[0] + cpu, spent[1] + wall]
            if context.results is not None:
                context.results.append(key, score=values[i], cpu_seconds=cpu, wall_seconds=wall)
            if context.log is not None and ((i + 1) % every == 0 or i + 1 == len(cells)):
                context.log(f"  {self.name}: {i + 1}/{len(cells)} cells, {time.perf_counter() - start:.0f} s"
                            + (f" ({resumed[0]} read back from {context.results.path})" if resumed[0] else ""))
        keras.backend.clear_session()
        self.resumed = (resumed[0], resumed[1], resumed[2])
        self.scored_here = len(range(position, len(cells), count))
        self.cluster_seconds = None
        if count > 1:  # every process calls the sum, in the same order
            values = context.combine(values)
            self.cluster_seconds = tuple(float(v) for v in context.combine(np.asarray(spent)))
        return values


#: name -> scorer class; `make_scorer(name, **options)` builds one.
SCORERS: Registry[type[Scorer]] = Registry("scorer")


def register_scorer(cls: type[Scorer]) -> type[Scorer]:
    """Class decorator: registers a `Scorer` subclass under its `name`.

    Raises:
        ValueError: for an empty or already registered name.
    """
    SCORERS.register(cls.name, cls)
    return cls


def make_scorer(name: str, **options: Any) -> Scorer:
    """Builds the scorer registered as `name` with its options.

    Raises:
        KeyError: for an unknown name (the message lists the known ones).

    Example:
    >>> make_scorer("synflow").name
    'synflow'
    """
    return SCORERS.get(name)(**options)


# ---------------------------------------------------------------------------- the scorers
@register_scorer
class Params(PerCellScorer):
    """Trainable parameter count of the child at the proxy: the naive baseline that
    zero-cost proxies are held to (ZiCo, arXiv 2301.11300, Tab. 1: #Params tau 0.57)."""

    name = "params"

    def score_cell(self, cell: NB201Genotype, context: ScoringContext) -> float:
        from tfnas.budgets.counters import count_params

        return float(count_params(build_proxy_child(cell, context)).trainable)


class _Passthrough(keras.layers.Layer):
    """Stands in for a removed BatchNormalization layer (same call signature)."""

    def call(self, inputs, training=None, mask=None):
        return inputs


def _without_batch_norm(layer: keras.layers.Layer) -> keras.layers.Layer:
    if isinstance(layer, keras.layers.BatchNormalization):
        return _Passthrough(name=layer.name, dtype=layer.dtype_policy)
    return layer  # Shared: the clone reads the original's weights.


@register_scorer
class Synflow(PerCellScorer):
    """Synaptic flow: sum over conv / dense kernels of |theta * dR/dtheta|.

    R = sum(f(1; |theta|)): every weight made positive, one all-ones input, no data and no
    labels. Following the zero-cost proxies' released code (`synflow`, `bn=False`), the
    BatchNorm layers are removed (an identity in their place: the network is linear in
    each weight along every path, and one input image gives no batch statistics), and
    the pass runs in float64: on the full NB201 network R reaches about 1e42 at
    initialisation, beyond float32's 3.4e38. A cell whose output is cut off from the input
    scores 0.

    References:
        - Tanaka et al., Pruning neural networks without any data by iteratively conserving
          synaptic flow, arXiv 2006.05467.
        - Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, arXiv 2101.08134.

    Example:
    >>> ctx = ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8))
    >>> from tfnas.ranking.sample import sample_cells
    >>> float(Synflow().score(sample_cells(1), ctx)[0]) >= 0
    True
    """

    name = "synflow"

    def score_cell(self, cell: NB201Genotype, context: ScoringContext) -> float:
        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy("float64")
        try:
            model = build_proxy_child(cell, context)
            linear = keras.models.clone_model(model, clone_function=_without_batch_norm)
        finally:
            keras.config.set_dtype_policy(policy)
        for variable in linear.trainable_weights:
            variable.assign(keras.ops.abs(variable))
        kernels = weight_kernels(linear)
        size = context.proxy.image_size
        ones = tf.ones((1, size, size, 3), tf.float64)
        with tf.GradientTape() as tape:
            r = tf.reduce_sum(linear(ones, training=False))
        grads = tape.gradient(r, kernels)
        total = 0.0
        for kernel, grad in zip(kernels, grads):
            if grad is not None:
                total += float(tf.reduce_sum(tf.abs(tf.cast(kernel, tf.float64) * grad)))
        return total


@register_scorer
class NASWOT(PerCellScorer):
    """NASWOT: log|K| of the binary ReLU-code kernel of one minibatch.

    Each image's code c is the on/off state (x > 0) of every ReLU unit of the network
    (BatchNorm in training mode, batch statistics, as the reference runs it);
    K[i, j] = c_i . c_j + (1 - c_i) . (1 - c_j), the units where two images agree, summed
    over ReLU layers in float64. The score is log det K (`slogdet`); when K is singular
    (two images with the same code, e.g. a cell whose ops are all `none`, where every
    unit is off) the score is the degenerate `-inf`, which ranks lowest.

    References:
        - Mellor et al., Neural Architecture Search without Training, arXiv 2006.04647.

    Example:
    >>> import numpy as np
    >>> ctx = ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8, batch_size=4),
    ...                      images=np.random.randn(4, 8, 8, 3), labels=np.arange(4))
    >>> from tfnas.genotypes.nb201 import NB201Genotype
    >>> float(NASWOT().score([NB201Genotype(("none",) * 6)], ctx)[0])
    -inf
    """

    name = "naswot"
    minibatches = 1

    def score_cell(self, cell: NB201Genotype, context: ScoringContext) -> float:
        model = build_proxy_child(cell, context)
        relus = [layer.output for layer in model.layers if _is_relu(layer)]
        x, _ = context.minibatch(0)
        n = x.shape[0]
        kernel = np.zeros((n, n), dtype=np.float64)
        if relus:
            codes_model = keras.Model(model.inputs, relus)
            outputs = codes_model(tf.constant(x), training=True)
            for out in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
                codes = tf.cast(tf.reshape(out, (n, -1)) > 0, tf.float32)
                units = int(codes.shape[1])
                # c.c' + (1-c).(1-c)' = 2 c.c' - |c| - |c'| + units; exact in float32 per layer.
                agree = tf.matmul(codes, codes, transpose_b=True).numpy().astype(np.float64)
                ones = tf.reduce_sum(codes, axis=1).numpy().astype(np.float64)
                kernel += 2.0 * agree - ones[:, None] - ones[None, :] + units
        sign, logdet = np.linalg.slogdet(kernel)
        return float(logdet) if sign > 0 else -math.inf


def _is_relu(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        return True
    return isinstance(layer, keras.layers.Activation) and getattr(layer.activation, "__name__", "") == "relu"


def _loss_gradients(model: keras.Model, kernels: list, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Gradients of the mean cross-entropy of (x, y) w.r.t. `kernels` (BN on batch statistics)."""
    with tf.GradientTape() as tape:
        logits = model(tf.constant(x), training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
    grads = tape.gradient(loss, kernels)
    return [np.zeros(k.shape, np.float64) if g is None else g.numpy().astype(np.float64)
            for k, g in zip(kernels, grads)]


@register_scorer
class GradNorm(PerCellScorer):
    """grad_norm: sum over conv / dense kernels of ||dL/dW||_2 on one minibatch.

    L is the mean cross-entropy of the freshly initialised network (BatchNorm in training
    mode), as the zero-cost proxies' `grad_norm` computes it: one L2 norm per layer,
    summed over layers (not the global norm).

    References:
        - Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, arXiv 2101.08134.
    """

    name = "grad_norm"
    minibatches = 1

    def score_cell(self, cell: NB201Genotype, context: ScoringContext) -> float:
        model = build_proxy_child(cell, context)
        x, y = context.minibatch(0)
        grads = _loss_gradients(model, weight_kernels(model), x, y)
        return float(sum(np.linalg.norm(g) for g in grads))


@register_scorer
class ZiCo(PerCellScorer):
    """ZiCo: the inverse coefficient of variation of the gradients across minibatches.

    For each conv / dense kernel, the cross-entropy gradient of each of `minibatches`
    minibatches (BatchNorm in training mode); per weight the mean |g| over minibatches
    divided by the standard deviation (weights whose std is 0 left out); the score is the
    sum over layers of log(sum over the layer's weights), a layer with a zero sum adding
    nothing (as the released `caculate_zico`). Two minibatches by default.

    References:
        - Li et al., ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients,
          arXiv 2301.11300.

    Args:
        minibatches: Minibatches whose gradients are compared (>= 2).
    """

    name = "zico"
    minibatches = 2

    def __init__(self, minibatches: int = 2) -> None:
        if isinstance(minibatches, bool) or not isinstance(minibatches, int) or minibatches < 2:
            raise ValueError(f"ZiCo needs minibatches >= 2. Received: minibatches={minibatches!r}")
        self.minibatches = minibatches

    def settings(self) -> dict[str, Any]:
        return {"minibatches": self.minibatches}

    def score_cell(self, cell: NB201Genotype, context: ScoringContext) -> float:
        model = build_proxy_child(cell, context)
        kernels = weight_kernels(model)
        b = context.proxy.batch_size
        x, y = context.images(self.minibatches * b)
        per_batch = [_loss_gradients(model, kernels, x[i * b:(i + 1) * b], y[i * b:(i + 1) * b])
                     for i in range(self.minibatches)]
        total = 0.0
        for layer_grads in zip(*per_batch):
            g = np.stack([v.reshape(-1) for v in layer_grads])
            std = g.std(axis=0)
            keep = std > 0
            ratio = float(np.sum(np.abs(g).mean(axis=0)[keep] / std[keep]))
            if ratio != 0.0:
                total += math.log(ratio)
        return total


def min_eigen_correlation(feature_map: np.ndarray) -> float:
    """The smallest eigenvalue of the Pearson correlation matrix of one image's channels.

    `feature_map` is `(H, W, C)` (or any `(..., C)`); each channel's `H * W` values are one
    variable; a constant channel's undefined correlations are 0, as MeCo's reference sets
    NaN and inf entries to 0.

    Example:
    >>> x = np.random.default_rng(0).normal(size=(4, 4, 3))
    >>> round(min_eigen_correlation(np.concatenate([x, x[..., :1]], axis=-1)), 6)  # a repeated channel
    0.0
    """
    channels = feature_map.shape[-1]
    values = np.asarray(feature_map, np.float64).reshape(-1, channels)
    if channels < 2 or values.shape[0] < 2:
        return 0.0
    centred = values - values.mean(axis=0)
    norms = np.sqrt(np.sum(centred * centred, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = centred / norms
        corr = unit.T @ unit
    corr = np.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return float(np.linalg.eigvalsh(corr)[0])


@register_scorer
class MeCo(PerCellScorer):
    """MeCo: the sum over layers of the minimum eigenvalue of the channel correlation matrix.

    One forward pass of one image (the first of minibatch 0) through the freshly
    initialised network, BatchNorm in training mode (as the reference's untouched
    `nn.Module`); for every layer output that is a feature map, `min_eigen_correlation`
    of that image's map; the score is their sum. Outputs that are not feature maps (the
    pooled vector, the logits) are one value per channel and add 0 in the reference too.
    The reference hooks every PyTorch module, containers included, so some maps (a
    `ReLUConvBN`'s BatchNorm output, an identity edge's input) count twice there; here
    every Keras layer of the functional network counts once and an identity edge, which
    has no layer, not at all. Published: Spearman rho 0.89 on NATS-Bench-TSS CIFAR-10.

    References:
        - Jiang, Wang & Bie, MeCo: Zero-Shot NAS with One Data and Single Forward Pass via
          Minimum Eigenvalue of Correlation, NeurIPS 2023 (proceedings only: we found no
          arXiv version; code github.com/HamsterMimi/MeCo, `correlation/NAS_Bench_201.py`,
          one real image, batch size 1).

    Example:
    >>> ctx = ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8, batch_size=2),
    ...                      images=np.random.randn(2, 8, 8, 3), labels=np.arange(2))
    >>> from tfnas.genotypes.nb201 import NB201Genotype
    >>> float(MeCo().score([NB201Genotype(("none",) * 6)], ctx)[0]) != 0.0  # stem and reductions still count
    True
    """

    name = "meco"
    minibatches = 1

    def score_cell(self, cell: NB201Genotype, context: ScoringContext) -> float:
        model = build_proxy_child(cell, context)
        maps = [layer.output for layer in model.layers
                if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4]
        x, _ = context.minibatch(0)
        outputs = keras.Model(model.inputs, maps)(tf.constant(x[:1]), training=True)
        return float(sum(min_eigen_correlation(out.numpy()[0]) for out in outputs))
