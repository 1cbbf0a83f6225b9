r"""Package a `launch.train` run as zoo weights: `python -m export.zoo_weights ...`.

Copies the trained network's weights (by variable path) into the zoo's build of the same
architecture, writes them as float16 `.npz` into `tfnas/applications/weights/`, loads them
back through `tfnas.applications.create_model` (so the sha256 check runs), measures the
shipped weights' accuracy on the whole CIFAR-10 test split, and writes the card
`<arch>.<tag>.json` beside the file: options, training command, the run's config and
report figures, measured accuracy, sha256, size.

`--dna_workdir=DIR` ships the teacher of a DNA run instead (`package_dna_teacher`).

Example:
  python -m export.zoo_weights --workdir=runs/zoo/darts_v2_c16_l8 --name=darts_v2.c16_l8_cifar10 \
      --command="python -m launch.train --model=darts_v2 ..."
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished launch.train run folder.")
_DNA_WORKDIR = flags.DEFINE_string(
    "dna_workdir", None, "Instead of --workdir: a DNA run folder (launch.rank --scorer=dna) whose teacher to ship "
    "as nb201_resnet.<tag>.")
_NAME = flags.DEFINE_string("name", None, "Zoo name <arch>.<tag>, e.g. darts_v2.c16_l8_cifar10.")
_COMMAND = flags.DEFINE_string("command", None, "The exact training command line.")
_LOAD = flags.DEFINE_string("load", None, "Machine load during training, as observed (free text).")
_PUBLISHED = flags.DEFINE_string("published", None, "The paper's published figure to cite beside ours.")
_DEST = flags.DEFINE_string("dest", None, "Output folder (default: tfnas/applications/weights).")
_RECALIBRATE_BN = flags.DEFINE_integer(
    "recalibrate_bn_batches", 0,
    "Recompute BatchNorm moving statistics over this many 200-image batches of the training images "
    "before packaging (0: off). For runs too short for slow BN momenta (0.999) to converge.",
)


def recalibrate_batch_norm(model, batches) -> int:
    """Sets every BatchNorm's moving mean/variance to the average of its batch statistics.

    Runs `model(x, training=True)` eagerly on each batch with the momentum of batch `i`
    (1-based) set to `1 - 1/i`, so the moving statistics end as the plain mean of the
    per-batch statistics (batch-norm recalibration, as in AdaBN arXiv 1603.04779 and the
    subnet BN calibration of Once-for-All arXiv 1908.09791). Trainable weights are untouched;
    the momenta are restored afterwards.

    Args:
        model: The network (logits model).
        batches: An iterable of normalized image batches.

    Returns:
        The number of batches used.

    Raises:
        ValueError: if `model` has no BatchNormalization layer or `batches` is empty.
    """
    import keras

    layers, stack = [], list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.Model):
            stack.extend(layer.layers)
        elif isinstance(layer, keras.layers.BatchNormalization):
            layers.append(layer)
    if not layers:
        raise ValueError(f"{model.name} has no BatchNormalization layer to recalibrate.")
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, x in enumerate(batches, start=1):
            for layer in layers:
                layer.momentum = 1.0 - 1.0 / count
            model(x, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if count == 0:
        raise ValueError("No batches to recalibrate BatchNorm statistics with.")
    return count


def package_run(
    workdir: str,
    name: str,
    command: str,
    *,
    dest: str | None = None,
    extra: dict[str, Any] | None = None,
    recalibrate_bn_batches: int = 0,
) -> dict[str, Any]:
    """Writes the zoo weights file and card of a finished training run.

    Args:
        workdir: The `launch.train` run folder (config.json, report.json, model.keras).
        name: `<arch>.<tag>`, `arch` a zoo architecture.
        command: The exact training command.
        dest: Output folder (default: the package's weights folder).
        extra: More card fields (observed load, published figures).
        recalibrate_bn_batches: When > 0, recompute BatchNorm moving statistics on that many
            200-image batches of the run's training images (`recalibrate_batch_norm`) before
            saving; recorded in the card.

    Returns:
        The card.

    Raises:
        ValueError: for an unknown architecture, a run of another genotype, or a tag
            already shipped.
        FileNotFoundError: if the run is not finished (no report.json / model.keras).
    """
    import keras

    import tfnas.ops  # noqa: F401  (the run's model.keras holds tfnas layers)
    from tfnas import data
    from tfnas.applications import zoo
    from tfnas.genotypes import codec

    arch, _, tag = name.partition(".")
    if arch not in zoo.ARCHITECTURES or not tag:
        raise ValueError(f"name must be <arch>.<tag> with arch in {sorted(zoo.ARCHITECTURES)}. Received: {name!r}")
    paths = _run_files(workdir, ("config.json", "report.json", "model.keras"),
                       f"is {workdir} a finished launch.train run?")
    config, report = _read_json(paths["config.json"]), _read_json(paths["report.json"])
    genotype = codec.load(zoo.ARCHITECTURES[arch]["genotype"])
    if report["genotype"] != genotype.to_string():
        raise ValueError(f"{workdir} trained {report['genotype'][:80]}..., not the {arch} genotype.")
    _check_new(name, dest)
    trained = keras.saving.load_model(paths["model.keras"], compile=False)
    options = {"channels": config["channels"], "layers": config["layers"]} if genotype.space == "darts" else {}
    network = zoo.build_zoo_model(arch, dataset=config["dataset"], classifier_activation=None, **options)
    _copy_variables({v.path: v for v in trained.weights}, network, "The trained model")
    recalibration = None
    if recalibrate_bn_batches > 0:
        train, _ = data.load_splits(config["dataset"], data_dir=config.get("data_dir"))
        if config.get("max_train_examples"):
            train = train.take(config["max_train_examples"])
        batches = data.make_eval_dataset(train, dataset=config["dataset"], batch_size=200)
        used = recalibrate_batch_norm(network, (x for x, _ in batches.take(recalibrate_bn_batches)))
        recalibration = {
            "batches": used,
            "batch_size": 200,
            "images": "the run's training images, unaugmented",
            "why": "BatchNorm moving statistics recomputed after training (AdaBN-style); the run's "
            "moving averages had not converged",
        }
    fields = {
        "dataset": config["dataset"],
        "channels": options.get("channels"),
        "layers": options.get("layers"),
        "command": command,
        "training": {
            "config": config,
            "float32_test_accuracy": report["test_accuracy"],
            "seconds_per_epoch": report.get("seconds_per_epoch"),
            "train_images_per_second": report.get("train_images_per_second"),
        },
        "bn_recalibration": recalibration,
        **(extra or {}),
    }
    return ship(network, name, fields, data_dir=config.get("data_dir"), dest=dest)


def package_dna_teacher(
    dna_workdir: str,
    name: str,
    command: str,
    *,
    data_dir: str | None = None,
    dest: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Writes the zoo weights file and card of the teacher of a DNA run (`tfnas.ranking.dna`).

    The teacher is an NB201 network of the ResNet cell trained at the run's proxy (its
    channels and input size, `teacher_layers` cells per stage); the zoo's `nb201_resnet` build
    at those options receives its variables. The card records the DNA settings, the teacher's
    held-out accuracy and training seconds from `teacher.json`, and the shipped weights'
    accuracy on the whole CIFAR-10 test split resized to the proxy (area resampling, as the
    run's training images).

    Args:
        dna_workdir: A DNA run folder (`config.json`, `teacher.json`, `teacher.weights.h5`).
        name: `nb201_resnet.<tag>`.
        command: The command that trained the teacher.
        data_dir: The shared data folder (default `$TFNAS_DATA_DIR`).
        dest: Output folder (default: the package's weights folder).
        extra: More card fields.

    Returns:
        The card.

    Raises:
        ValueError: for another architecture than `nb201_resnet`, a teacher of another cell,
            or a tag already shipped.
        FileNotFoundError: if the run has no trained teacher.
    """
    from tfnas.applications import zoo
    from tfnas.genotypes import codec
    from tfnas.ranking.dna import DnaConfig, build_teacher
    from tfnas.ranking.scorers import ProxyConfig

    arch, _, tag = name.partition(".")
    if arch != "nb201_resnet" or not tag:
        raise ValueError(f"A DNA teacher ships as nb201_resnet.<tag>. Received: {name!r}")
    paths = _run_files(dna_workdir, ("config.json", "teacher.json", "teacher.weights.h5"),
                       f"has the DNA run in {dna_workdir} trained its teacher?")
    stored, teacher_report = _read_json(paths["config.json"]), _read_json(paths["teacher.json"])
    config = DnaConfig(**{k: tuple(v) if k == "learning_rates" else v for k, v in stored["dna"].items()})
    proxy = ProxyConfig(**stored["proxy"])
    if codec.load(config.teacher_cell) != codec.load(zoo.ARCHITECTURES[arch]["genotype"]):
        raise ValueError(f"The teacher of {dna_workdir} is {config.teacher_cell}, not the {arch} cell.")
    _check_new(name, dest)
    teacher = build_teacher(config, proxy, num_classes=10)
    teacher.load_weights(paths["teacher.weights.h5"])
    network = zoo.build_zoo_model(arch, dataset=proxy.dataset, channels=proxy.channels, layers=config.teacher_layers,
                                  input_shape=(proxy.image_size, proxy.image_size, 3), classifier_activation=None)
    _copy_variables({v.path: v for v in teacher.weights}, network, "The DNA teacher")
    fields = {
        "dataset": proxy.dataset,
        "channels": proxy.channels,
        "layers": config.teacher_layers,
        "command": command,
        "training": {
            "dna_config": stored,
            "images": f"the first {config.train_examples} CIFAR-10 training images at {proxy.image_size}x"
                      f"{proxy.image_size}, no augmentation",
            "heldout_accuracy": teacher_report["heldout_accuracy"],
            "heldout_images": f"the next {config.val_examples} training images",
            "training_seconds": teacher_report["training_seconds"],
        },
        **(extra or {}),
    }
    return ship(network, name, fields, data_dir=data_dir, dest=dest)


def _run_files(workdir: str, names: tuple[str, ...], hint: str) -> dict[str, str]:
    """`{name: path}` of a run folder's files; FileNotFoundError naming the first missing one."""
    paths = {name: os.path.join(workdir, name) for name in names}
    for path in paths.values():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} missing: {hint}")
    return paths


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _check_new(name: str, dest: str | None) -> None:
    from tfnas.applications import zoo

    if os.path.exists(os.path.join(dest or zoo.WEIGHTS_DIR, f"{name}.json")):
        raise ValueError(f"{name} is already shipped in {dest or zoo.WEIGHTS_DIR}; choose a new tag.")


def _copy_variables(source: dict[str, Any], network, what: str) -> None:
    """Assigns `network`'s variables from `source` (variable path -> variable)."""
    targets = [v for v in network.weights if "seed_generator" not in v.path]
    missing = [v.path for v in targets if v.path not in source]
    if missing:
        raise ValueError(f"{what} lacks {len(missing)} variables of the zoo build: {missing[:5]}")
    for variable in targets:
        variable.assign(source[variable.path])


def ship(network, name: str, fields: dict[str, Any], *, data_dir: str | None = None,
         dest: str | None = None) -> dict[str, Any]:
    """Saves `network` (a zoo build holding trained weights) as float16 zoo weights `name`,
    measures the shipped file's accuracy on the whole test split of `fields["dataset"]`
    (resized to the network's input when that is not the native size), and writes the card.

    Args:
        network: The zoo build of the architecture of `name` (logits).
        name: `<arch>.<tag>`.
        fields: Card fields: at least `dataset`, `channels`, `layers`, `command`.
        data_dir: The shared data folder (default `$TFNAS_DATA_DIR`).
        dest: Output folder (default: the package's weights folder).

    Returns:
        The card.
    """
    from tfnas import applications, data
    from tfnas.data.pipeline import resize_examples
    from tfnas.applications import zoo
    from tfnas.budgets.counters import count_madds, count_params
    from tfnas.children.training import _evaluate
    from tfnas.genotypes import codec

    arch, _, tag = name.partition(".")
    dest = dest or zoo.WEIGHTS_DIR
    file_name = f"{name}.npz"
    genotype = codec.load(zoo.ARCHITECTURES[arch]["genotype"])
    os.makedirs(dest, exist_ok=True)
    digest = applications.save_weights_npz(network, os.path.join(dest, file_name), dtype="float16")
    params = count_params(network)
    size = int(network.inputs[0].shape[1])
    card: dict[str, Any] = {
        "arch": arch,
        "tag": tag,
        "file": file_name,
        "sha256": digest,
        "size_bytes": os.path.getsize(os.path.join(dest, file_name)),
        "storage_dtype": "float16",
        "classes": int(network.outputs[0].shape[-1]),
        "input_size": size,
        "genotype": genotype.to_string(),
        "space": genotype.space,
        "trainable_params": params.trainable,
        "madds": int(count_madds(network)),
        **fields,
    }
    # Measure what ships: the float16 file, loaded through the zoo with its hash check.
    dataset = fields["dataset"]
    card_path = os.path.join(dest, f"{name}.json")
    located = {**card, "file": os.path.abspath(os.path.join(dest, file_name))}  # absolute: any dest
    try:
        zoo.WEIGHTS[name] = located
        shipped = applications.create_model(name, classifier_activation=None)
        _, test = data.load_splits(dataset, data_dir=data_dir)
        native = data.get_dataset_spec(dataset).image_shape[0]
        resized = size != native and dataset != "digits"
        if resized:
            test = test.map(resize_examples(size))
        _, accuracy = _evaluate(shipped, data.make_eval_dataset(test, dataset=dataset, batch_size=200))
    except Exception:
        zoo.WEIGHTS.pop(name, None)
        raise
    card["test_accuracy"] = round(float(accuracy), 4)
    card["accuracy_split"] = (f"{dataset} test split, all images{f', resized to {size}x{size} (area)' if resized else ''}"
                              ", shipped float16 weights")
    with open(card_path, "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    zoo.WEIGHTS[name] = {**located, "test_accuracy": card["test_accuracy"], "accuracy_split": card["accuracy_split"]}
    return card


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    # Checked here rather than with `required=True`: absl flags are process-global, and a
    # required flag would break every other flag-parsing test that imports this module.
    missing = [f"--{flag.name}" for flag in (_NAME, _COMMAND) if not flag.value]
    if bool(_WORKDIR.value) == bool(_DNA_WORKDIR.value):
        missing.append("exactly one of --workdir / --dna_workdir")
    if missing:
        raise app.UsageError(f"Missing required flags: {', '.join(missing)}.")
    extra = {}
    if _LOAD.value:
        extra["machine_load"] = _LOAD.value
    if _PUBLISHED.value:
        extra["published"] = _PUBLISHED.value
    try:
        if _DNA_WORKDIR.value:
            card = package_dna_teacher(_DNA_WORKDIR.value, _NAME.value, _COMMAND.value, dest=_DEST.value, extra=extra)
        else:
            card = package_run(
                _WORKDIR.value, _NAME.value, _COMMAND.value, dest=_DEST.value, extra=extra,
                recalibrate_bn_batches=_RECALIBRATE_BN.value,
            )
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps({k: v for k, v in card.items() if k != "training"}))


if __name__ == "__main__":
    app.run(main)
