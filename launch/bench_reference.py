r"""tfnas's DARTS search step against the reference PyTorch DARTS, interleaved on one machine.

Measures one first-order DARTS search step (the architecture step on a validation batch,
Adam 3e-4; then the weight step on a training batch, SGD 0.025 with momentum 0.9 and weight
decay 3e-4, gradients clipped to norm 5) of tfnas (`--algorithm=darts`, built exactly as
`python -m launch.bench search_step` builds it) and of the authors' PyTorch code for DARTS
(Liu, Simonyan and Yang, "DARTS: Differentiable Architecture Search", ICLR 2019,
arXiv:1806.09055; github.com/quark0/darts, `cnn/model_search.py`'s `Network` and
`cnn/architect.py`'s `Architect`, unmodified, driven the way `train_search.py` drives them
with `--unrolled=False`), at the same size on the same CPU.

Why interleaved: on a shared machine the speed drifts (up to 2x over minutes here), so two
benchmarks run one after the other compare the machine's moods, not the code. Each side
runs in its own warm process (the reference in a PyTorch environment, tfnas once per
TensorFlow CPU kernel library, oneDNN and Eigen, since TensorFlow reads that choice once at
import); the processes are built one at a time, warmed up, and then each round asks each of
them in turn for one step (the order rotates every round). The figures: each side's median
step, and the ratio tfnas / reference as the median over rounds of the two steps timed in
the same round (plus the ratio of the medians); also each side's first step (tfnas: trace +
graph compile + run; PyTorch: its first eager step) and peak resident memory.

Setting up the reference (once; torch is not a tfnas dependency):

    python3 -m venv /work/refenv
    /work/refenv/bin/pip install torch numpy --index-url https://download.pytorch.org/whl/cpu
    # (where that index is unreachable, a plain `pip install torch numpy` does too: a CUDA
    # build also runs here, on the CPU; this was written against torch 2.13.0+cpu)
    # the reference code: a checkout of github.com/quark0/darts; its cnn/ folder is what runs
    git clone https://github.com/quark0/darts /work/refcode

Usage:

    python -m launch.bench_reference --reference_python=/work/refenv/bin/python \
        --reference_code=/work/refcode/cnn --rounds=5 --warmup=2 --batch_size=32 \
        --channels=16 --layers=8 --libraries=onednn,eigen

The reference runs on the CPU: its GPU-only `.cuda()` calls are made no-ops in its worker
(`launch/_reference_step_worker.py` says how), with `--reference_threads` torch threads.
The last line printed is one JSON object: `reference_step_s`, `cpu`, `vector_extensions`,
`torch_version`, `tf_version`, and per library `{"step_s", "ratio", "first_step_s", ...}`.
"""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from absl import app, flags

_REFERENCE_PYTHON = flags.DEFINE_string(
    "reference_python", None, "Python of an environment with torch and numpy (e.g. /work/refenv/bin/python).")
_REFERENCE_CODE = flags.DEFINE_string(
    "reference_code", None, "The reference DARTS code's cnn/ folder (github.com/quark0/darts).")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Timed rounds; each times one step of every worker.")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed interleaved rounds after every worker's first step.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size (each of the train and validation batches).")
_CHANNELS = flags.DEFINE_integer("channels", 16, "Initial channels.")
_LAYERS = flags.DEFINE_integer("layers", 8, "Cells.")
_LIBRARIES = flags.DEFINE_list(
    "libraries", ["onednn", "eigen"], "TensorFlow CPU kernel libraries, one tfnas worker each (onednn, eigen); "
    "empty: time the reference alone.")
_REFERENCE_THREADS = flags.DEFINE_integer(
    "reference_threads", 2, "torch.set_num_threads of the reference (TensorFlow uses every core: on a machine with "
    "more than 2, pass its core count).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the weights and the data (each side its own generator).")

_ROOT = pathlib.Path(__file__).resolve().parents[1]
_REFERENCE_WORKER = pathlib.Path(__file__).resolve().with_name("_reference_step_worker.py")
_ONEDNN_SWITCH = {"onednn": "1", "eigen": "0"}
_SETUP = ("Set it up with: python3 -m venv /work/refenv && /work/refenv/bin/pip install torch numpy "
          "--index-url https://download.pytorch.org/whl/cpu ; and a checkout of github.com/quark0/darts "
          "(pass its cnn/ folder). `python -m launch.bench_reference --help` shows the setup.")


class _Worker:
    """A step worker process speaking the `ready` / `step` / `info` / `quit` line protocol."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], hint: str = ""):
        self.name, self.hint = name, hint
        self.stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, env=env, cwd=_ROOT)
        self.ready: dict[str, Any] = {}

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.stderr.seek(0)
            tail = self.stderr.read()[-3000:]
            raise RuntimeError(f"The {self.name} worker exited (code {self.proc.returncode}) before answering."
                               f"{self.hint}\n--- its stderr (end) ---\n{tail}")
        return line.strip()

    def wait_ready(self) -> dict[str, Any]:
        line = self._line()
        if not line.startswith("ready"):
            raise RuntimeError(f"The {self.name} worker answered {line!r} instead of 'ready ...'.")
        self.ready = json.loads(line[len("ready"):] or "{}")
        return self.ready

    def ask(self, command: str) -> str:
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it has exited: `_line` reports how, with its stderr
        return self._line()

    def step(self) -> float:
        return float(self.ask("step"))

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


class _SetupError(SystemExit):
    """A missing or unusable reference: exits with the message alone (no flag listing)."""

    def __init__(self, message: str):
        super().__init__(f"bench_reference: {message}")


def _check_reference(python: str | None, code: str | None) -> None:
    if not python:
        raise _SetupError(f"--reference_python is required: the Python of an environment with torch. {_SETUP}")
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise _SetupError(f"--reference_python={python} is not an executable file. {_SETUP}")
    if not code:
        raise _SetupError(f"--reference_code is required: the reference DARTS code's cnn/ folder. {_SETUP}")
    missing = [name for name in ("model_search.py", "architect.py") if not os.path.isfile(os.path.join(code, name))]
    if missing:
        raise _SetupError(f"--reference_code={code} has no {', '.join(missing)}: pass the cnn/ folder of a "
                             f"checkout of github.com/quark0/darts. {_SETUP}")


def _size_args() -> list[str]:
    return [f"--batch_size={_BATCH_SIZE.value}", f"--channels={_CHANNELS.value}", f"--layers={_LAYERS.value}",
            f"--seed={_SEED.value}"]


def _worker_specs(libraries: list[str]) -> dict[str, dict[str, Any]]:
    """`_Worker` arguments of the reference worker and of one tfnas worker per library."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    specs = {"reference": {
        "name": "reference",
        "command": [_REFERENCE_PYTHON.value, str(_REFERENCE_WORKER), f"--code_dir={_REFERENCE_CODE.value}",
                    f"--threads={_REFERENCE_THREADS.value}", *_size_args()],
        "env": env, "hint": f"\n{_SETUP}"}}
    for library in libraries:
        specs[library] = {
            "name": f"tfnas ({library})",
            "command": [sys.executable, "-m", "launch._tfnas_step_worker", f"--library={library}", *_size_args()],
            # TensorFlow reads both once, at import: set here, in the child's environment.
            "env": {**env, "TF_ENABLE_ONEDNN_OPTS": _ONEDNN_SWITCH[library], "TF_CPU_ALLOCATOR_USE_BFC": "true"}}
    return specs


def _measure(workers: dict[str, _Worker], rounds: int, warmup: int) -> dict[str, list[float]]:
    """The steps of every worker, round by round (each round one step each, order rotated)."""
    names = list(workers)
    for i in range(warmup):
        for name in names[i % len(names):] + names[:i % len(names)]:
            workers[name].step()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(workers[name].step())
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{name} {times[name][-1]:.3f} s" for name in names),
              flush=True)
    return times


def _report(times: dict[str, list[float]], ready: dict[str, dict], info: dict[str, dict]) -> dict[str, Any]:
    from tfnas import runtime

    reference = times["reference"]
    result: dict[str, Any] = {
        "benchmark": "darts_step_vs_reference",
        "reference_step_s": round(statistics.median(reference), 4),
        "reference_first_step_s": ready["reference"].get("first_step_s"),
        "reference_build_s": ready["reference"].get("build_s"),
        "reference_peak_rss_mb": info["reference"].get("peak_rss_mb"),
        "reference_threads": ready["reference"].get("threads"),
        "cpu": runtime.cpu_signature(),
        "vector_extensions": runtime.cpu_vector_extensions(),
        "torch_version": ready["reference"].get("torch_version"),
        "tf_version": next((ready[name].get("tf_version") for name in times if name != "reference"), None),
        "batch_size": _BATCH_SIZE.value, "channels": _CHANNELS.value, "layers": _LAYERS.value,
        "rounds": len(reference),
    }
    for name, steps in times.items():
        if name == "reference":
            continue
        ratios = [t / ref for t, ref in zip(steps, reference)]
        result[name] = {
            "step_s": round(statistics.median(steps), 4),
            "ratio": round(statistics.median(ratios), 3),
            "ratio_of_medians": round(statistics.median(steps) / statistics.median(reference), 3),
            "round_ratios": [round(r, 3) for r in ratios],
            "first_step_s": ready[name].get("first_step_s"),
            "build_s": ready[name].get("build_s"),
            "peak_rss_mb": info[name].get("peak_rss_mb"),
            "kernel_library": ready[name].get("kernel_library"),
            "kernel_form": ready[name].get("kernel_form"),
        }
    return result


def _table(result: dict[str, Any], times: dict[str, list[float]]) -> str:
    rows = [f"{'worker':<18}{'median step s':>14}{'min s':>9}{'max s':>9}{'first step s':>14}"
            f"{'tfnas/ref':>11}{'ratio of med.':>15}{'peak RSS MB':>13}"]
    for name, steps in times.items():
        if name == "reference":
            label, first, ratio, of_medians, rss = (
                "reference (torch)", result["reference_first_step_s"], "1", "1", result["reference_peak_rss_mb"])
        else:
            entry = result[name]
            label, first, rss = f"tfnas ({name})", entry["first_step_s"], entry["peak_rss_mb"]
            ratio, of_medians = f"{entry['ratio']:.3f}", f"{entry['ratio_of_medians']:.3f}"
        rows.append(f"{label:<18}{statistics.median(steps):>14.3f}{min(steps):>9.3f}{max(steps):>9.3f}"
                    f"{first if first is not None else float('nan'):>14.3f}{ratio:>11}{of_medians:>15}"
                    f"{rss if rss is not None else float('nan'):>13.1f}")
    rows.append(f"DARTS first-order step, batch {result['batch_size']}, {result['channels']} channels, "
                f"{result['layers']} cells, {result['rounds']} interleaved rounds; tfnas/ref = median over "
                "rounds of the same round's step ratio")
    rows.append(f"CPU: {result['cpu']} ({', '.join(result['vector_extensions']) or 'no vector extensions read'}); "
                f"torch {result['torch_version']} ({result['reference_threads']} threads); "
                f"TensorFlow {result['tf_version']}")
    return "\n".join(rows)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    _check_reference(_REFERENCE_PYTHON.value, _REFERENCE_CODE.value)
    libraries = [name.strip() for name in _LIBRARIES.value if name.strip()]
    unknown = sorted(set(libraries) - set(_ONEDNN_SWITCH))
    if unknown or len(set(libraries)) != len(libraries):
        raise app.UsageError(f"--libraries takes distinct names from {sorted(_ONEDNN_SWITCH)}. Received: "
                             f"{_LIBRARIES.value}")
    if _ROUNDS.value < 1 or _WARMUP.value < 0:
        raise app.UsageError(f"--rounds must be >= 1 and --warmup >= 0. Received: {_ROUNDS.value}, {_WARMUP.value}")
    workers: dict[str, _Worker] = {}
    try:
        # One at a time: a worker builds (and, for tfnas, compiles) while the others wait idle.
        for name, spec in _worker_specs(libraries).items():
            workers[name] = worker = _Worker(**spec)
            ready = worker.wait_ready()
            print(f"{worker.name} ready: first step {ready.get('first_step_s')} s", flush=True)
        times = _measure(workers, _ROUNDS.value, _WARMUP.value)
        info = {name: json.loads(worker.ask("info")) for name, worker in workers.items()}
        ready = {name: worker.ready for name, worker in workers.items()}
    finally:
        for worker in workers.values():
            worker.close()
    result = _report(times, ready, info)
    print(_table(result, times))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    app.run(main)
