"""`python -m launch.search_caption` and `launch.train_caption` end to end at tiny size, as subprocesses.

A small Karpathy-format set made here (16x16 images whose colour names the caption's word),
the zoo's NB201 encoder pooled to 2x2 regions.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import error_line, run_launch, run_launch_cases

_COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def _caption_set(tmp_path):
    rng = np.random.default_rng(0)
    entries = []
    for i in range(36):
        name = list(_COLOURS)[i % 3]
        pixels = np.clip(np.array(_COLOURS[name]) + rng.normal(0, 10, (16, 16, 3)), 0, 255).astype("uint8")
        split = "train" if i < 24 else "val" if i < 30 else "test"
        (tmp_path / "img").mkdir(exist_ok=True)
        tf.io.write_file(str(tmp_path / "img" / f"{i}.png"), tf.io.encode_png(pixels))
        entries.append({"filepath": "img", "filename": f"{i}.png", "split": split, "imgid": i,
                        "sentences": [{"tokens": ["a", name, "square"]}, {"tokens": ["the", name, "one"]}]})
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"images": entries}))
    return path


_DATA = ("--encoder=nb201_resnet.c8_l2_s16_cifar10", "--grid=2", "--min_count=1", "--beam=2", "--max_length=5")


@pytest.mark.slow
def test_search_caption_searches_trains_and_reports_json(tmp_path):
    captions = _caption_set(tmp_path)
    workdir = tmp_path / "run"
    args = (f"--captions={captions}", f"--workdir={workdir}", *_DATA, "--num_nodes=3", "--units=16", "--embed_dim=8",
            "--attention_dim=8", "--epochs=2", "--batch_size=16", "--controller_steps=1", "--controller_aggregate=2",
            "--reward_images=4", "--derive_samples=2", "--child_epochs=2")
    proc = run_launch("search_caption", *args, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"genotype", "cider_d", "bleu_4", "greedy", "beam", "val_cider_d", "search_cpu_seconds"} <= set(report)
    assert report["genotype"].count("|") == 2 and report["decoding"] == "beam 2"
    for name in ("cell.png", "report.json", "search/search.json", "features_train.npy", "child/checkpoints/loop_state.json"):
        assert (workdir / name).stat().st_size > 0
    again = run_launch("search_caption", *args, timeout=900)  # everything resumed: same report
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["genotype"] == report["genotype"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm", "tanh|relu<0"])
def test_train_caption_trains_a_decoder_and_scores_the_test_split(tmp_path, model):
    captions = _caption_set(tmp_path)
    proc = run_launch("train_caption", f"--captions={captions}", f"--workdir={tmp_path / 'run'}", *_DATA,
                      f"--model={model}", "--units=16", "--embed_dim=8", "--attention_dim=8", "--epochs=30",
                      "--batch_size=16", "--learning_rate=0.01", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["model"] == model and report["params"] > 0
    assert report["greedy"]["cider_d"] > 1.0, report["examples"]  # learned the colour words


_BAD_INPUT = [
    (("--model=tanh|gelu<0",), "not one of"),
    (("--captions=/nonexistent/captions.json",), "not found"),
    (("--units=16", "--params_budget=100000"), "pass one"),
    (("--params_budget=10",), "over the budget"),
]


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    """`_BAD_INPUT`'s runs, all in one process (`run_launch_cases`), by their args."""
    workdir = tmp_path_factory.mktemp("train_caption_bad_input")
    captions = _caption_set(workdir)
    cases = {}
    for i, (args, _) in enumerate(_BAD_INPUT):
        full = (f"--captions={captions}", *_DATA, *args) if "--captions" not in args[0] else (*_DATA, *args)
        cases[args] = (f"--workdir={workdir / str(i)}", *full, "--epochs=1")
    return run_launch_cases("train_caption", cases)


@pytest.mark.parametrize("args, message", _BAD_INPUT)
def test_train_caption_refuses_bad_input(bad_input_runs, args, message):
    proc = bad_input_runs[args]
    assert proc.returncode == 2 and message in error_line(proc.stderr)


@pytest.mark.slow
def test_train_caption_fine_tunes_the_encoder(tmp_path):
    captions = _caption_set(tmp_path)
    proc = run_launch("train_caption", f"--captions={captions}", f"--workdir={tmp_path / 'run'}", *_DATA,
                      "--model=tanh", "--units=8", "--embed_dim=4", "--attention_dim=4", "--epochs=2",
                      "--batch_size=16", "--fine_tune", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["fine_tune"] is True and len(report["losses"]) == 2
    written = json.loads((tmp_path / "run" / "child" / "config.json").read_text())
    assert written["fine_tune"] is True and written["encoder_learning_rate"] == pytest.approx(2e-4)  # a tenth
