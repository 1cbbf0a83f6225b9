"""Tests for `tfnas.runtime`: the process's graph-compile settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
