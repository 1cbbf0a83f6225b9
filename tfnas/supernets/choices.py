"""Search spaces written in Keras: layer, input and value choices inside an ordinary model.

A user writes a function that builds an ordinary Keras model (functional or subclassed) and
marks its open decisions with three primitives, each under a stable label:

- `layer_choice(candidates, label)`: one of several candidate layers with the same output
  shape (e.g. a 3x3 or a 5x5 convolution, or an identity);
- `input_choice(inputs, n_chosen, label)`: `n_chosen` of several tensors, summed (e.g. which
  earlier features a block adds: DARTS's and ENAS's input choice);
- `value_choice(values, label)`: one of several plain values, usable wherever a layer
  argument is (kernel size, width, expansion, repeats).

`KerasSpace(build)` runs the function once to discover the labels and their candidates (the
space). Then:

- `space.fixed_model(record)` builds the model again with every choice replaced by the chosen
  candidate: plain Keras layers only (`input_choice` becomes an index or a `keras.layers.Add`,
  `value_choice` the value), no tfnas layer, so it trains, saves as `.keras` and loads without
  tfnas, and exports like any Keras model;
- `space.supernet()` builds it with every layer and input choice mixed by a softmax over its
  architecture weights (DARTS's continuous relaxation, Liu et al., arXiv 1806.09055): a model
  with `arch_variables` and `weight_variables`, which the bilevel searches of
  `tfnas.algorithms` (`Darts`, `DartsMinus`, ...) train as they train a built-in supernet;
  `supernet_record(supernet)` derives the record (the strongest candidate per choice). A
  value choice cannot be mixed by weight sharing (the layers it shapes differ); a space with
  one is searched by the multi-trial strategies (`random_record`, `mutate_record`), or the
  choice is written as a `layer_choice` over the shaped layers.

A choice record is a dict `label -> chosen` (an index for a layer choice, a sorted list of
indices for an input choice, the value for a value choice), saved as JSON lines, one line
per label (`save_record` / `load_record`).

Nested choices (a choice inside a candidate of another) are not supported: discovery builds
every candidate once, and each label must be met once per build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np

_STATE = threading.local()


class _Build:
    """What the current build does with the choices it meets: `discover` (record them, mix the
    choices, take a value choice's first value), `supernet` (mix; value choices are refused)
    or `fixed` (return the recorded candidate)."""

    def __init__(self, mode: str, record: dict[str, Any] | None = None, sampling: _Sampling | None = None) -> None:
        self.mode = mode
        self.record = record or {}
        self.sampling = sampling
        self.choices: dict[str, dict[str, Any]] = {}
        self.used: set[str] = set()

    def meet(self, label: str, kind: str, size: int, **info: Any) -> None:
        if not isinstance(label, str) or not label:
            raise ValueError(f"A choice needs a non-empty string label. Received: label={label!r}")
        if label in self.used:
            raise ValueError(f"The choice label {label!r} is used twice in one model; every choice needs its own "
                             "label (a loop can number them: f'block{i}_kernel').")
        self.used.add(label)
        if size < 1:
            raise ValueError(f"Choice {label!r} has no candidates.")
        self.choices[label] = {"kind": kind, "size": size, **info}


@contextlib.contextmanager
def _building(build: _Build) -> Iterator[_Build]:
    previous = getattr(_STATE, "build", None)
    _STATE.build = build
    try:
        yield build
    finally:
        _STATE.build = previous


def _current(primitive: str) -> _Build:
    build = getattr(_STATE, "build", None)
    if build is None:
        raise RuntimeError(f"{primitive} is called outside a space's build: build the model through "
                           "KerasSpace(build_fn) (fixed_model, supernet), not by calling build_fn directly.")
    return build


def _chosen(build: _Build, label: str) -> Any:
    if label not in build.record:
        raise ValueError(f"The choice record has no entry for {label!r}; it must name every label of the space "
                         f"({', '.join(sorted(build.used | set(build.record)))} ...).")
    return build.record[label]


class _Sampling:
    """The shared state of a supernet's choices: the Gumbel temperature of a sampling supernet (set
    by GDAS's schedule; None: softmax mixing) and DARTS-'s auxiliary-skip coefficient beta (set by
    its schedule; None: no auxiliary skip)."""

    def __init__(self, sampling: bool = True, aux_skip: bool = False) -> None:
        self.temperature = keras.Variable(1.0, trainable=False, dtype="float32", name="temperature") \
            if sampling else None
        self.aux_skip_beta = keras.Variable(1.0, trainable=False, dtype="float32", name="aux_skip_beta") \
            if aux_skip else None


def _gumbel_weights(alpha, temperature, k: int, seed_generator):
    """Straight-through hard Gumbel top-k weights (GDAS, arXiv 1910.04465, for k = 1): the forward
    value is the 0/1 mask of the k largest perturbed logits, the gradient that of
    `softmax((log_softmax(alpha) + g) / temperature)`; and the chosen indices."""
    uniform = keras.random.uniform(keras.ops.shape(alpha), minval=1e-20, maxval=1.0, seed=seed_generator)
    perturbed = keras.ops.log_softmax(alpha) - keras.ops.log(-keras.ops.log(uniform))
    soft = keras.ops.softmax(perturbed / temperature)
    _, chosen = keras.ops.top_k(perturbed, k)
    hard = keras.ops.sum(keras.ops.one_hot(chosen, keras.ops.shape(alpha)[0]), axis=0)
    return hard - keras.ops.stop_gradient(soft) + soft, chosen


class _Mixed(keras.layers.Layer):
    """The architecture weights of one choice: `alpha`, initialised as DARTS's `1e-3 * N(0, 1)`."""

    def __init__(self, size: int, label: str, sampling: _Sampling | None, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", label), **kwargs)
        self.size, self.label = int(size), label
        # Held in a tuple so that Keras does not track the shared temperature as this layer's weight.
        self._sampling = (sampling,)
        self.seed_generator = keras.random.SeedGenerator(0) if sampling is not None and sampling.temperature is not None \
            else None

    def build(self, input_shape) -> None:
        self.alpha = self.add_weight(shape=(self.size,), name="alpha", trainable=True,
                                     initializer=keras.initializers.RandomNormal(stddev=1e-3))
        self.built = True

    @property
    def sampling(self) -> _Sampling | None:
        """The shared state when this choice samples (GDAS), else None."""
        state = self._sampling[0]
        return state if state is not None and state.temperature is not None else None

    @property
    def aux_skip_beta(self):
        state = self._sampling[0]
        return None if state is None else state.aux_skip_beta


class MixedLayerChoice(_Mixed):
    """A layer choice in a supernet.

    Softmax mixing (DARTS, arXiv 1806.09055): `sum_i softmax(alpha)_i * candidate_i(x)`.
    Sampling (GDAS, arXiv 1910.04465; a supernet built with `mixing="gumbel"`): one candidate
    drawn per call by hard Gumbel-softmax at the supernet's temperature, only it computed
    (`keras.ops.switch`), its output scaled by the straight-through weight `h_k`, so the
    gradient reaches alpha.

    Raises:
        ValueError: when the candidates' outputs differ in shape.
    """

    def __init__(self, candidates: Sequence[keras.layers.Layer], label: str, sampling: _Sampling | None = None,
                 **kwargs: Any) -> None:
        super().__init__(len(candidates), label, sampling, **kwargs)
        self.candidates = list(candidates)

    def call(self, inputs, training=None):
        if self.sampling is None or keras.backend.is_keras_tensor(inputs):
            # Mixing, or the symbolic call of a functional build: every candidate runs (and is built).
            outputs = [candidate(inputs, training=training) for candidate in self.candidates]
            shapes = {tuple(o.shape[1:]) for o in outputs}
            if len(shapes) > 1:
                raise ValueError(f"The candidates of layer choice {self.label!r} give outputs of different shapes "
                                 f"{sorted(shapes, key=str)}; every candidate must map the input to the same shape.")
            weights = keras.ops.softmax(self.alpha)
            mixed = sum(weights[i] * output for i, output in enumerate(outputs))
            if self.aux_skip_beta is not None and tuple(outputs[0].shape[1:]) == tuple(inputs.shape[1:]):
                mixed = mixed + self.aux_skip_beta * inputs  # DARTS-: beta * x outside the softmax
            return mixed
        weights, chosen = _gumbel_weights(self.alpha, self.sampling.temperature, 1, self.seed_generator)
        index = chosen[0]
        branches = [lambda x, c=candidate: c(x, training=training) for candidate in self.candidates]
        return keras.ops.take(weights, index) * keras.ops.switch(index, branches, inputs)


def _check_inputs(label: str, num_inputs: int, inputs) -> list:
    inputs = list(inputs)
    if len(inputs) != num_inputs:
        raise ValueError(f"Input choice {label!r} was made over {num_inputs} inputs, called with {len(inputs)}.")
    return inputs


class MixedInputChoice(_Mixed):
    """An input choice in a supernet: `sum_i softmax(alpha)_i * input_i` (softmax mixing), or the
    sum of `n_chosen` inputs drawn by hard Gumbel top-k, each scaled by its straight-through
    weight (sampling).

    Raises:
        ValueError: when the number of inputs is not the choice's.
    """

    def __init__(self, num_inputs: int, n_chosen: int, label: str, sampling: _Sampling | None = None,
                 **kwargs: Any) -> None:
        super().__init__(num_inputs, label, sampling, **kwargs)
        self.num_inputs, self.n_chosen = int(num_inputs), int(n_chosen)

    def call(self, inputs):
        inputs = _check_inputs(self.label, self.num_inputs, inputs)
        if self.sampling is None:
            weights = keras.ops.softmax(self.alpha)
        else:
            weights, _ = _gumbel_weights(self.alpha, self.sampling.temperature, self.n_chosen, self.seed_generator)
        return sum(weights[i] * x for i, x in enumerate(inputs))


class _SelectInputs:
    """A fixed input choice: the chosen input itself, or the `keras.layers.Add` of the chosen ones."""

    def __init__(self, indices: Sequence[int], num_inputs: int, label: str) -> None:
        self.indices, self.num_inputs, self.label = list(indices), num_inputs, label

    def __call__(self, inputs):
        inputs = _check_inputs(self.label, self.num_inputs, inputs)
        chosen = [inputs[i] for i in self.indices]
        return chosen[0] if len(chosen) == 1 else keras.layers.Add(name=self.label)(chosen)


def layer_choice(candidates: Sequence[keras.layers.Layer], label: str):
    """One of `candidates` (Keras layers with the same output shape), under `label`.

    Returns, by the build: the chosen candidate itself (`KerasSpace.fixed_model`) or a
    `MixedLayerChoice` over all of them (discovery, `KerasSpace.supernet`). Call the result on
    the input as any layer.

    Raises:
        ValueError: for an empty or non-layer candidate list, a repeated label, or a record
            whose index is out of range.
    """
    build = _current("layer_choice")
    candidates = list(candidates)
    if not all(isinstance(c, keras.layers.Layer) for c in candidates):
        raise ValueError(f"layer_choice {label!r} takes Keras layers. Received: "
                         f"{[type(c).__name__ for c in candidates]}")
    build.meet(label, "layer", len(candidates), names=[c.name for c in candidates])
    if build.mode == "fixed":
        index = _chosen(build, label)
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(candidates):
            raise ValueError(f"Layer choice {label!r} has {len(candidates)} candidates; the record chose {index!r}.")
        return candidates[int(index)]
    return MixedLayerChoice(candidates, label, build.sampling)


def input_choice(inputs: Sequence[Any], n_chosen: int, label: str):
    """The sum of `n_chosen` of `inputs` (tensors of one shape), under `label`.

    Raises:
        ValueError: when `n_chosen` is not in [1, len(inputs)], or the record's indices are not
            `n_chosen` distinct indices of the inputs.
    """
    build = _current("input_choice")
    inputs = list(inputs)
    if not 1 <= int(n_chosen) <= len(inputs):
        raise ValueError(f"input_choice {label!r} chooses n_chosen in [1, {len(inputs)}]. Received: {n_chosen!r}")
    build.meet(label, "input", len(inputs), n_chosen=int(n_chosen))
    if build.mode == "fixed":
        chosen = _chosen(build, label)
        indices = sorted(int(i) for i in chosen) if isinstance(chosen, (list, tuple)) else None
        if indices is None or len(set(indices)) != int(n_chosen) or not all(0 <= i < len(inputs) for i in indices):
            raise ValueError(f"Input choice {label!r} takes {n_chosen} distinct indices in [0, {len(inputs)}); "
                             f"the record chose {chosen!r}.")
        return _SelectInputs(indices, len(inputs), label)(inputs)
    return MixedInputChoice(len(inputs), int(n_chosen), label, build.sampling)(inputs)


def value_choice(values: Sequence[Any], label: str):
    """One of `values` (plain JSON values: ints, floats, strings), under `label`.

    Returns the chosen value (the first one while the space is discovered).

    Raises:
        ValueError: for no values, a record value not among them, or in a supernet build
            (a value choice cannot be mixed by weight sharing; use the multi-trial strategies, or
            a `layer_choice` over the layers the values would shape).
    """
    build = _current("value_choice")
    values = list(values)
    build.meet(label, "value", len(values), values=values)
    if build.mode == "supernet":
        raise ValueError(f"Value choice {label!r} cannot be mixed in a weight-sharing supernet: the layers it shapes "
                         "differ. Search this space with a multi-trial strategy (random_record / mutate_record), or "
                         "write the choice as layer_choice([...]) over the layers each value would build.")
    if build.mode == "fixed":
        value = _chosen(build, label)
        if value not in values:
            raise ValueError(f"Value choice {label!r} is one of {values}; the record chose {value!r}.")
        return value
    return values[0]


class KerasSpace:
    """A search space written as a Keras model-building function with choices in it.

    Args:
        build: A function of no arguments returning a `keras.Model` whose choices are made with
            `layer_choice`, `input_choice` and `value_choice`.

    Raises:
        ValueError: when `build` makes no choice or does not return a Keras model.

    Example:
    >>> def build():
    ...     inputs = keras.Input((32, 32, 3))
    ...     width = value_choice([16, 32], "width")
    ...     x = layer_choice([keras.layers.Conv2D(width, 3, padding="same"),
    ...                       keras.layers.Conv2D(width, 5, padding="same")], "conv")(inputs)
    ...     return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
    >>> space = KerasSpace(build)  # doctest: +SKIP
    >>> model = space.fixed_model({"width": 32, "conv": 1})  # doctest: +SKIP
    """

    def __init__(self, build: Callable[[], keras.Model]) -> None:
        self.build = build
        with _building(_Build("discover")) as found:
            model = build()
        self._check_model(model)
        if not found.choices:
            raise ValueError("The build function makes no choice: mark the open decisions with layer_choice, "
                             "input_choice or value_choice.")
        self.choices: dict[str, dict[str, Any]] = found.choices

    @staticmethod
    def _check_model(model) -> None:
        if not isinstance(model, keras.Model):
            raise ValueError(f"The build function must return a keras.Model. Received: {type(model).__name__}")

    @property
    def labels(self) -> list[str]:
        return list(self.choices)

    def size(self) -> int:
        """The number of architectures in the space (records)."""
        from math import prod

        return prod(self._options(choice) for choice in self.choices.values())

    def check_record(self, record: dict[str, Any]) -> None:
        """Raises ValueError when `record` misses a label of the space or names one it lacks."""
        missing = [label for label in self.choices if label not in record]
        extra = [label for label in record if label not in self.choices]
        if missing or extra:
            raise ValueError(f"The choice record does not fit the space: missing {missing}, unknown {extra}.")

    def fixed_model(self, record: dict[str, Any]) -> keras.Model:
        """The model with every choice replaced by its chosen candidate: plain Keras layers only.

        Raises:
            ValueError: for a record that does not fit the space.
        """
        self.check_record(record)
        with _building(_Build("fixed", dict(record))):
            model = self.build()
        self._check_model(model)
        return model

    def supernet(self, mixing: str = "softmax", aux_skip: bool = False) -> ChoiceSupernet:
        """The weight-sharing supernet: every layer and input choice mixed by softmax(alpha)
        (`mixing="softmax"`: DARTS and its first-order family) or sampled by hard Gumbel-softmax
        (`"gumbel"`: GDAS; the supernet then has the `temperature` its schedule sets).

        `aux_skip=True` (softmax only; DARTS-, arXiv 2009.01027) adds `beta * x` outside the
        softmax to every layer choice whose output has its input's shape; the supernet then has
        the `aux_skip_beta` that `DartsMinus`'s schedule decays. A choice that changes the shape
        (a stride or a width) gets none: the built-in cells' factorized-reduce skip needs
        channel and stride facts a user's layer does not state.

        Raises:
            ValueError: when the space has a value choice, for an unknown `mixing`, or
                `aux_skip` with `mixing="gumbel"`.
        """
        if mixing not in ("softmax", "gumbel"):
            raise ValueError(f"mixing must be 'softmax' or 'gumbel'. Received: {mixing!r}")
        if aux_skip and mixing != "softmax":
            raise ValueError("aux_skip (DARTS-) works with softmax mixing only.")
        sampling = _Sampling(sampling=mixing == "gumbel", aux_skip=aux_skip) if mixing == "gumbel" or aux_skip \
            else None
        with _building(_Build("supernet", sampling=sampling)):
            model = self.build()
        self._check_model(model)
        return ChoiceSupernet(model, sampling)

    # -------------------------------------------------------------- multi-trial moves
    def random_record(self, rng: np.random.Generator) -> dict[str, Any]:
        """A uniformly drawn record."""
        return {label: self._draw(choice, rng) for label, choice in self.choices.items()}

    def mutate_record(self, record: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """`record` with one choice (of those with more than one option) redrawn to a different option."""
        self.check_record(record)
        open_labels = [label for label, c in self.choices.items() if self._options(c) > 1]
        if not open_labels:
            return dict(record)
        label = open_labels[int(rng.integers(len(open_labels)))]
        while True:
            drawn = self._draw(self.choices[label], rng)
            if drawn != record[label]:
                return {**record, label: drawn}

    @staticmethod
    def _options(choice: dict[str, Any]) -> int:
        from math import comb

        return comb(choice["size"], choice["n_chosen"]) if choice["kind"] == "input" else choice["size"]

    @staticmethod
    def _draw(choice: dict[str, Any], rng: np.random.Generator) -> Any:
        if choice["kind"] == "layer":
            return int(rng.integers(choice["size"]))
        if choice["kind"] == "input":
            return sorted(int(i) for i in rng.choice(choice["size"], size=choice["n_chosen"], replace=False))
        return choice["values"][int(rng.integers(choice["size"]))]


class ChoiceSupernet(keras.Model):
    """A user space's supernet: the mixed model, with its architecture weights split out.

    `arch_variables` are the `alpha` of every mixed choice, `weight_variables` every other
    trainable variable: the interface of `tfnas.supernets.Supernet` that
    `tfnas.algorithms.BilevelSearch` trains. A sampling supernet also has `temperature`, which
    `tfnas.algorithms.Gdas`'s schedule sets (None for softmax mixing), and one with the auxiliary
    skip has the `aux_skip_beta` that `DartsMinus`'s schedule sets (None without).
    """

    def __init__(self, model: keras.Model, sampling: _Sampling | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.temperature = sampling.temperature if sampling is not None else None
        self.aux_skip_beta = sampling.aux_skip_beta if sampling is not None else None

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def mixed_choices(self) -> list[MixedLayerChoice | MixedInputChoice]:
        return [layer for layer in self.model._flatten_layers(include_self=False)
                if isinstance(layer, (MixedLayerChoice, MixedInputChoice))]

    @property
    def arch_variables(self) -> list:
        return [choice.alpha for choice in self.mixed_choices()]

    @property
    def weight_variables(self) -> list:
        arch = {id(v) for v in self.arch_variables}
        return [v for v in self.model.trainable_variables if id(v) not in arch]

    def arch_state(self) -> dict[str, np.ndarray]:
        """Per choice label, softmax(alpha): the search runner's history, plots and TensorBoard."""
        return {choice.label: np.asarray(keras.ops.convert_to_numpy(keras.ops.softmax(choice.alpha)))
                for choice in self.mixed_choices()}

    def export(self) -> ChoiceRecord:
        """The derived record (`supernet_record`), with the genotype interface the runner writes."""
        return ChoiceRecord(supernet_record(self))


@dataclasses.dataclass(frozen=True)
class ChoiceRecord:
    """A user space's searched record where the search runner expects a genotype.

    `to_string()` is the record as one JSON line; `to_dict()` adds the format tag, and
    `genotype.json` written by the runner loads back with `load_record`-style `["record"]`.
    """

    record: dict[str, Any]
    space: str = "keras"

    def to_string(self) -> str:
        return json.dumps(self.record, sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "tfnas.choice_record/1", "space": self.space, "record": self.record}


def keras_space_from_path(path: str, input_shape: tuple[int, int, int], num_classes: int) -> KerasSpace:
    """The `KerasSpace` of a user's build function named `"package.module:function"`.

    The function is called as `function(input_shape, num_classes)` and returns a Keras model
    with choices (`layer_choice`, `input_choice`, `value_choice`); the module must be
    importable (on `PYTHONPATH` or in the working directory).

    Raises:
        ValueError: if `path` is not `module:function`, the module does not import, or the
            name is missing or not callable.
    """
    import importlib

    module_name, _, function_name = path.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"A space written in Keras is named 'package.module:function'. Received: {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"Cannot import {module_name!r} for the space {path!r} ({err}); put its folder on "
                         "PYTHONPATH or run from it.") from None
    build = getattr(module, function_name, None)
    if not callable(build):
        raise ValueError(f"{module_name} has no function {function_name!r} (the space {path!r}); it must be "
                         "build(input_shape, num_classes) -> keras.Model with choices.")
    return KerasSpace(lambda: build(tuple(input_shape), int(num_classes)))


def supernet_record(supernet: ChoiceSupernet) -> dict[str, Any]:
    """The record a trained supernet derives: per layer choice the largest alpha, per input
    choice the `n_chosen` largest (DARTS's derivation, arXiv 1806.09055)."""
    record: dict[str, Any] = {}
    for choice in supernet.mixed_choices():
        alpha = np.asarray(keras.ops.convert_to_numpy(choice.alpha))
        if isinstance(choice, MixedLayerChoice):
            record[choice.label] = int(np.argmax(alpha))
        else:
            record[choice.label] = sorted(int(i) for i in np.argsort(-alpha, kind="stable")[:choice.n_chosen])
    return record


def save_record(record: dict[str, Any], path: str) -> None:
    """Writes `record` as JSON lines, one `{"label": ..., "chosen": ...}` per label."""
    with open(path, "w", encoding="utf-8") as f:
        for label, chosen in record.items():
            f.write(json.dumps({"label": label, "chosen": chosen}) + "\n")


def load_record(path: str) -> dict[str, Any]:
    """Reads a record written by `save_record`.

    Raises:
        ValueError: for a line that is not a `{"label", "chosen"}` object, or a label given twice.
    """
    record: dict[str, Any] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                label, chosen = row["label"], row["chosen"]
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{path}, line {number}, is not a choice line ({err}); each line is "
                                 '{"label": ..., "chosen": ...}.') from None
            if label in record:
                raise ValueError(f"{path}, line {number}: label {label!r} is given twice.")
            record[label] = chosen
    return record
