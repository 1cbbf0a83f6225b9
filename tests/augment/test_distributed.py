"""The augmentation searches under MirroredStrategy (2 logical CPUs) equal their one-device steps.

Same initialisation, seed and global batches (8 images, 4 per replica through
`distribute_global_batches`), two steps, the full DDAS policy space with cutout, once with
clipping active and once without: DDAS's, the policy-gradient search's and DAAS's weights,
policy logits, apply logit, REINFORCE baseline and (DAAS) architecture parameters match the
one-device run. The policy sample is the global batch's on every replica count, so the
equality is exact up to the order of float sums. Run in a subprocess: the logical devices
must be configured before TensorFlow initialises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = ["ddas", "pg", "daas"]


@pytest.mark.slow
def test_mirrored_two_logical_cpus_equals_single_device(tmp_path):
    out = tmp_path / "augment_mirrored.json"
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "tests.augment.distributed_worker", str(out), *METHODS],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(out.read_text())
    assert len(results) == 2 * len(METHODS)
    for key, r in results.items():
        method = key.split("/")[0]
        assert r["replicas"] == 2
        for name in ("logits", "apply", "weight0"):
            assert r["moved"][name] > 1e-5, (key, name, r["moved"])
        if method == "daas":
            assert r["moved"]["arch0"] > 1e-5, (key, r["moved"])
        if method != "ddas":
            assert r["moved"]["baseline"] > 0, (key, r["moved"])
        for name, diff in r["diff"].items():
            assert diff <= 1e-6, (key, name, diff, r["moved"][name])
