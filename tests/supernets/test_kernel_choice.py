"""The measured choice between a kernel's formulations (`tfnas.supernets.kernel_choice`)."""

from __future__ import annotations

import json
import time

import pytest
import tensorflow as tf

from tfnas.supernets import kernel_choice, kernels


@pytest.fixture
def probing(monkeypatch, tmp_path):
    """Measurement on, a fresh cache directory and no in-memory choices."""
    monkeypatch.setenv("TFNAS_KERNEL_FORM", "probe")
    monkeypatch.setenv("TFNAS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(kernel_choice, "_chosen", {})
    monkeypatch.setattr(kernel_choice, "_disk", {})
    return tmp_path / "kernel_forms.json"


def _sleeper(seconds: dict[str, float], calls: list[str]):
    """Formulations that take the given seconds each time they run (traced functions)."""
    def make_call(name: str):
        def run():
            calls.append(name)
            time.sleep(seconds[name])
            return 0.0

        return lambda: tf.py_function(run, [], tf.float32)

    return make_call


def test_choose_takes_the_faster_formulation_and_caches_it_on_disk(probing, monkeypatch):
    calls: list[str] = []
    form = kernel_choice.choose("k|1", ("slow", "fast"), _sleeper({"slow": 0.02, "fast": 0.0}, calls))
    assert form == "fast"
    # one warm-up call each, then alternating timed calls
    assert calls.count("slow") == calls.count("fast") == kernel_choice.PROBE_CALLS + 1
    cache = json.loads(probing.read_text())
    assert [entry["k|1"] for entry in cache.values()] == ["fast"]
    kernel_choice._chosen.clear()  # a new process: read from disk, nothing timed
    kernel_choice._disk.clear()
    calls.clear()
    assert kernel_choice.choose("k|1", ("slow", "fast"), _sleeper({"slow": 0.0, "fast": 0.02}, calls)) == "fast"
    assert calls == []
    # the file is read once per process: later shapes look in memory
    kernel_choice._chosen.clear()
    monkeypatch.setattr(kernel_choice, "_read_cache", lambda: pytest.fail("the cache file was read again"))
    assert kernel_choice.choose("k|1", ("slow", "fast"), _sleeper({"slow": 0.0, "fast": 0.02}, calls)) == "fast"


def test_a_corrupt_cache_is_measured_again_and_rewritten(probing):
    probing.write_text("{not json")
    assert kernel_choice.choose("k|2", ("a", "b"), _sleeper({"a": 0.0, "b": 0.02}, [])) == "a"
    assert "k|2" in next(iter(json.loads(probing.read_text()).values()))


@pytest.mark.parametrize("mode, want", [("first", "a"), ("last", "b")])
def test_the_mode_overrides_the_measurement(mode, want, monkeypatch):
    monkeypatch.setenv("TFNAS_KERNEL_FORM", mode)
    assert kernel_choice.choose("k|3", ("a", "b"), lambda name: pytest.fail("measured")) == want


def test_an_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("TFNAS_KERNEL_FORM", "fastest")
    with pytest.raises(ValueError, match="TFNAS_KERNEL_FORM must be one of"):
        kernel_choice.choose("k|4", ("a", "b"), lambda name: pytest.fail("measured"))


@pytest.mark.parametrize("stride, first", [(1, "same"), (2, "pad_valid")])
def test_depthwise_filter_gradient_forms(stride, first, monkeypatch):
    x = tf.TensorSpec([2, 8, 8, 4], tf.float32)
    for mode, want in (("first", first), ("last", "explicit")):
        monkeypatch.setenv("TFNAS_KERNEL_FORM", mode)
        assert kernels._filter_grad_form(x, [5, 5, 4, 2], stride) == want
    # unknown spatial size, or unmeasured (the single-path blocks): the usual form
    assert kernels._filter_grad_form(tf.TensorSpec([2, None, 8, 4]), [5, 5, 4, 2], stride) == first
    assert kernels._filter_grad_form(x, [5, 5, 4, 2], stride, measured=False) == first


def test_depthwise_filter_gradient_measured_on_its_shape(probing):
    """The real measurement on a small shape: one of the two forms, kept per shape on disk."""
    form = kernels._filter_grad_form(tf.TensorSpec([None, 6, 6, 3]), [5, 5, 3, 1], 1)
    assert form in ("same", "explicit")
    (entry,) = json.loads(probing.read_text()).values()
    assert entry == {f"depthwise_filter_grad|{kernels.PROBE_MIN_BATCH}x6x6x3|k5|m1|s1": form}
