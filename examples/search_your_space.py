"""Your own search space in plain Keras: choose, search, fix, train, save (then `python -m export`).

  python examples/search_your_space.py --evaluations=12 --train_examples=5000 --epochs=3 --out=runs/my_space
  python -m export --model=runs/my_space/model.keras --out=exports
"""
import os

import keras
from absl import app, flags

from tfnas.data import get_dataset_spec, load_splits
from tfnas.data.pipeline import make_eval_dataset, make_train_dataset
from tfnas.supernets.choices import KerasSpace, input_choice, layer_choice, save_record, value_choice
from tfnas.strategies.records import fit_evaluator, search_records

flags.DEFINE_string("dataset", "cifar10", "cifar10, digits, a folder of images, or tfds:NAME.")
flags.DEFINE_integer("evaluations", 12, "Models the evolution trains.")
flags.DEFINE_integer("train_examples", 5000, "Training images (the next 1,000 validate).")
flags.DEFINE_integer("epochs", 3, "Epochs per candidate; the winner trains 3x longer.")
flags.DEFINE_integer("max_params", 200_000, "Parameter budget of every candidate.")
flags.DEFINE_string("out", "runs/my_space", "Where the record and the model go.")
F = flags.FLAGS

def build(shape=(32, 32, 3), classes=10):
    """A small ResNet: per stage a width, and per block a kernel and whether to add the shortcut."""
    inputs = x = keras.Input(shape)
    for stage in range(2):
        width = value_choice([16, 32, 48], f"stage{stage}_width")
        x = keras.layers.Conv2D(width, 3, strides=2 if stage else 1, padding="same", activation="relu")(x)
        for block in range(2):
            name = f"s{stage}b{block}"
            y = layer_choice([keras.layers.Conv2D(width, k, padding="same", activation="relu") for k in (3, 5)]
                             + [keras.layers.SeparableConv2D(width, 3, padding="same", activation="relu")], name)(x)
            x = input_choice([y, keras.layers.Add()([x, y])], 1, f"{name}_shortcut")
    return keras.Model(inputs, keras.layers.Dense(classes)(keras.layers.GlobalAveragePooling2D()(x)))


def main(_):
    spec, (train, test) = get_dataset_spec(F.dataset), load_splits(F.dataset)
    shape, classes = spec.image_shape, spec.num_classes
    batches = lambda ds, aug: (make_train_dataset(ds, 64, dataset=F.dataset, augment=aug, cutout=0, seed=0) if aug
                               else make_eval_dataset(ds, 256, dataset=F.dataset))
    fit, val = train.take(F.train_examples), train.skip(F.train_examples).take(1000)
    space = KerasSpace(lambda: build(shape, classes))
    trials = search_records(space, fit_evaluator(space, batches(fit, False), batches(val, False), epochs=F.epochs),
                            evaluations=F.evaluations, population_size=6, sample_size=3, max_params=F.max_params)
    best = max(trials, key=lambda t: t.score)
    print(f"searched {len(trials)} of {space.size()} models; best {best.score:.1f}% at {best.params} params: "
          f"{best.record}")
    os.makedirs(F.out, exist_ok=True)
    save_record(best.record, os.path.join(F.out, "record.jsonl"))
    model = space.fixed_model(best.record)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(batches(fit, True), epochs=3 * F.epochs, verbose=0)
    print(f"test accuracy {100 * model.evaluate(batches(test, False), verbose=0)[1]:.1f}%")
    model.save(os.path.join(F.out, "model.keras"))


if __name__ == "__main__":
    app.run(main)
