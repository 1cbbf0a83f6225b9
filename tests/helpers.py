"""Shared test helpers: config round trip and `.keras` save/load parity."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf


ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_launch(module: str, *args: str, data_dir=None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs `python -m launch.<module> *args` from the project root, as a user would (TF logs
    quiet, no GPU, `TFNAS_DATA_DIR=data_dir` when given); returns the finished process.
    Launch modules are never imported in the test process: their absl flags are global."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    if data_dir is not None:
        env["TFNAS_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", f"launch.{module}", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


# `python -c` bootstrap of `run_launch(..., logical_cpus=N)`: `launch` first (it picks the kernel
# library before TensorFlow starts), then N logical CPU devices, then the module as `-m` would run it.
_LOGICAL_CPUS = (
    "import runpy, sys; import launch; import tensorflow as tf; "
    "tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0], "
    "[tf.config.LogicalDeviceConfiguration()] * int(sys.argv[1])); "
    "module = sys.argv[2]; sys.argv = [module, *sys.argv[3:]]; runpy.run_module(module, run_name='__main__')"
)


def run_launch_on_logical_cpus(module: str, *args: str, cpus: int = 2, data_dir=None,
                               timeout: int = 300) -> subprocess.CompletedProcess:
    """`run_launch` with the CPU split into `cpus` logical devices first, so `--strategy=mirrored`
    (or `auto`) runs a `MirroredStrategy` of `cpus` replicas on this machine; same environment."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    if data_dir is not None:
        env["TFNAS_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-c", _LOGICAL_CPUS, str(cpus), f"launch.{module}", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)


# `python -c` driver of `run_launch_cases`: `launch` first (as under `-m`), then each case's
# `app.run(main)` with the flags back at their defaults, its output and exit status captured.
_CASES = (
    "import contextlib, importlib, io, json, sys, traceback\n"
    "import launch\n"
    "from absl import app, flags\n"
    "module = importlib.import_module(sys.argv[1])\n"
    "results = []\n"
    "for args in json.loads(sys.argv[2]):\n"
    "    flags.FLAGS.unparse_flags()\n"
    "    sys.argv = [module.__file__, *args]\n"
    "    out, err, code = io.StringIO(), io.StringIO(), 0\n"
    "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
    "        try:\n"
    "            app.run(module.main, argv=sys.argv)\n"
    "        except SystemExit as exit:\n"
    "            code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)\n"
    "        except Exception:\n"
    "            traceback.print_exc()\n"
    "            code = 1\n"
    "    results.append({'returncode': code, 'stdout': out.getvalue(), 'stderr': err.getvalue()})\n"
    "print(json.dumps(results))\n"
)


def run_launch_cases(module: str, cases: dict, data_dir=None, timeout: int = 600) -> dict:
    """Runs `python -m launch.<module> *argv` for each `key: argv` of `cases` in one process (one
    TensorFlow start for all): before each case the absl flags go back to their defaults and
    `main` runs under `app.run` as `-m` would run it, its stdout, stderr and exit status
    captured. For the refusal tests, whose cases exit before any work; same environment as
    `run_launch`. Returns `{key: CompletedProcess}`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    if data_dir is not None:
        env["TFNAS_DATA_DIR"] = str(data_dir)
    argvs = [[str(arg) for arg in argv] for argv in cases.values()]
    proc = subprocess.run([sys.executable, "-c", _CASES, f"launch.{module}", json.dumps(argvs)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return {key: subprocess.CompletedProcess([module, *argv], r["returncode"], r["stdout"], r["stderr"])
            for key, argv, r in zip(cases, argvs, results)}


def run_script_last_line(script: str, *args: str, timeout: int = 900) -> str:
    """Runs `python -c script *args` from the project root in a fresh process (TF logs quiet)
    and returns the last line it printed; fails the test on a non-zero exit. A fresh process
    per run, as the kill-and-resume tests need (TF's CPU kernels are bitwise reproducible
    from a fresh process, not across repeated runs in one)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                            check=False, cwd=ROOT, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def error_line(stderr: str) -> str:
    """The launch script's `error: ...` line in `stderr`. TensorFlow's own start-up lines may come
    before it (on AVX-512 CPUs it logs that oneDNN is on whatever TF_CPP_MIN_LOG_LEVEL says)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert lines, f"no 'error: ' line in stderr:\n{stderr[-2000:]}"
    return lines[0]


def assert_config_and_save_roundtrip(model: keras.Model, inputs, atol: float = 1e-6) -> None:
    """Checks `from_config(get_config())` rebuilds the model and `.keras` save/load keeps outputs.

    The rebuilt-from-config model must have the same structure (same variable shapes);
    the saved-and-loaded model must give identical inference outputs on `inputs`.
    """
    expected = model(inputs, training=False)
    config = model.get_config()
    rebuilt = model.__class__.from_config(config)
    rebuilt(inputs, training=False)
    shapes = sorted(tuple(v.shape) for v in model.weights)
    assert sorted(tuple(v.shape) for v in rebuilt.weights) == shapes
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    got = loaded(inputs, training=False)
    for e, g in zip(keras.tree.flatten(expected), keras.tree.flatten(got)):
        np.testing.assert_allclose(np.asarray(e), np.asarray(g), atol=atol, rtol=0)


def reference_cell(cell, inputs, edge_ops):
    """A `SearchCell` computed node by node and edge by edge with `_single_op` (the plain
    per-edge reading of its batched weights): the independent reference of the batched
    cell. `edge_ops(edge)` gives the edge's `(op name, weight)` terms; `inputs` is
    `(s0, s1)` for a DARTS cell, the cell input for an NB201 one."""
    if cell.space == "darts":
        states = {0: cell._preprocess0(inputs[0]), 1: cell._preprocess1(inputs[1])}
    else:
        states = {0: inputs}
    for node in cell.nodes:
        total = 0.0
        for g, (sources, targets) in enumerate(cell.groups):
            if node not in targets:
                continue
            for si, src in enumerate(sources):
                for op, weight in edge_ops(cell.edge_index[(node, src)]):
                    total = total + weight * cell._single_op(g, op, si, targets.index(node), states[src])
        states[node] = total
    if cell.space == "darts":
        return tf.concat([states[n] for n in cell.nodes], axis=-1)
    return states[cell.nodes[-1]]


def free_ports(n: int) -> list[int]:
    """`n` TCP ports free on localhost now (for a cluster of worker processes on the loopback)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports
