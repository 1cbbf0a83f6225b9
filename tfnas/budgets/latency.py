"""Latency lookup tables: LiteRT per-block timings on this machine, and NAS-Bench-201's devices.

`LiteRTLatencyTable` times every candidate block of a mobile space at its slot's
resolution with the LiteRT interpreter (batch 1, `num_threads` threads, the median of
`runs` invocations after a warm-up), once: results are cached in a JSON file keyed by the
block string, input width and side (plus the interpreter settings), so a later search
reads them back. `cost_table(space)` gives the `tfnas.budgets.losses.CostTable` of a
space (decisions = slots; base = stem + head + pooling + classifier, timed as blocks too):
the per-block sum is the ProxylessNAS / FBNet latency model, and `model_latency` times a
whole network, to check the model against it.

For NAS-Bench-201, `nb201_latency(cell, device)` reads the measured latency of the 27
devices of `nb201_latency_help.csv` (`tfnas.benchmarks.NB201LatencyTable`), and
`tfnas.budgets.losses.nb201_latency_table(device)` turns it into a per-edge-op table.

Conversion: a Keras model -> concrete function -> `tf.lite.TFLiteConverter` (float32, in
memory: about 3 s a block, a third of the SavedModel route) -> `export.tflite.litert_latency`.
The converter is given the concrete function alone, so it freezes the captured variables into
constants, folds BatchNorm and hands every op to XNNPACK, as the exported model is. Given the
Keras model as its `trackable_obj` as well, it kept them as resource variables
(`VAR_HANDLE`/`READ_VARIABLE`, unfolded BatchNorm, no weights in the file, NaN outputs) and
the timing was of that graph: MobileNetV2 at 32x32 read 14-16 ms instead of 0.56 ms (measured
on the model-207 Xeon). Caches written by that conversion carry no `conversion` key and are
measured again (`CONVERSION`).

References:
    - Cai et al., ProxylessNAS, arXiv 1812.00332 (per-op latency lookup table).
    - Wu et al., FBNet, arXiv 1812.03443 (latency lookup table, sum over layers).

Example:
>>> table = LiteRTLatencyTable("runs/latency_lut.json")  # doctest: +SKIP
>>> costs = table.cost_table(space, input_size=32, num_classes=10)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import keras
import numpy as np
from absl import logging

# How the timed TFLite files are made; a cache written another way is measured again.
CONVERSION = "frozen_concrete_function"


def tflite_bytes(model: keras.Model, batch_size: int = 1) -> bytes:
    """Converts a Keras model (one image input) to a float32 TFLite flatbuffer, in memory."""
    import tensorflow as tf

    shape = (batch_size, *model.inputs[0].shape[1:])

    def _forward(images):
        return model(images, training=False)

    concrete = tf.function(_forward).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    # No `trackable_obj`: with the model passed, the variables stay resource variables (see above).
    # The converter then warns, once per conversion, that it wants one: quiet for this call.
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)
    try:
        return tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()
    finally:
        logging.set_verbosity(verbosity)


def model_latency(model: keras.Model, *, runs: int = 30, warmup: int = 5, num_threads: int = 1) -> dict[str, Any]:
    """Batch-1 LiteRT latency of a Keras model on this CPU (`export.tflite.litert_latency`).

    Returns:
        `{"median_ms", "p90_ms", "runs", "load_avg_1m", "runtime", "threads"}`.
    """
    from export.tflite import litert_latency

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.tflite")
        with open(path, "wb") as f:
            f.write(tflite_bytes(model))
        return litert_latency(path, runs=runs, warmup=warmup, num_threads=num_threads)


class LiteRTLatencyTable:
    """Per-block LiteRT latencies measured on this machine, cached in a JSON file.

    Args:
        path: The cache file (created on first save); None keeps the table in memory.
        num_threads: Interpreter threads (1: one phone-like core).
        runs: Timed invocations per block.
        warmup: Untimed invocations first.
        se_base: SE base of the blocks (as in the genotypes priced).

    Raises:
        ValueError: if the cache file holds another interpreter setting (threads).
    """

    def __init__(self, path: str | None = None, *, num_threads: int = 1, runs: int = 30, warmup: int = 5,
                 se_base: str = "in") -> None:
        self.path = path
        self.num_threads = int(num_threads)
        self.runs, self.warmup, self.se_base = int(runs), int(warmup), se_base
        self.entries: dict[str, dict[str, Any]] = {}
        self.measured = 0
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if data.get("num_threads") != self.num_threads:
                raise ValueError(
                    f"Latency cache {path} was measured with num_threads={data.get('num_threads')}; "
                    f"received num_threads={self.num_threads}. Use another path."
                )
            if data.get("conversion") == CONVERSION:
                self.entries = dict(data.get("entries", {}))
            else:
                logging.warning("Latency cache %s was timed on unfrozen TFLite graphs (no conversion=%r): "
                                "its %d entries are measured again.", path, CONVERSION, len(data.get("entries", {})))

    def save(self) -> None:
        """Writes the cache file (atomically)."""
        if not self.path:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"num_threads": self.num_threads, "runtime": "ai_edge_litert", "conversion": CONVERSION,
                       "entries": self.entries}, f,
                      indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def _timed(self, key: str, build) -> float:
        if key not in self.entries:
            model = build()
            figures = model_latency(model, runs=self.runs, warmup=self.warmup, num_threads=self.num_threads)
            self.entries[key] = {"median_ms": figures["median_ms"], "load_avg_1m": figures["load_avg_1m"]}
            self.measured += 1
        return float(self.entries[key]["median_ms"])

    def block_latency(self, block, in_channels: int, size: int, act: str = "relu") -> float:
        """Median ms of one single block (`BlockSpec`) on a `size x size x in_channels` input; 0 for zero."""
        if block.is_zero:
            return 0.0
        from tfnas.ops import mbconv

        explicit = block.activation or act
        key = f"{block.to_string()}|act={explicit}|in={in_channels}|hw={size}|se={self.se_base}"

        def build():
            x = keras.Input((size, size, in_channels), batch_size=1)
            common = dict(kernel_size=block.kernel, strides=block.stride, activation=explicit,
                          se_ratio=block.se_ratio, se_base=self.se_base, skip=block.skip, name="b")
            if block.block_type == "ir":
                y = mbconv.inverted_residual(x, block.out_channels, expansion=block.expansion, **common)
            elif block.block_type == "ds":
                y = mbconv.depthwise_separable(x, block.out_channels, **common)
            else:
                raise ValueError(f"No latency model for block type {block.block_type!r}.")
            return keras.Model(x, y)

        return self._timed(key, build)

    def base_latency(self, space: Any, input_size: int, num_classes: int) -> float:
        """Median ms of the stem, and of the head conv + pooling + classifier, of `space`'s skeleton."""
        from tfnas.ops import mbconv

        def stem():
            x = keras.Input((input_size, input_size, 3), batch_size=1)
            return keras.Model(x, mbconv.conv_bn_act(x, space.stem, 3, 2, activation=space_act(space), name="stem"))

        side = -(-input_size // 2)
        for stage in space.stages:
            side = -(-side // stage.stride)
        width = space.stages[-1].width

        def head():
            x = keras.Input((side, side, width), batch_size=1)
            h = x
            if space.head:
                h = mbconv.conv_bn_act(h, space.head, 1, activation=space_act(space), name="head")
            h = keras.layers.GlobalAveragePooling2D()(h)
            return keras.Model(x, keras.layers.Dense(num_classes)(h))

        act = space_act(space)
        key = f"stem|c={space.stem}|act={act}|hw={input_size}"
        head_key = f"head|in={width}|c={space.head}|act={act}|hw={side}|classes={num_classes}"
        return self._timed(key, stem) + self._timed(head_key, head)

    def cost_table(self, space: Any, *, input_size: int = 224, num_classes: int = 1000):
        """The `latency_ms` `CostTable` of a mobile space (measuring what the cache lacks).

        Returns:
            A `tfnas.budgets.losses.CostTable` with the decisions of `mobile_cost_table`.
        """
        from tfnas.budgets.losses import CostTable

        act = space_act(space)
        size = -(-input_size // 2)
        channels = space.stem
        rows, labels = [], []
        for s, stage in enumerate(space.stages):
            for slot in range(stage.depth):
                cands = space.candidates(s, slot)
                rows.append(tuple(self.block_latency(b, channels, size, act) for b in cands))
                labels.append(tuple(b.to_string() for b in cands))
                if slot == 0:
                    size = -(-size // stage.stride)
                    channels = stage.width
        base = self.base_latency(space, input_size, num_classes)
        self.save()
        return CostTable("latency_ms", base, tuple(rows), tuple(labels))

    def genotype_latency(self, genotype, *, input_size: int = 224, num_classes: int = 1000) -> float:
        """The lookup-table latency (sum over blocks + base) of a `BlockGenotype`, in ms."""
        from tfnas.spaces.mobile import CandidateSpace, MobileSpace

        skeleton = MobileSpace.skeleton_of(genotype)
        slots = []
        for layer in genotype.layers():
            block = layer.spec if layer.spec.is_zero else _explicit(layer.spec, genotype)
            slots.append((block,))
        space = CandidateSpace.from_slots(skeleton, slots, act=genotype.act)
        table = self.cost_table(space, input_size=input_size, num_classes=num_classes)
        return table.cost([0] * table.num_decisions)


def _explicit(block, genotype):
    import dataclasses

    return dataclasses.replace(block, activation=genotype.activation_of(block))


def space_act(space: Any) -> str:
    """The default activation of a space (`CandidateSpace.act`; `relu` for a `MobileSpace`)."""
    return getattr(space, "act", "relu")


def nb201_latency(cell: Any, device: str, *, data_dir: str | None = None) -> float:
    """Measured latency of an NB201 cell on one of the 27 devices of NAS-Bench-201.

    Raises:
        ValueError: for an unknown device or cell; FileNotFoundError without the table.
    """
    from tfnas.benchmarks import NB201LatencyTable

    return NB201LatencyTable(data_dir=data_dir).latency(cell, device)


def relative_error(predicted: float, measured: float) -> float:
    """`(predicted - measured) / measured`."""
    return float((predicted - measured) / measured) if measured else float(np.inf)
