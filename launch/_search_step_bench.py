"""The work behind `python -m launch.bench search_step` (no flags here: `bench.py` owns them).

Builds the supernet of an algorithm at the requested size, traces one bilevel step as one
`tf.function` and times it. The step is the algorithm's own `train_step` when
`tfnas.algorithms` provides `ALGORITHMS` and `build_search`; otherwise (or with
`--step=minimal`) a minimal first-order step: the architecture gradient on a validation
batch applied by Adam (lr 3e-4, betas 0.5/0.999), then the weight gradient on a training
batch, clipped to norm 5, applied by SGD with momentum 0.9.
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import sys
import time
from typing import Any

#: Supernet options of each algorithm for the minimal step (mirrors the papers).
MINIMAL_SUPERNETS: dict[str, dict[str, Any]] = {
    "darts": {"mixing": "softmax"},
    "darts2": {"mixing": "softmax"},
    "darts_minus": {"mixing": "softmax", "aux_skip": True},
    "pc_darts": {"mixing": "softmax", "partial_channels": 4, "edge_normalization": True},
    "gdas": {"mixing": "gumbel"},
    "rome": {"mixing": "rome"},
    "bnas": {"mixing": "softmax", "partial_channels": 4, "edge_normalization": True, "binarized": True},
}
_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
_CASE_OPS = ("Case", "StatelessCase", "If", "StatelessIf")


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)


def _release_and_reset_peak() -> bool:
    """Returns freed heap to the OS and resets the kernel's peak-RSS mark (Linux only).

    After this, `/proc/self/status`'s `VmHWM` is the peak of what stays resident from now on:
    the steps' own memory (weights, graph, activations), without the transient memory of
    tracing and graph optimization that `ru_maxrss` keeps for the process's life.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _reset_tensor_peak() -> bool:
    """Resets the peak of TensorFlow's CPU tensor allocator; False where it keeps no stats.

    The CPU allocator counts bytes only when it is the BFC allocator
    (`TF_CPU_ALLOCATOR_USE_BFC=true`, which `launch.bench` sets before TensorFlow starts).
    """
    import tensorflow as tf

    try:
        tf.config.experimental.reset_memory_stats("CPU:0")
        return "peak" in tf.config.experimental.get_memory_info("CPU:0")
    except (ValueError, RuntimeError):
        return False


def _tensor_peak_mb() -> float:
    """Peak bytes held by tensors on the CPU since `_reset_tensor_peak` (weights, optimizer
    slots, activations and temporaries; not the runtime, the graph or Python), in MB: the
    CPU counterpart of PyTorch's `torch.cuda.max_memory_allocated`."""
    import tensorflow as tf

    return tf.config.experimental.get_memory_info("CPU:0")["peak"] / 2**20


def _vm_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _graph_flops(graph, library, weight: float = 1.0) -> float:
    """Profiler FLOPs of a graph, descending into calls and (weighted) switch branches."""
    import tensorflow as tf
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph

    options = dict(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=options)
    total = float(profile.total_float_ops) * weight
    for op in graph.get_operations():
        if op.type in _CALL_OPS:
            names = [op.get_attr("f").name]
        elif op.type in _CASE_OPS:
            attr = "branches" if op.type.endswith("Case") else None
            names = ([f.name for f in op.get_attr(attr)] if attr
                     else [op.get_attr("then_branch").name, op.get_attr("else_branch").name])
        else:
            continue
        inputs = list(op.inputs)
        if op.type in _CASE_OPS:
            inputs = inputs[1:]  # the branch index / predicate
        share = weight / len(names)
        for name in names:
            if name not in library:
                continue
            body = function_def_to_graph(library[name], input_shapes=[t.shape for t in inputs])
            total += _graph_flops(body, library, share)
    return total


def forward_flops_per_image(supernet, input_shape) -> float:
    """TensorFlow profiler FLOPs of one training-mode forward pass at batch 1."""
    import tensorflow as tf

    @tf.function
    def forward(x):
        return supernet(x, training=True)

    concrete = forward.get_concrete_function(tf.TensorSpec((1,) + tuple(input_shape), tf.float32))
    graph_def = concrete.graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}
    return _graph_flops(concrete.graph, library)


def _minimal_step(supernet):
    import keras
    import tensorflow as tf

    arch_opt = keras.optimizers.Adam(3e-4, beta_1=0.5, beta_2=0.999)
    weight_opt = keras.optimizers.SGD(0.025, momentum=0.9)
    arch_vars, weight_vars = supernet.arch_variables, supernet.weight_variables
    arch_opt.build(arch_vars)
    weight_opt.build(weight_vars)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x_train, y_train, x_val, y_val):
        with tf.GradientTape() as tape:
            val_loss = loss_fn(y_val, supernet(x_val, training=True))
        arch_opt.apply_gradients(zip(tape.gradient(val_loss, arch_vars), arch_vars))
        with tf.GradientTape() as tape:
            loss = loss_fn(y_train, supernet(x_train, training=True))
        grads = tape.gradient(loss, weight_vars)
        grads, _ = tf.clip_by_global_norm(grads, 5.0)
        weight_opt.apply_gradients(zip(grads, weight_vars))
        return loss, val_loss

    def run(x_train, y_train, x_val, y_val):
        loss, _ = step(x_train, y_train, x_val, y_val)
        return float(loss)

    return run


def _algorithm_step(name: str, config: dict[str, Any], input_shape):
    """The algorithm's own train_step, or None when tfnas.algorithms does not offer it."""
    try:
        from tfnas import algorithms
        build_search = algorithms.build_search
        registry = algorithms.ALGORITHMS
    except (ImportError, AttributeError):
        return None
    import tensorflow as tf

    cls = registry.get(name)
    # the algorithm's preset for the space where it has one (BNAS's epochs follow its rounds)
    search_config = cls.default_config(config["space"] if config["space"] in getattr(cls, "PRESETS", {}) else None)
    fields = {f.name for f in dataclasses.fields(search_config)}
    overrides = {k: config[k] for k in ("batch_size", "channels", "layers") if k in fields}
    if config.get("num_samples") and "num_samples" in fields:
        overrides["num_samples"] = config["num_samples"]
    if "seed" in fields:
        overrides["seed"] = config["seed"]
    search_config = dataclasses.replace(search_config, **overrides)
    search = build_search(search_config, config["space"], 10, input_shape, steps_per_epoch=1000)
    if config.get("bnas_rounds"):
        if name != "bnas":
            raise ValueError(f"--bnas_rounds is for --algorithm=bnas. Received: algorithm={name!r}")
        search.abandon_at_random(config["bnas_rounds"], seed=config["seed"])
    step = tf.function(search.train_step)

    def run(x_train, y_train, x_val, y_val):
        logs = step(((x_train, y_train), (x_val, y_val)))
        value = logs.get("loss") if isinstance(logs, dict) else None
        return float(value) if value is not None else 0.0

    passes = getattr(search, "search_step_passes", 2)
    return search.supernet, run, passes, int(getattr(search_config, "num_samples", 1) or 1)


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Measures the step; see `launch.bench.search_step`."""
    if config["timed_steps"] < 1 or config["warmup_steps"] < 0:
        raise ValueError(
            "timed_steps must be >= 1 and warmup_steps >= 0. Received: "
            f"timed_steps={config['timed_steps']}, warmup_steps={config['warmup_steps']}"
        )
    name = config["algorithm"]
    if name not in MINIMAL_SUPERNETS:
        raise ValueError(f"Unknown algorithm {name!r}. Known: {sorted(MINIMAL_SUPERNETS)}")
    import numpy as np
    import tensorflow as tf

    from tfnas import runtime
    from tfnas.supernets import kernel_choice

    # a no-op returning the first call's settings when launch.bench's main (or the caller)
    # ran it first
    compile_settings = runtime.configure()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not config["grappler"]})
    size = config["image_size"]
    input_shape = (size, size, 3)
    built = None
    if config["step"] in ("auto", "algorithm"):
        built = _algorithm_step(name, config, input_shape)
        if built is None and config["step"] == "algorithm":
            raise ValueError("tfnas.algorithms provides no ALGORITHMS/build_search yet; use --step=minimal.")
    if built is None:
        from tfnas.supernets import SupernetConfig, build_supernet

        supernet = build_supernet(SupernetConfig(
            space=config["space"], channels=config["channels"], layers=config["layers"],
            num_classes=10, input_shape=input_shape, seed=config["seed"],
            **MINIMAL_SUPERNETS[name],
        ))
        step, passes, kind, samples = _minimal_step(supernet), 2, "minimal", 1
    else:
        supernet, step, passes, samples = built
        kind = "algorithm"
    if supernet.config.mixing != "softmax":
        supernet.temperature.assign(5.0)
    rng = np.random.default_rng(config["seed"])
    batch = config["batch_size"]

    def data():
        x = tf.constant(rng.random((batch,) + input_shape, np.float32))
        y = tf.constant(rng.integers(0, 10, batch), tf.int32)
        return x, y

    batches = [data() + data() for _ in range(2)]
    start = time.perf_counter()
    step(*batches[0])
    first = time.perf_counter() - start
    for i in range(config["warmup_steps"]):
        step(*batches[(i + 1) % 2])
    peak = _peak_rss_mb()  # read first: clearing the peak mark resets ru_maxrss too
    reset = _release_and_reset_peak()
    tensor_stats = _reset_tensor_peak()
    times = []
    for i in range(config["timed_steps"]):
        start = time.perf_counter()
        step(*batches[i % 2])
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    step_peak = _vm_hwm_mb() if reset else None
    tensor_peak = _tensor_peak_mb() if tensor_stats else None
    peak = max(peak, _peak_rss_mb())
    sampled = supernet.config.mixing != "softmax"
    # The profiler counts only ops with static shapes; a sampled cell's op blocks have a
    # data-dependent channel count, so its count would be a meaningless fraction: left out.
    flops_image = None if sampled else forward_flops_per_image(supernet, input_shape)
    step_flops = None if sampled else 3.0 * flops_image * batch * passes
    params = int(sum(int(np.prod(v.shape)) for v in supernet.weight_variables))
    return {
        "benchmark": "search_step",
        "algorithm": name,
        "space": config["space"],
        "batch_size": batch,
        "channels": config["channels"],
        "layers": config["layers"],
        "image_size": size,
        "params": params,
        "step": kind,
        "grappler": config["grappler"],
        "compile_settings": compile_settings,
        "first_step_seconds": round(first, 3),
        "step_seconds": round(seconds, 3),
        "step_seconds_all": [round(t, 3) for t in times],
        "peak_rss_mb": round(peak, 1),
        "step_peak_rss_mb": None if step_peak is None else round(step_peak, 1),
        "step_peak_tensor_mb": None if tensor_peak is None else round(tensor_peak, 1),
        "num_samples": samples,
        "bnas_rounds": config.get("bnas_rounds", 0),
        "step_seconds_per_sample": round(seconds / samples, 3),
        "forward_mflops_per_image": None if sampled else round(flops_image / 1e6, 1),
        "gflops_per_s": None if sampled else round(step_flops / seconds / 1e9, 2),
        **runtime.machine(),
        "kernel_form": kernel_choice.mode(),
    }

