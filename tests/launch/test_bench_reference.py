"""`launch.bench_reference`'s driver, in subprocesses (absl flags), without torch or TensorFlow.

The reference side is played by a fake "Python" that speaks the worker protocol
(`launch/_reference_step_worker.py`); `--libraries=` (empty) leaves the tfnas workers out,
so these tests time nothing real. The real comparison is a benchmark, run by hand.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

_FAKE_WORKER = """\
import json, sys
if "--code_dir=" + {code!r} not in sys.argv:
    sys.exit("fake worker: no --code_dir")
if {fail!r}:
    print("fake worker: No module named 'torch'", file=sys.stderr)
    sys.exit(3)
print("ready " + json.dumps({{"torch_version": "0.0-fake", "threads": 2, "first_step_s": 0.5}}), flush=True)
steps = 0
for line in sys.stdin:
    command = line.strip()
    if command == "step":
        steps += 1
        print(0.25 * steps, flush=True)
    elif command == "info":
        print(json.dumps({{"torch_version": "0.0-fake", "peak_rss_mb": 12.5, "steps": steps}}), flush=True)
    elif command == "quit":
        break
"""


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), "TFNAS_KERNEL_LIBRARY": "default"}
    return subprocess.run([sys.executable, "-m", "launch.bench_reference", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _reference(tmp_path: pathlib.Path, fail: bool = False) -> tuple[str, str]:
    code = tmp_path / "cnn"
    code.mkdir()
    for name in ("model_search.py", "architect.py"):
        (code / name).write_text("")
    python = tmp_path / "python"
    python.write_text(f"#!{sys.executable}\n" + _FAKE_WORKER.format(code=str(code), fail=fail))
    python.chmod(0o755)
    return str(python), str(code)


def test_missing_reference_python_says_what_to_install():
    proc = _run([])
    assert proc.returncode != 0
    assert "--reference_python is required" in proc.stderr and "pip install torch" in proc.stderr


def test_reference_code_without_the_darts_files_says_what_to_fetch(tmp_path):
    python, _ = _reference(tmp_path)
    proc = _run([f"--reference_python={python}", f"--reference_code={tmp_path}"])
    assert proc.returncode != 0
    assert "model_search.py" in proc.stderr and "quark0/darts" in proc.stderr


def test_reference_python_that_is_not_executable_is_refused(tmp_path):
    _, code = _reference(tmp_path)
    proc = _run([f"--reference_python={tmp_path / 'nope'}", f"--reference_code={code}"])
    assert proc.returncode != 0 and "not an executable file" in proc.stderr


def test_a_failing_reference_worker_reports_its_stderr(tmp_path):
    python, code = _reference(tmp_path, fail=True)
    proc = _run([f"--reference_python={python}", f"--reference_code={code}", "--libraries="])
    assert proc.returncode != 0
    assert "No module named 'torch'" in proc.stderr and "pip install torch" in proc.stderr


def test_driver_interleaves_rounds_and_prints_one_json_line(tmp_path):
    python, code = _reference(tmp_path)
    proc = _run([f"--reference_python={python}", f"--reference_code={code}", "--libraries=", "--rounds=3",
                 "--warmup=1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert sum(line.startswith("round ") for line in lines) == 3
    result = json.loads(lines[-1])
    # one warm-up step (0.25 s), then the timed 0.5, 0.75, 1.0
    assert result["reference_step_s"] == 0.75 and result["rounds"] == 3
    assert result["torch_version"] == "0.0-fake" and result["reference_first_step_s"] == 0.5
    assert result["reference_peak_rss_mb"] == 12.5
    assert isinstance(result["vector_extensions"], list) and "cpu" in result
    assert "onednn" not in result and "eigen" not in result


def test_unknown_library_is_refused(tmp_path):
    python, code = _reference(tmp_path)
    proc = _run([f"--reference_python={python}", f"--reference_code={code}", "--libraries=mkl"])
    assert proc.returncode != 0 and "--libraries" in proc.stderr
