"""Keras-native choices: discovery, fixed models of plain Keras layers, a DARTS supernet, records."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfnas.supernets.choices import (
    ChoiceSupernet,
    KerasSpace,
    MixedInputChoice,
    MixedLayerChoice,
    input_choice,
    layer_choice,
    load_record,
    save_record,
    supernet_record,
    value_choice,
)


def _build_layers_and_inputs():
    """A tiny residual net: a choice of first convolution, a choice of which features the head adds."""
    inputs = keras.Input((8, 8, 3))
    stem = keras.layers.Conv2D(4, 1, name="stem")(inputs)
    x = layer_choice([keras.layers.Conv2D(4, 3, padding="same", name="conv3"),
                      keras.layers.Conv2D(4, 5, padding="same", name="conv5"),
                      keras.layers.Identity(name="identity")], "block")(stem)
    y = keras.layers.Conv2D(4, 1, name="mix")(x)
    z = input_choice([stem, x, y], n_chosen=2, label="head_inputs")
    logits = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(z))
    return keras.Model(inputs, logits)


def _build_with_value():
    inputs = keras.Input((8, 8, 3))
    width = value_choice([2, 6], "width")
    kernel = value_choice([1, 3], "kernel")
    x = keras.layers.Conv2D(width, kernel, padding="same")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))


def _toy_bilevel(n: int, seed: int) -> tf.data.Dataset:
    """`n` random 8x8 images labelled by the sign of their mean, as both parts of a bilevel batch of 8."""
    x = np.random.default_rng(seed).normal(size=(n, 8, 8, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64")
    return tf.data.Dataset.from_tensor_slices(((x, y), (x, y))).batch(8)


def test_discovery_finds_every_choice_and_counts_the_space():
    space = KerasSpace(_build_layers_and_inputs)
    assert space.labels == ["block", "head_inputs"]
    assert space.choices["block"] == {"kind": "layer", "size": 3, "names": ["conv3", "conv5", "identity"]}
    assert space.choices["head_inputs"] == {"kind": "input", "size": 3, "n_chosen": 2}
    assert space.size() == 3 * 3  # 3 layers x C(3, 2) input pairs
    assert KerasSpace(_build_with_value).size() == 4


def test_a_fixed_model_is_plain_keras_and_saves_and_loads_without_tfnas(tmp_path):
    space = KerasSpace(_build_layers_and_inputs)
    model = space.fixed_model({"block": 1, "head_inputs": [0, 2]})
    modules = {type(layer).__module__.split(".")[0] for layer in model._flatten_layers(include_self=False)}
    assert modules == {"keras"}
    names = {layer.name for layer in model.layers}
    assert "conv5" in names and "conv3" not in names and "identity" not in names and "head_inputs" in names
    # The fixed model is the plain model a user would write for that record, weight for weight.
    inputs = keras.Input((8, 8, 3))
    stem = keras.layers.Conv2D(4, 1)(inputs)
    x = keras.layers.Conv2D(4, 5, padding="same")(stem)
    y = keras.layers.Conv2D(4, 1)(x)
    plain = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(
        keras.layers.Add()([stem, y]))))
    plain.set_weights(model.get_weights())
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(plain(images), model(images), atol=1e-6)
    path = str(tmp_path / "fixed.keras")
    model.save(path)
    # Loaded in a fresh interpreter that never imports tfnas.
    import subprocess
    import sys
    code = ("import keras, numpy as np, sys; m = keras.saving.load_model(sys.argv[1]); "
            "print(float(np.asarray(m(np.ones((1, 8, 8, 3), 'float32'))).sum()))")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(
        float(np.asarray(model(np.ones((1, 8, 8, 3), "float32"))).sum()), abs=1e-5)


def test_one_chosen_input_is_the_input_itself_and_values_shape_layers():
    def build():
        inputs = keras.Input((4,))
        a = keras.layers.Dense(3, name="a")(inputs)
        b = keras.layers.Dense(3, name="b")(inputs)
        return keras.Model(inputs, input_choice([a, b], 1, "pick"))

    model = KerasSpace(build).fixed_model({"pick": [1]})
    assert [layer.name for layer in model.layers][-1] == "b"
    fixed = KerasSpace(_build_with_value).fixed_model({"width": 6, "kernel": 3})
    conv = [layer for layer in fixed.layers if isinstance(layer, keras.layers.Conv2D)][0]
    assert conv.filters == 6 and conv.kernel_size == (3, 3)


def test_darts_searches_a_user_space_and_derives_a_record():
    from tfnas.algorithms.darts import Darts

    keras.utils.set_random_seed(0)
    space = KerasSpace(_build_layers_and_inputs)
    supernet = space.supernet()
    assert isinstance(supernet, ChoiceSupernet)
    kinds = sorted(type(c).__name__ for c in supernet.mixed_choices())
    assert kinds == [MixedInputChoice.__name__, MixedLayerChoice.__name__]
    supernet(np.zeros((1, 8, 8, 3), "float32"))
    arch = supernet.arch_variables
    assert [tuple(v.shape) for v in arch] == [(3,), (3,)]
    assert {id(v) for v in arch}.isdisjoint(id(v) for v in supernet.weight_variables)
    assert len(supernet.weight_variables) + 2 == len(supernet.trainable_variables)
    search = Darts(supernet, Darts.default_config())
    search.compile(keras.optimizers.SGD(0.05), keras.optimizers.Adam(0.05))
    data = _toy_bilevel(32, seed=0)
    before = [np.array(v) for v in arch]
    frozen = np.array(supernet.weight_variables[0])
    search.fit(data, epochs=1, verbose=0)
    assert all(np.abs(np.array(v) - b).max() > 1e-4 for v, b in zip(arch, before))  # both choices searched
    assert np.abs(np.array(supernet.weight_variables[0]) - frozen).max() > 0
    record = supernet_record(supernet)
    assert set(record) == {"block", "head_inputs"} and record["block"] == int(np.argmax(np.array(arch[0])))
    assert len(record["head_inputs"]) == 2
    space.fixed_model(record)  # the derived record builds


def test_bad_spaces_and_records_say_what_is_wrong():
    with pytest.raises(ValueError, match="cannot be mixed in a weight-sharing supernet"):
        KerasSpace(_build_with_value).supernet()
    space = KerasSpace(_build_layers_and_inputs)
    with pytest.raises(ValueError, match=r"missing \['head_inputs'\], unknown \['nope'\]"):
        space.fixed_model({"block": 0, "nope": 1})
    with pytest.raises(ValueError, match="3 candidates; the record chose 3"):
        space.fixed_model({"block": 3, "head_inputs": [0, 1]})
    with pytest.raises(ValueError, match="2 distinct indices"):
        space.fixed_model({"block": 0, "head_inputs": [1, 1]})
    with pytest.raises(ValueError, match=r"one of \[2, 6\]; the record chose 4"):
        KerasSpace(_build_with_value).fixed_model({"width": 4, "kernel": 1})
    with pytest.raises(RuntimeError, match="outside a space's build"):
        layer_choice([keras.layers.Identity()], "x")

    def twice():
        inputs = keras.Input((4,))
        x = layer_choice([keras.layers.Dense(2)], "same")(inputs)
        return keras.Model(inputs, layer_choice([keras.layers.Dense(2)], "same")(x))

    with pytest.raises(ValueError, match="used twice"):
        KerasSpace(twice)
    with pytest.raises(ValueError, match="makes no choice"):
        KerasSpace(lambda: keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))

    def mismatched():
        inputs = keras.Input((4,))
        return keras.Model(inputs, layer_choice([keras.layers.Dense(2), keras.layers.Dense(3)], "widths")(inputs))

    with pytest.raises(ValueError, match="outputs of different shapes"):
        KerasSpace(mismatched)


def test_random_and_mutated_records_and_the_record_file(tmp_path):
    space = KerasSpace(_build_layers_and_inputs)
    rng = np.random.default_rng(1)
    records = [space.random_record(rng) for _ in range(40)]
    assert {r["block"] for r in records} == {0, 1, 2}
    assert {tuple(r["head_inputs"]) for r in records} == {(0, 1), (0, 2), (1, 2)}
    for record in records[:10]:
        child = space.mutate_record(record, rng)
        assert sum(child[k] != record[k] for k in record) == 1
        space.fixed_model(child)
    path = tmp_path / "record.jsonl"
    save_record(records[0], str(path))
    assert [json.loads(line)["label"] for line in path.read_text().splitlines()] == ["block", "head_inputs"]
    assert load_record(str(path)) == records[0]
    path.write_text('{"label": "block", "chosen": 1}\nnot json\n')
    with pytest.raises(ValueError, match="line 2, is not a choice line"):
        load_record(str(path))


def test_gdas_samples_one_candidate_per_call_and_its_temperature_schedule_drives_the_supernet():
    from tfnas.algorithms.gdas import Gdas

    keras.utils.set_random_seed(0)
    space = KerasSpace(_build_layers_and_inputs)
    supernet = space.supernet(mixing="gumbel")
    assert KerasSpace(_build_layers_and_inputs).supernet().temperature is None
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    block = [c for c in supernet.mixed_choices() if isinstance(c, MixedLayerChoice)][0]
    # One candidate computed per call: the output equals h_k * candidate_k(x) for some k, h_k = 1 forward.
    stem = supernet.model.get_layer("stem")(images)
    candidates = [np.asarray(c(stem)) for c in block.candidates]
    for _ in range(5):
        out = np.asarray(block(stem))
        assert min(np.abs(out - c).max() for c in candidates) < 1e-6
    # The gradient reaches alpha through the straight-through weight, and only the sampled weights move.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(block(stem))
    grads = tape.gradient(loss, [block.alpha] + [c.kernel for c in block.candidates[:2]])
    assert np.abs(np.asarray(grads[0])).max() > 0
    assert sum(g is not None and np.abs(np.asarray(g)).max() > 0 for g in grads[1:]) <= 1
    search = Gdas(supernet, dataclasses.replace(Gdas.default_config(), epochs=2))
    search.compile(keras.optimizers.SGD(0.05), keras.optimizers.Adam(0.05))
    data = _toy_bilevel(16, seed=0)
    before = [np.array(v) for v in supernet.arch_variables]
    search.fit(data, epochs=1, verbose=0, callbacks=search.callbacks())
    assert float(supernet.temperature) == pytest.approx(search.config.tau_max)
    assert any(np.abs(np.array(v) - b).max() > 1e-4 for v, b in zip(supernet.arch_variables, before))
    space.fixed_model(supernet_record(supernet))


def test_darts_minus_adds_a_decaying_auxiliary_skip_to_shape_keeping_choices():
    from tfnas.algorithms.darts_minus import DartsMinus

    keras.utils.set_random_seed(0)
    space = KerasSpace(_build_layers_and_inputs)
    supernet = space.supernet(aux_skip=True)
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    block = [c for c in supernet.mixed_choices() if isinstance(c, MixedLayerChoice)][0]
    stem = supernet.model.get_layer("stem")(images)
    with_skip = np.asarray(block(stem))
    supernet.aux_skip_beta.assign(0.0)
    np.testing.assert_allclose(with_skip - np.asarray(block(stem)), np.asarray(stem), atol=1e-5)  # exactly beta * x
    with pytest.raises(ValueError, match="softmax mixing only"):
        space.supernet(mixing="gumbel", aux_skip=True)
    with pytest.raises(ValueError, match="auxiliary skip"):
        DartsMinus(space.supernet(), DartsMinus.default_config())
    search = DartsMinus(supernet, dataclasses.replace(DartsMinus.default_config(), epochs=2))
    search.compile(keras.optimizers.SGD(0.05), keras.optimizers.Adam(0.05))
    x = np.random.default_rng(1).normal(size=(8, 8, 8, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(((x, np.arange(8) % 3), (x, np.arange(8) % 3))).batch(4)
    search.fit(data, epochs=2, verbose=0, callbacks=search.callbacks())
    assert float(supernet.aux_skip_beta) == pytest.approx(0.5)  # linear 1 -> 0: epoch 1 of 2


def _hand_written(record):
    """The plain Keras model a user would write for `record` of `_build_layers_and_inputs`."""
    inputs = keras.Input((8, 8, 3))
    stem = keras.layers.Conv2D(4, 1)(inputs)
    block = [keras.layers.Conv2D(4, 3, padding="same"), keras.layers.Conv2D(4, 5, padding="same"),
             keras.layers.Identity()][record["block"]]
    x = block(stem)
    y = keras.layers.Conv2D(4, 1)(x)
    chosen = [[stem, x, y][i] for i in record["head_inputs"]]
    z = chosen[0] if len(chosen) == 1 else keras.layers.Add()(chosen)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(z)))


@pytest.mark.parametrize("algorithm, mixing", [("darts", "softmax"), ("gdas", "gumbel")])
def test_a_searched_record_fixes_to_the_hand_written_model(algorithm, mixing):
    from tfnas.algorithms import ALGORITHMS

    keras.utils.set_random_seed(0)
    space = KerasSpace(_build_layers_and_inputs)
    supernet = space.supernet(mixing=mixing)
    cls = ALGORITHMS.get(algorithm)
    search = cls(supernet, dataclasses.replace(cls.default_config(), epochs=2))
    search.compile(keras.optimizers.SGD(0.05), keras.optimizers.Adam(0.05))
    data = _toy_bilevel(16, seed=2)
    before = [np.array(v) for v in supernet.arch_variables]
    search.fit(data, epochs=2, verbose=0, callbacks=search.callbacks())
    assert any(np.abs(np.array(v) - b).max() > 1e-4 for v, b in zip(supernet.arch_variables, before))
    record = supernet_record(supernet)
    fixed = space.fixed_model(record)
    assert fixed.count_params() == _hand_written(record).count_params()
    # Every record of the space, not only the searched one, fixes to its hand-written model.
    for block in range(3):
        for pair in ([0, 1], [0, 2], [1, 2]):
            other = {"block": block, "head_inputs": pair}
            assert space.fixed_model(other).count_params() == _hand_written(other).count_params()
