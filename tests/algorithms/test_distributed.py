"""Distributed steps equal single-device steps: MirroredStrategy (2 logical CPUs) and
MultiWorkerMirroredStrategy (2 worker processes on localhost), each in subprocesses.

Same initialisation, same global batch of 4 (2 per replica), one step, gradient clipping
active: the updated weights and architecture parameters match the single-device step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.algorithms.standin import bilevel_batch, make_search, snapshot
from tests.helpers import free_ports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = ["darts", "darts2", "darts_minus", "pc_darts", "gdas", "rome"]


def _env(**extra) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


@pytest.mark.slow
def test_mirrored_two_logical_cpus_equals_single_device(tmp_path):
    out = tmp_path / "mirrored.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.algorithms.distributed_worker", "mirrored", str(out), *NAMES],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=540, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(out.read_text())
    for name in NAMES:
        r = results[name]
        assert r["replicas"] == 2
        assert r["arch_update"] > 1e-5 and r["weight_update"] > 1e-5, (name, r)
        assert r["max_abs_diff"] < 1e-6, (name, r)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["darts2", "rome"])
def test_multiworker_two_processes_equals_single_device(tmp_path, name):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tests.algorithms.distributed_worker", "multiworker",
             str(tmp_path / f"worker{index}.npz"), name],
            cwd=ROOT, env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    try:
        logs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, logs):
        assert p.returncode == 0, err[-4000:]

    single = make_search(name, num_samples=2, arch_warmup_epochs=0, grad_clip=0.05)
    start = snapshot(single.supernet.weight_variables) + snapshot(single.supernet.arch_variables)
    single.fit(tf.data.Dataset.from_tensors(bilevel_batch(batch=4)).repeat(), epochs=1, steps_per_epoch=1,
               verbose=0, callbacks=single.callbacks())
    expected = snapshot(single.supernet.weight_variables) + snapshot(single.supernet.arch_variables)
    assert np.abs(expected[-1] - start[-1]).max() > 1e-5
    for index in range(2):
        got = np.load(tmp_path / f"worker{index}.npz")
        assert int(got["replicas"]) == 2
        for i, e in enumerate(expected):
            np.testing.assert_allclose(got[f"arr_{i}"], e, rtol=0, atol=1e-6)
