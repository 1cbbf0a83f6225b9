"""Tests for `launch.bench search_step` (tiny sizes; real-size numbers are benchmarks)."""

from __future__ import annotations

import json

import pytest
from absl.testing import flagsaver

from launch import bench


@pytest.fixture(autouse=True, scope="module")
def _parse_flags():
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["bench"])


@pytest.mark.parametrize("algorithm", ["darts", "gdas"])
def test_search_step_prints_one_json_line(capsys, algorithm):
    with flagsaver.flagsaver(space="nb201", algorithm=algorithm, batch_size=4, channels=4,
                             layers=1, image_size=8, timed_steps=1, warmup_steps=0,
                             step="minimal"):
        bench.main(["bench", "search_step"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("step_seconds", "first_step_seconds", "peak_rss_mb", "step_peak_rss_mb", "step_peak_tensor_mb",
                "params"):
        assert result[key] > 0, key
    if algorithm == "darts":
        assert result["gflops_per_s"] > 0
    else:  # a sampled cell's op blocks have data-dependent shapes: no profiler count
        assert result["gflops_per_s"] is None and result["forward_mflops_per_image"] is None
    assert result["algorithm"] == algorithm and result["space"] == "nb201"
    assert result["batch_size"] == 4 and result["channels"] == 4 and result["layers"] == 1
    # conftest applied tfnas.runtime's settings before TensorFlow started, as bench's main does.
    assert result["compile_settings"]["graph_config"] is True
    assert result["kernel_form"] == "first"  # conftest's TFNAS_KERNEL_FORM, reported with the figures


@pytest.mark.slow
def test_search_step_rome_num_samples_sets_k_and_reports_seconds_per_sample(capsys):
    with flagsaver.flagsaver(space="darts", algorithm="rome", batch_size=2, channels=4,
                             layers=3, image_size=8, timed_steps=1, warmup_steps=0,
                             step="algorithm", num_samples=2):
        bench.main(["bench", "search_step"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["num_samples"] == 2 and result["step"] == "algorithm"
    assert result["step_seconds_per_sample"] == pytest.approx(result["step_seconds"] / 2, abs=1e-3)


def test_search_step_rejects_unknown_algorithm(capsys):
    with flagsaver.flagsaver(algorithm="nope", step="minimal"):
        with pytest.raises(SystemExit) as exit_info:
            bench.main(["bench", "search_step"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error:") and "nope" in err


def test_search_step_times_a_later_bnas_round(capsys):
    with flagsaver.flagsaver(space="nb201", algorithm="bnas", batch_size=4, channels=4, layers=1, image_size=8,
                             timed_steps=1, warmup_steps=0, step="algorithm", bnas_rounds=2):
        bench.main(["bench", "search_step"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bnas_rounds"] == 2 and result["step_seconds"] > 0
    with flagsaver.flagsaver(space="nb201", algorithm="darts", step="algorithm", bnas_rounds=1):
        with pytest.raises(SystemExit) as exit_info:
            bench.main(["bench", "search_step"])
    assert exit_info.value.code == 2 and "--bnas_rounds is for --algorithm=bnas" in capsys.readouterr().err
