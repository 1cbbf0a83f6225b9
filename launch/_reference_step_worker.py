"""One warm process timing the reference PyTorch DARTS first-order search step, step by step.

Run by `launch.bench_reference` with the Python of a separate PyTorch environment (torch is
not a tfnas dependency), never imported by tfnas: stdlib, torch and numpy only. It imports
`model_search.Network` and `architect.Architect` from the reference code (quark0/darts,
`cnn/`, passed as `--code_dir`, used unmodified) and plays the role of `train_search.py`'s
training loop:

    architect.step(input_train, target_train, input_search, target_search, lr, optimizer,
                   unrolled=False)
    optimizer.zero_grad(); loss = criterion(model(input_train), target_train); loss.backward()
    clip_grad_norm_(model.parameters(), 5); optimizer.step()

with `train_search.py`'s defaults: Network(C, 10, layers, CrossEntropyLoss()), SGD lr 0.025
momentum 0.9 weight decay 3e-4, Architect args momentum 0.9, weight_decay 3e-4,
arch_learning_rate 3e-4 (Adam, betas 0.5/0.999), arch_weight_decay 1e-3; random images
(uniform [0, 1), NCHW) and labels from a fixed seed, two (train, search) batch pairs used
in turn, as `launch/_search_step_bench.py` does for tfnas.

Workaround (CPU): the reference code is written for a GPU. `Network._initialize_alphas`
calls `torch.randn(...).cuda()` (and `Network.new()`, used only by the second-order step,
calls `Network(...).cuda()`), which raise on a CPU-only torch. This worker replaces
`torch.Tensor.cuda` and `torch.nn.Module.cuda` by the identity before importing the
reference code, so everything stays on the CPU (also on a machine with a GPU: this is a
CPU-to-CPU comparison). Nothing else is needed: the first-order path uses no removed API
(`Variable(t, requires_grad=True)` still builds a leaf tensor).

Protocol (stdout carries only these lines; anything else the process prints goes to
stderr): after building the model and one untimed first step, one line
`ready {json}` (torch_version, threads, build_s, first_step_s, params, peak_rss_mb,
cuda_patched); then for each stdin line `step` one full step and one line with its
seconds; `info` -> one JSON line (torch_version, peak_rss_mb, steps); `quit` (or end of
stdin) exits.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

# Run as a script, this file's folder (launch/) heads sys.path, and its modules would shadow
# the standard library's (launch/profile.py hides `profile`, which torch imports): drop it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def _protocol_stream():
    """The real stdout for protocol lines; fd 1 and `sys.stdout` are sent to stderr."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code_dir", required=True, help="The reference code's cnn/ folder.")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads.")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    out = _protocol_stream()
    code_dir = os.path.abspath(args.code_dir)
    for name in ("model_search.py", "architect.py", "operations.py", "genotypes.py"):
        if not os.path.isfile(os.path.join(code_dir, name)):
            print(f"reference worker: {code_dir} has no {name}: pass the reference DARTS code's cnn/ "
                  "folder (quark0/darts).", file=sys.stderr)
            return 3
    try:
        import numpy as np
        import torch
        import torch.nn as nn
    except ImportError as error:
        print(f"reference worker: {error}. This Python ({sys.executable}) needs torch and numpy: "
              "python3 -m venv /work/refenv && /work/refenv/bin/pip install torch numpy "
              "--index-url https://download.pytorch.org/whl/cpu", file=sys.stderr)
        return 3

    # The workaround documented above: keep the GPU-only reference code on the CPU.
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sys.path.insert(0, code_dir)
    from architect import Architect
    from model_search import Network

    start = time.perf_counter()
    criterion = nn.CrossEntropyLoss()
    model = Network(args.channels, 10, args.layers, criterion)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), 0.025, momentum=0.9, weight_decay=3e-4)
    architect = Architect(model, argparse.Namespace(
        momentum=0.9, weight_decay=3e-4, arch_learning_rate=3e-4, arch_weight_decay=1e-3))
    lr = 0.025
    rng = np.random.default_rng(args.seed)
    shape = (args.batch_size, 3, args.image_size, args.image_size)

    def data():
        x = torch.from_numpy(rng.random(shape, dtype=np.float32))
        y = torch.from_numpy(rng.integers(0, 10, args.batch_size).astype(np.int64))
        return x, y

    batches = [data() + data() for _ in range(2)]
    build = time.perf_counter() - start

    def step(batch) -> float:
        input_train, target_train, input_search, target_search = batch
        architect.step(input_train, target_train, input_search, target_search, lr, optimizer, unrolled=False)
        optimizer.zero_grad()
        logits = model(input_train)
        loss = criterion(logits, target_train)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5)
        optimizer.step()
        return float(loss.item())

    start = time.perf_counter()
    step(batches[0])
    first = time.perf_counter() - start
    params = int(sum(p.numel() for p in model.parameters()))
    out.write("ready " + json.dumps({
        "torch_version": torch.__version__, "threads": torch.get_num_threads(), "build_s": round(build, 3),
        "first_step_s": round(first, 3), "params": params, "peak_rss_mb": round(_peak_rss_mb(), 1),
        "cuda_patched": True,
    }) + "\n")
    steps = 1
    for line in sys.stdin:
        command = line.strip()
        if command == "step":
            start = time.perf_counter()
            step(batches[steps % 2])
            out.write(f"{time.perf_counter() - start:.6f}\n")
            steps += 1
        elif command == "info":
            out.write(json.dumps({"torch_version": torch.__version__, "peak_rss_mb": round(_peak_rss_mb(), 1),
                                  "steps": steps}) + "\n")
        elif command == "quit":
            break
        elif command:
            print(f"reference worker: unknown command {command!r} (step, info, quit)", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
