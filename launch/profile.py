r"""Parameters and MAdds of a child network: `python -m launch.profile --model=darts_v2 ...`.

Resolves `--model` (a published name such as `darts_v2` or `mobilenet_v2`, a genotype
string, JSON text or a path to a JSON file) with `tfnas.genotypes.codec.load`, builds it
with `tfnas.children.build_child` (no auxiliary head) and counts it with
`tfnas.budgets.counters` (convolutions and FC layers only, BN folded; see that module).
The last line printed is one JSON object:
`{"model", "space", "genotype", "input_shape", "trainable_params", "total_params",
"params_m", "madds", "madds_m"}` (plus `"profiler_flops"` with `--profiler`).
`--per_layer` prints a per-layer table to stderr.

Examples:
  python -m launch.profile --model=mobilenet_v2
  python -m launch.profile --model=darts_v2 --dataset=imagenet --channels=48 --layers=14
  python -m launch.profile --model='|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|'
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from launch._aliases import define_deprecated, resolve

_MODEL = flags.DEFINE_string(
    "model", None, "Published name, genotype string, JSON text or path to a genotype JSON file.",
    required=True,
)
_DATASET = flags.DEFINE_enum(
    "dataset", None, ["cifar10", "cifar100", "digits", "imagenet"],
    "Dataset whose input size, classes and stem to use (default: the space's).",
)
_CHANNELS = flags.DEFINE_integer("channels", None, "Initial channels (cell spaces).")
_LAYERS = flags.DEFINE_integer("layers", None, "Cells (DARTS) or cells per stage (NAS-Bench-201).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Square image side (default: the dataset's).")
_INPUT_SIZE = define_deprecated("integer", "input_size", "image_size")
_NUM_CLASSES = flags.DEFINE_integer("num_classes", None, "Classifier width (default: dataset's).")
_PER_LAYER = flags.DEFINE_bool("per_layer", False, "Print a per-layer cost table to stderr.")
_PROFILER = flags.DEFINE_bool(
    "profiler", False, "Also count FLOPs with TensorFlow's profiler (slow on large models)."
)


def _table(costs) -> str:
    """Formats `LayerCost` rows as a fixed-width table."""
    lines = [f"{'layer':<48} {'class':<22} {'output':<22} {'params':>10} {'madds':>14}"]
    for c in costs:
        out = "x".join(str(d) for d in c.output_shape[1:])
        lines.append(f"{c.name[-48:]:<48} {c.class_name[:22]:<22} {out:<22} {c.params:>10,} {c.madds:>14,}")
    lines.append(
        f"{'total':<48} {'':<22} {'':<22} {sum(c.params for c in costs):>10,} "
        f"{sum(c.madds for c in costs):>14,}"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.budgets.counters import count_params, layer_costs
    from tfnas.children import build_child
    from tfnas.genotypes import codec

    try:
        genotype = codec.load(_MODEL.value)
        model = build_child(
            genotype,
            dataset=_DATASET.value,
            channels=_CHANNELS.value,
            layers=_LAYERS.value,
            input_size=resolve(_IMAGE_SIZE, _INPUT_SIZE),
            num_classes=_NUM_CLASSES.value,
            auxiliary=False,
        )
        costs = layer_costs(model)
        params = count_params(model)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    madds = sum(c.madds for c in costs)
    report = {
        "model": _MODEL.value,
        "space": genotype.space,
        "genotype": genotype.to_string(),
        "input_shape": list(model.inputs[0].shape[1:]),
        "trainable_params": params.trainable,
        "total_params": params.total,
        "params_m": round(params.trainable / 1e6, 3),
        "madds": madds,
        "madds_m": round(madds / 1e6, 2),
    }
    if _PROFILER.value:
        from tfnas.budgets.profiler import profile_flops

        report["profiler_flops"] = profile_flops(model)
    if _PER_LAYER.value:
        print(_table(costs), file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    app.run(main)
