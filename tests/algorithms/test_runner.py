"""The search runner: outputs, config refusal, complete checkpoints, resume determinism.

Tiny searches (NB201 supernet, 4 channels, 1 cell per stage, digits at 8x8, 2 steps an
epoch). The kill-and-resume test runs each search in a fresh Python process: within one
process a second, identical search can differ in the last bits (TensorFlow's CPU kernels
are bitwise reproducible from a fresh process, not across repeated runs in one), while a
fresh process resuming from a checkpoint reproduces the uninterrupted run exactly.
"""

from __future__ import annotations

import json
import os
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import run_script_last_line
from tfnas.algorithms import ALGORITHMS, build_search
from tfnas.algorithms.runner import SamplerState, epoch_seed, load_history, search
from tfnas.genotypes import codec

TINY = {"space": "nb201", "dataset": "digits", "image_size": 8, "max_train_examples": 64, "verbose": 0}


def _config(algorithm: str = "gdas", **changes):
    base = {"epochs": 3, "batch_size": 16, "channels": 4, "layers": 1}
    base.update(changes)
    return ALGORITHMS.get(algorithm).default_config().replace(**base)


# One script for the three processes of the resume test: search, optionally raising
# from a callback right after epoch 1's checkpoint is written (an in-process "kill").
_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras
    from tfnas.algorithms import ALGORITHMS
    from tfnas.algorithms.runner import search

    class Killed(Exception):
        pass

    class KillAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise Killed()

    workdir, mode = sys.argv[1], sys.argv[2]
    config = ALGORITHMS.get("gdas").default_config().replace(epochs=3, batch_size=16, channels=4, layers=1)
    try:
        report = search(config, workdir=workdir, callbacks=[KillAfterFirstEpoch()] if mode == "kill" else None,
                        space="nb201", dataset="digits", image_size=8, max_train_examples=64, verbose=0)
    except Killed:
        print("KILLED")
    else:
        print(json.dumps(report))
    """
)


def _run(workdir, mode: str) -> str:
    return run_script_last_line(_SCRIPT, str(workdir), mode)


@pytest.fixture(scope="module")
def resumed_pair(tmp_path_factory):
    """(uninterrupted workdir, killed-after-epoch-1-then-resumed workdir, their last lines)."""
    base = tmp_path_factory.mktemp("resume")
    straight, killed = base / "straight", base / "killed"
    lines = {"straight": _run(straight, "run"), "kill": _run(killed, "kill")}
    with open(killed / "checkpoints" / "state.json", encoding="utf-8") as f:
        lines["epochs_at_kill"] = json.load(f)["epoch"]
    lines["resume"] = _run(killed, "run")
    return straight, killed, lines


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted_search(resumed_pair):
    straight, killed, lines = resumed_pair
    assert lines["kill"] == "KILLED" and lines["epochs_at_kill"] == 1
    first, resumed = json.loads(lines["straight"]), json.loads(lines["resume"])
    assert resumed["resumed_from_epoch"] == 1 and first["resumed_from_epoch"] == 0
    assert resumed["genotype"] == first["genotype"]
    a = json.loads((straight / "genotype.json").read_text())["search"]["arch_state"]
    b = json.loads((killed / "genotype.json").read_text())["search"]["arch_state"]
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.array(a[key]), np.array(b[key]))
    # Every epoch's record (losses, genotype, architecture weights) is identical too.
    ha, hb = load_history(straight), load_history(killed)
    assert [e["epoch"] for e in hb] == [1, 2, 3]
    for ea, eb in zip(ha, hb):
        assert ea["logs"] == eb["logs"] and ea["genotype"] == eb["genotype"]
        assert ea["arch_state"] == eb["arch_state"]


@pytest.mark.slow
def test_outputs(resumed_pair):
    straight, _, lines = resumed_pair
    report = json.loads(lines["straight"])
    assert report["algorithm"] == "gdas" and report["epochs"] == 3 and report["steps_per_epoch"] == 2
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(report)
    saved = json.loads((straight / "genotype.json").read_text())
    genotype = codec.from_dict(saved)
    assert genotype.to_string() == report["genotype"]
    assert saved["search"]["algorithm"] == "gdas" and saved["search"]["config"]["epochs"] == 3
    for name in ("cells", "arch_weights"):
        data = (straight / f"{name}.png").read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    config = json.loads((straight / "config.json").read_text())
    assert config["search"]["algorithm"] == "gdas" and config["space"] == "nb201"
    tags = set()
    for name in os.listdir(straight / "tensorboard"):
        for event in tf.compat.v1.train.summary_iterator(str(straight / "tensorboard" / name)):
            tags.update(v.tag for v in event.summary.value)
    assert {"search/loss", "search/val_accuracy", "arch/cell/alpha", "arch/cell/alpha/op0", "genotype"} <= tags


@pytest.mark.slow
def test_rerun_with_another_config_is_refused(resumed_pair):
    straight, _, _ = resumed_pair
    with pytest.raises(ValueError, match=r"different config \(search.epochs: 3 -> 4\)"):
        search(_config(epochs=4), workdir=str(straight), **TINY)
    with pytest.raises(ValueError, match="image_size: 8 -> 16"):
        search(_config(), workdir=str(straight), **{**TINY, "image_size": 16})


@pytest.mark.slow
def test_finished_search_rerun_resumes_without_training(resumed_pair):
    straight, _, lines = resumed_pair
    report = search(_config(), workdir=str(straight), **TINY)
    assert report["resumed_from_epoch"] == 3
    assert report["genotype"] == json.loads(lines["straight"])["genotype"]


def test_checkpoint_holds_every_state_variable(tmp_path):
    """Weights, alphas, both optimizers, schedule variables and the sampler state round-trip."""
    from tfnas import data

    config = _config(epochs=2)

    def build():
        algorithm = build_search(config, "nb201", 10, (8, 8, 3), steps_per_epoch=2)
        SamplerState.attach(algorithm)
        return algorithm

    def state(algorithm):
        variables = list(algorithm.variables) + list(algorithm.weight_optimizer.variables)
        variables += list(algorithm.arch_optimizer.variables)
        return [(v.path, np.array(v.numpy())) for v in variables]

    train, _ = data.load_splits("digits", image_size=8)
    batches = data.make_bilevel_dataset(train.take(64), 16, dataset="digits", padding=1)
    trained = build()
    trained.fit(batches, epochs=1, steps_per_epoch=2, verbose=0, callbacks=trained.callbacks())
    trained.supernet.temperature.assign(3.5)
    seed_states = [v for v in trained.variables if v.path.endswith("seed_generator_state")]
    assert seed_states, "the GDAS supernet samples with a SeedGenerator"
    path = str(tmp_path / "ckpt.weights.h5")
    trained.save_weights(path)

    fresh = build()
    before, expected = state(fresh), state(trained)
    assert [v.shape for _, v in before] == [v.shape for _, v in expected]
    changed = [name for (name, v), (_, w) in zip(expected, before) if not np.array_equal(v, w)]
    for part in ("seed_generator_state", "temperature", "alpha", "iteration", "momentum", "velocity"):
        assert any(part in name for name in changed), (part, changed)
    fresh.load_weights(path)
    for (name, value), (_, got) in zip(expected, state(fresh)):
        np.testing.assert_array_equal(got, value, err_msg=name)


def test_config_refusal_before_any_work(tmp_path):
    workdir = str(tmp_path / "w")
    # 20 examples leave a weights part of 10 < batch 16: the first call fails after writing config.json.
    with pytest.raises(ValueError, match="batch_size must be in"):
        search(_config(), workdir=workdir, **{**TINY, "max_train_examples": 20})
    saved = json.loads((tmp_path / "w" / "config.json").read_text())
    assert saved["search"]["epochs"] == 3 and saved["max_train_examples"] == 20
    with pytest.raises(ValueError, match=r"different config \(search.learning_rate: 0.025 -> 0.1\)"):
        search(_config(learning_rate=0.1), workdir=workdir, **{**TINY, "max_train_examples": 20})
    with pytest.raises(ValueError, match="search.train_portion: 0.5 -> 0.6"):
        search(_config(), workdir=workdir, train_portion=0.6, **{**TINY, "max_train_examples": 20})


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="space='cells'"):
        search(_config(), workdir=str(tmp_path / "a"), **{**TINY, "space": "cells"})
    with pytest.raises(ValueError, match="train_portion"):
        search(_config(), workdir=str(tmp_path / "b"), train_portion=1.5, **TINY)
    with pytest.raises(ValueError, match="image_size"):
        search(_config(), workdir=str(tmp_path / "c"), **{**TINY, "image_size": 2})
    assert epoch_seed(1, 2) != epoch_seed(2, 1)


def test_nonfinite_loss_stops_the_search(tmp_path):
    """A diverging search stops with NonFiniteLossError (the CLI turns it into exit code 2)."""
    from tfnas.runs import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match="Training loss became"):
        search(_config(epochs=1, learning_rate=1e30, grad_clip=0.0), workdir=str(tmp_path / "nan"), **TINY)
    assert not (tmp_path / "nan" / "checkpoints" / "state.json").exists()


def test_one_fit_over_all_epochs_so_keras_callbacks_keep_their_state(tmp_path):
    """EarlyStopping counts epochs without improvement across the run and CSVLogger keeps every
    epoch's row: both need one `fit` over all epochs (a fit per epoch resets them each epoch)."""
    log = tmp_path / "log.csv"
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=1e6)  # nothing improves by 1e6
    report = search(_config(epochs=4), workdir=str(tmp_path / "w"), callbacks=[stop, keras.callbacks.CSVLogger(
        str(log))], **TINY)
    assert stop.stopped_epoch == 1  # epoch 0 sets the best, epoch 1 exhausts the patience
    assert [e["epoch"] for e in load_history(str(tmp_path / "w"))] == [1, 2]
    assert len(log.read_text().strip().splitlines()) == 1 + 2  # header + both epochs
    assert report["genotypes_by_epoch"] and len(report["genotypes_by_epoch"]) == 2


_USER_SPACE = '''
import keras
from tfnas.supernets.choices import input_choice, layer_choice


def build(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    stem = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inputs)
    x = layer_choice([keras.layers.Conv2D(4, 3, padding="same", name="c3"),
                      keras.layers.Conv2D(4, 5, padding="same", name="c5"), keras.layers.Identity(name="id")], "block")(stem)
    z = input_choice([stem, x], 1, "head")
    return keras.Model(inputs, keras.layers.Dense(num_classes)(keras.layers.GlobalAveragePooling2D()(z)))
'''


@pytest.mark.parametrize("algorithm", ["darts_minus", "gdas"])
def test_a_space_written_in_keras_searches_resumes_and_writes_its_record(tmp_path, monkeypatch, algorithm):
    from tfnas.supernets.choices import keras_space_from_path, load_record

    (tmp_path / "user_space_mod.py").write_text(_USER_SPACE)
    monkeypatch.syspath_prepend(str(tmp_path))
    space = "user_space_mod:build"
    config = ALGORITHMS.get(algorithm).default_config().replace(epochs=2, batch_size=16)
    workdir = tmp_path / "w"
    report = search(config, space=space, workdir=str(workdir), **{k: v for k, v in TINY.items() if k != "space"})
    record = load_record(str(workdir / "record.jsonl"))
    assert json.loads(report["genotype"]) == record and set(record) == {"block", "head"}
    saved = json.loads((workdir / "genotype.json").read_text())
    assert saved["record"] == record and saved["search"]["space"] == space
    assert set(saved["search"]["arch_state"]) == {"block", "head"}
    fixed = keras_space_from_path(space, (8, 8, 3), 10).fixed_model(record)
    assert isinstance(fixed, keras.Model) and fixed.output.shape[-1] == 10
    again = search(config, space=space, workdir=str(workdir), **{k: v for k, v in TINY.items() if k != "space"})
    assert again["resumed_from_epoch"] == 2 and again["genotype"] == report["genotype"]


def test_a_space_written_in_keras_refuses_cell_only_algorithms_and_bad_paths(tmp_path, monkeypatch):
    (tmp_path / "user_space_mod2.py").write_text(_USER_SPACE)
    monkeypatch.syspath_prepend(str(tmp_path))
    tiny = {k: v for k, v in TINY.items() if k != "space"}
    with pytest.raises(ValueError, match="needs the built-in cell supernet"):
        search(ALGORITHMS.get("pc_darts").default_config().replace(epochs=1, batch_size=16),
               space="user_space_mod2:build", workdir=str(tmp_path / "p"), **tiny)
    assert not (tmp_path / "p").exists()  # refused before anything is written
    with pytest.raises(ValueError, match="Cannot import 'no_such_module_xyz'"):
        search(_config(epochs=1), space="no_such_module_xyz:build", workdir=str(tmp_path / "q"), **tiny)
    with pytest.raises(ValueError, match="has no function 'missing'"):
        search(_config(epochs=1), space="user_space_mod2:missing", workdir=str(tmp_path / "r"), **tiny)
    with pytest.raises(ValueError, match="package.module:function"):
        search(_config(epochs=1), space="resnet", workdir=str(tmp_path / "s"), **tiny)
