"""Tests for `tfnas.runtime`: the process's graph-compile settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tensorflow.python.eager import context

from tfnas import runtime


def test_configure_installed_the_graph_settings_before_tensorflow_started():
    # conftest calls configure() at startup, as every launch script's main does.
    state = runtime.configure()
    assert state["graph_config"] is True
    rewrite = context.context().config.graph_options.rewrite_options
    expected = runtime.graph_config().graph_options.rewrite_options
    assert rewrite.meta_optimizer_iterations == expected.meta_optimizer_iterations != 0
    assert rewrite.memory_optimization == expected.memory_optimization != 0
    assert rewrite.disable_tfg_optimizer is True
    assert runtime.configure() == state  # once per process


def _in_fresh_process(code: str, **env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"stderr": out.stderr}


def test_configure_after_tensorflow_started_still_reaches_later_functions():
    # absl's app.run creates the eager context before main: configure() must still apply.
    code = (
        "import json, tensorflow as tf\n"
        "tf.constant(1.0) + 1.0\n"
        "from tfnas import runtime\n"
        "from tensorflow.python.eager import context\n"
        "state = runtime.configure()\n"
        "opts = context.context().function_call_options.config_proto_serialized\n"
        "from tensorflow.core.protobuf import config_pb2\n"
        "rw = config_pb2.ConfigProto.FromString(opts).graph_options.rewrite_options\n"
        "y = tf.function(lambda x: x * 2.0)(tf.constant(3.0))\n"
        "print(json.dumps(state | {'iterations': int(rw.meta_optimizer_iterations), 'y': float(y)}))\n"
    )
    result = _in_fresh_process(code, TFNAS_TF_DEFAULTS="0")
    assert result["graph_config"] is True and result["iterations"] == 1 and result["y"] == 6.0


def test_tf_defaults_env_keeps_tensorflow_defaults():
    code = (
        "import json\n"
        "from tfnas import runtime\n"
        "state = runtime.configure()\n"
        "from tensorflow.python.eager import context\n"
        "rw = context.context().config.graph_options.rewrite_options\n"
        "print(json.dumps(state | {'iterations': int(rw.meta_optimizer_iterations)}))\n"
    )
    result = _in_fresh_process(code, TFNAS_TF_DEFAULTS="1")
    assert result == {"graph_config": False, "malloc_fastbins_off": False, "iterations": 0,
                      "stderr": result["stderr"]}


def test_kernel_library_follows_the_onednn_switch():
    code = "import json\nfrom tfnas import runtime\nprint(json.dumps({'library': runtime.kernel_library()}))\n"
    assert _in_fresh_process(code, TF_ENABLE_ONEDNN_OPTS="0")["library"] == "eigen"
    assert _in_fresh_process(code, TF_ENABLE_ONEDNN_OPTS="1")["library"] == "onednn"


def test_cpu_vector_extensions_reads_the_flags_line():
    extensions = runtime.cpu_vector_extensions()
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    assert extensions == sorted({f for f in flags if f.startswith(("avx", "fma", "sse4", "amx"))})
    assert "avx2" in extensions  # every CPU this project runs on has AVX2 (x86-64-v3)


def test_cpu_signature_names_the_model_numbers_beside_the_name():
    signature = runtime.cpu_signature()
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        fields = {}
        for line in f:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    assert signature.startswith(fields["model name"] + ", ")
    for name in ("cpu family", "model", "stepping", "cache size"):
        assert f"{name} {fields[name]}" in signature


def test_machine_is_the_three_facts_every_figure_names():
    assert runtime.machine() == {"cpu": runtime.cpu_signature(),
                                 "cpu_vector_extensions": runtime.cpu_vector_extensions(),
                                 "kernel_library": runtime.kernel_library()}


_CHOOSE = (
    "import json, os, sys\n"
    "from tfnas import runtime\n"
    "runtime.probe_kernel_libraries = lambda: {'onednn': 2.0, 'eigen': 1.0}  # a stand-in measurement\n"
    "choice = runtime.choose_kernel_library()\n"
    "import tensorflow\n"
    "print(json.dumps(choice | {'actual': runtime.kernel_library(),\n"
    "                           'switch': os.environ.get('TF_ENABLE_ONEDNN_OPTS')}))\n"
)


def _choose(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TFNAS_KERNEL_LIBRARY")}
    out = subprocess.run([sys.executable, "-c", _CHOOSE], capture_output=True, text=True, timeout=300,
                         env={**clean, "TF_CPP_MIN_LOG_LEVEL": "3", "TFNAS_CACHE_DIR": str(tmp_path), **env})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_choose_kernel_library_probes_once_then_reads_the_cache(tmp_path):
    first = _choose(tmp_path)
    assert first == {"kernel_library": "eigen", "chosen_by": "probe", "actual": "eigen", "switch": "0"}
    cache = json.loads((tmp_path / "kernel_library.json").read_text())
    (entry,) = cache.values()
    assert entry == {"kernel_library": "eigen", "seconds": {"onednn": 2.0, "eigen": 1.0}}
    # the cached choice wins over a new measurement
    entry["kernel_library"] = "onednn"
    (tmp_path / "kernel_library.json").write_text(json.dumps(cache))
    assert _choose(tmp_path) == {"kernel_library": "onednn", "chosen_by": "cache", "actual": "onednn",
                                 "switch": "1"}


def test_choose_kernel_library_reprobes_a_corrupt_cache(tmp_path):
    (tmp_path / "kernel_library.json").write_text("{not json")
    assert _choose(tmp_path)["chosen_by"] == "probe"
    assert json.loads((tmp_path / "kernel_library.json").read_text())


def test_choose_kernel_library_overrides(tmp_path):
    assert _choose(tmp_path, TFNAS_KERNEL_LIBRARY="onednn")["actual"] == "onednn"
    assert _choose(tmp_path, TFNAS_KERNEL_LIBRARY="eigen")["actual"] == "eigen"
    assert _choose(tmp_path, TF_ENABLE_ONEDNN_OPTS="1")["chosen_by"] == "TF_ENABLE_ONEDNN_OPTS"
    assert _choose(tmp_path, TFNAS_KERNEL_LIBRARY="default")["switch"] is None
    assert not (tmp_path / "kernel_library.json").exists()  # no probe ran


def test_choose_kernel_library_rejects_unknown_values_and_is_inert_after_tensorflow(monkeypatch):
    monkeypatch.setenv("TFNAS_KERNEL_LIBRARY", "mkl")
    with pytest.raises(ValueError, match="TFNAS_KERNEL_LIBRARY must be one of"):
        runtime.choose_kernel_library()
    monkeypatch.setenv("TFNAS_KERNEL_LIBRARY", "auto")
    # TensorFlow is imported in this process: nothing can change any more
    assert runtime.choose_kernel_library() == {"kernel_library": runtime.kernel_library(), "chosen_by": "too late"}


def test_kernel_probe_workload_runs():
    from tfnas import kernel_probe

    result = kernel_probe.measure(calls=1, batch=2, channels=4, size=8)
    assert result["kernel_library"] == runtime.kernel_library() and result["seconds"] > 0


@pytest.mark.slow
def test_probe_kernel_libraries_times_both_in_fresh_processes():
    seconds = runtime.probe_kernel_libraries(rounds=1)
    assert set(seconds) == {"onednn", "eigen"} and all(s > 0 for s in seconds.values())
