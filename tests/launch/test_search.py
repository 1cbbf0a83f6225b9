"""Tests of `python -m launch.search`, run as subprocesses (absl flags are process-global).

Tiny sizes: NB201 supernet with 4 channels and 1 cell per stage (DARTS: 3 cells), digits
at 8x8, 64 training examples, 1-2 epochs. The CPU is shared: timings are noisy.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from tfnas.genotypes import codec
from tests.helpers import run_launch_cases

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_TINY = ("--dataset=digits", "--image_size=8", "--max_train_examples=64", "--batch_size=16",
         "--channels=4", "--verbose=0")


def _env() -> dict:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")


def _run(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "launch.search", *args],
        cwd=_ROOT, env=_env(), capture_output=True, text=True, timeout=timeout, check=False,
    )


def _report(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert lines[-2] == f"genotype: {report['genotype']}"
    return report


@pytest.fixture(scope="module")
def nb201_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cli") / "nb201_dm"
    proc = _run("--space=nb201", "--algorithm=darts_minus", "--epochs=1", "--layers=1",
                f"--workdir={workdir}", *_TINY)
    return workdir, _report(proc)


def test_nb201_search_writes_everything(nb201_run):
    workdir, report = nb201_run
    assert report["algorithm"] == "darts_minus" and report["space"] == "nb201" and report["epochs"] == 1
    genotype = codec.from_dict(json.loads((workdir / "genotype.json").read_text()))
    assert genotype.to_string() == report["genotype"]
    for name in ("cells.png", "arch_weights.png", "history.json", "config.json"):
        assert (workdir / name).stat().st_size > 0
    config = json.loads((workdir / "config.json").read_text())["search"]
    # Unset flags keep the paper defaults; set ones override them.
    assert config["aux_skip"] is True and config["arch_learning_rate"] == 3e-4
    assert config["channels"] == 4 and config["batch_size"] == 16 and config["epochs"] == 1
    assert os.listdir(workdir / "tensorboard")


def test_rerun_with_other_flags_exits_2(nb201_run):
    workdir, _ = nb201_run
    proc = _run("--space=nb201", "--algorithm=darts_minus", "--epochs=2", "--layers=1", f"--workdir={workdir}", *_TINY)
    assert proc.returncode == 2
    assert "different config" in proc.stderr and "search.epochs: 1 -> 2" in proc.stderr


def test_corrupt_checkpoint_exits_2(nb201_run, tmp_path):
    workdir, _ = nb201_run
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(workdir), str(copy)], check=True)
    state = json.loads((copy / "checkpoints" / "state.json").read_text())
    with open(copy / "checkpoints" / state["file"], "r+b") as f:
        f.seek(100)
        f.write(b"corrupted!")
    proc = _run("--space=nb201", "--algorithm=darts_minus", "--epochs=1", "--layers=1", f"--workdir={copy}", *_TINY)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "corrupt" in proc.stderr


_BAD_FLAGS = [
    (("--algorithm=nope", "--space=nb201"), "Unknown algorithm 'nope'. Known algorithms: beta_darts, bnas, darts, darts2"),
    (("--algorithm=rome", "--space=nb201"), "mixing='rome'"),
    (("--algorithm=spos", "--space=nb201"), "--algorithm=spos trains a one-shot supernet"),
    (("--algorithm=gdas_reference", "--space=examples.search_your_space:build"), "needs the built-in cell"),
    (("--algorithm=darts", "--space=nb201", "--learning_rate=-1"), "learning_rate must be > 0"),
]


@pytest.fixture(scope="module")
def bad_flag_runs(tmp_path_factory):
    """`_BAD_FLAGS`' runs, all in one process (`run_launch_cases`), by their args."""
    workdir = tmp_path_factory.mktemp("search_bad_flags")
    return run_launch_cases("search", {args: (*args, f"--workdir={workdir / str(i)}", "--epochs=1", *_TINY)
                                       for i, (args, _) in enumerate(_BAD_FLAGS)})


@pytest.mark.parametrize("args, message", _BAD_FLAGS)
def test_bad_flags_exit_2(bad_flag_runs, args, message):
    proc = bad_flag_runs[args]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr


def test_bad_workdir_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = _run("--space=nb201", "--algorithm=darts", f"--workdir={blocker}", "--epochs=1", *_TINY, timeout=300)
    assert proc.returncode == 2 and "is not a folder" in proc.stderr
    proc = _run("--space=nb201", "--algorithm=darts", f"--workdir={blocker / 'sub'}", "--epochs=1", *_TINY,
                timeout=300)
    assert proc.returncode == 2 and "cannot be created" in proc.stderr


def test_nan_loss_exits_2(tmp_path):
    proc = _run("--space=nb201", "--algorithm=darts", "--epochs=1", "--layers=1", "--learning_rate=1e30",
                f"--workdir={tmp_path / 'nan'}", *_TINY)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Training loss became" in proc.stderr


@pytest.mark.slow
def test_darts_space_gdas_search(tmp_path):
    report = _report(_run("--space=darts", "--algorithm=gdas", "--epochs=1", "--layers=3",
                          f"--workdir={tmp_path / 'darts'}", *_TINY))
    assert report["space"] == "darts" and report["genotype"].startswith("normal=")


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_resume_gives_the_same_genotype(tmp_path):
    """A search SIGKILLed once its first checkpoint exists resumes to the uninterrupted result."""
    args = ("--space=nb201", "--algorithm=gdas", "--epochs=3", "--layers=1", *_TINY)
    straight = _report(_run(*args, f"--workdir={tmp_path / 'straight'}"))
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "launch.search", *args, f"--workdir={killed_dir}"],
                            cwd=_ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed_dir / "checkpoints" / "state.json"
    deadline = time.time() + 900
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epochs_done = json.loads(state.read_text())["epoch"]
    assert 1 <= epochs_done < 3
    resumed = _report(_run(*args, f"--workdir={killed_dir}"))
    assert resumed["resumed_from_epoch"] == epochs_done
    assert resumed["genotype"] == straight["genotype"]
    a = json.loads((tmp_path / "straight" / "genotype.json").read_text())["search"]["arch_state"]
    b = json.loads((killed_dir / "genotype.json").read_text())["search"]["arch_state"]
    assert a == b


@pytest.mark.slow
def test_search_inside_a_learned_space_stays_in_it_and_resume_needs_the_same_space(tmp_path):
    """`--learned_space` restricts every edge to the learned ops; another space is refused."""
    from tfnas.algorithms.autospace import LearnedNB201Space

    allowed = (("nor_conv_3x3", "avg_pool_3x3"), ("skip_connect",), ("nor_conv_1x1", "none"),
               ("nor_conv_3x3",), ("avg_pool_3x3", "skip_connect"), ("nor_conv_1x1",))
    space_file = tmp_path / "learned_space.json"
    space_file.write_text(LearnedNB201Space(allowed).to_json())
    workdir = tmp_path / "learned"
    args = ("--space=nb201", "--algorithm=gdas", "--epochs=1", "--layers=1", f"--workdir={workdir}", *_TINY)
    report = _report(_run(*args, f"--learned_space={space_file}"))
    assert report["learned_space_size"] == 8
    genotype = codec.from_dict(json.loads((workdir / "genotype.json").read_text()))
    LearnedNB201Space(allowed).validate(genotype)  # raises if an edge left the space
    assert json.loads((workdir / "config.json").read_text())["learned_space"]["edge_ops"] == [
        list(o) for o in LearnedNB201Space(allowed).edge_ops]
    # The same workdir without the learned space is another search: refused, nothing overwritten.
    refused = _run(*args)
    assert refused.returncode == 2 and "learned_space" in refused.stderr
    # A file that is not a learned space says so.
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    wrong = _run(*args[:-len(_TINY)], f"--workdir={tmp_path / 'other'}", *_TINY, f"--learned_space={bad}")
    assert wrong.returncode == 2 and "not a learned space" in wrong.stderr


def test_every_search_config_field_is_a_flag(tmp_path):
    """Flags come from SearchConfig's fields: GDAS's temperatures, which had no hand-written flag, reach the run."""
    workdir = tmp_path / "tau"
    proc = _run("--space=nb201", "--algorithm=gdas", "--epochs=1", "--layers=1", "--tau_max=3", "--tau_min=2",
                "--nesterov=false", f"--workdir={workdir}", *_TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (workdir / "config.json").read_text()
    config = json.loads(text)
    found = {}

    def walk(node):
        if isinstance(node, dict):
            if "tau_max" in node:
                found.update(node)
            for value in node.values():
                walk(value)

    walk(config)
    assert found["tau_max"] == 3.0 and found["tau_min"] == 2.0 and found["nesterov"] is False
    assert found["epochs"] == 1 and found["learning_rate"] == 0.025  # unset flags keep the paper's
    helptext = _run("--helpfull", timeout=120).stdout
    assert "--tau_max: Initial Gumbel temperature (GDAS, ROME). (unset: the algorithm's" in helptext


def test_searches_a_space_written_in_keras_by_its_import_path(tmp_path):
    (tmp_path / "launch_user_space.py").write_text(
        "import keras\nfrom tfnas.supernets.choices import layer_choice\n\n"
        "def build(input_shape, num_classes):\n"
        "    inputs = keras.Input(input_shape)\n"
        "    x = layer_choice([keras.layers.Conv2D(4, k, padding='same') for k in (1, 3)], 'conv')(inputs)\n"
        "    return keras.Model(inputs, keras.layers.Dense(num_classes)(keras.layers.GlobalAveragePooling2D()(x)))\n")
    env = dict(_env(), PYTHONPATH=f"{tmp_path}{os.pathsep}{_ROOT}")
    proc = subprocess.run([sys.executable, "-m", "launch.search", "--space=launch_user_space:build", "--algorithm=gdas",
                           "--epochs=1", *_TINY, f"--workdir={tmp_path / 'w'}"], cwd=_ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["space"] == "launch_user_space:build" and json.loads(report["genotype"])["conv"] in (0, 1)
    assert (tmp_path / "w" / "record.jsonl").exists()
