"""Flags and data preparation shared by `launch.search_caption` and `launch.train_caption`."""

from __future__ import annotations

from absl import flags

CAPTIONS = flags.DEFINE_string(
    "captions", None, "Karpathy-split caption JSON (MSCOCO's dataset_coco.json); unset: the CIFAR-10 grid set, "
    "built on first use from --data_dir.")
IMAGE_ROOT = flags.DEFINE_string("image_root", None, "Folder the JSON's filepath/filename are relative to "
                                                     "(default: the JSON's folder).")
DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder holding cifar10/cifar10_jpg.tar.gz; default $TFNAS_DATA_DIR.")
SET_SEED = flags.DEFINE_integer("set_seed", 0, "Seed of the built CIFAR-10 grid set.")
TRAIN_GRIDS = flags.DEFINE_integer("train_grids", 10_000, "Training grids of the built set.")
VAL_GRIDS = flags.DEFINE_integer("val_grids", 500, "Validation grids of the built set.")
TEST_GRIDS = flags.DEFINE_integer("test_grids", 500, "Test grids of the built set.")
ENCODER = flags.DEFINE_string("encoder", "darts_v2.c16_l8_cifar10", "Frozen encoder: a zoo weights name.")
GRID = flags.DEFINE_integer("grid", 4, "Regions per side the encoder's feature map is pooled to.")
IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Square side images are resized to for the encoder "
                                                      "(default: the first training image's height).")
MIN_COUNT = flags.DEFINE_integer("min_count", 5, "Words seen fewer times in the training captions become <unk>.")
FINE_TUNE = flags.DEFINE_bool("fine_tune", False, "Train the encoder with the child decoder (images streamed from "
                                                  "their files; BatchNorm statistics frozen); default: frozen features.")
ENCODER_LEARNING_RATE = flags.DEFINE_float("encoder_learning_rate", None, "The encoder's Adam rate with --fine_tune "
                                                                          "(default: a tenth of the decoder's).")
BEAM = flags.DEFINE_integer("beam", 3, "Beam size of the test captions (1: greedy only).")


def prepare(workdir: str, max_length: int, log=print):
    """The run's `CaptionData` (the set built or read, features cached in `workdir`)."""
    from tfnas.captioning.pipeline import default_caption_set, prepare as prepare_data

    captions = CAPTIONS.value or default_caption_set(DATA_DIR.value, seed=SET_SEED.value, train=TRAIN_GRIDS.value,
                                                     val=VAL_GRIDS.value, test=TEST_GRIDS.value)
    log(f"captions: {captions}")
    return prepare_data(captions, workdir, encoder=ENCODER.value, grid=GRID.value, min_count=MIN_COUNT.value,
                        max_length=max_length, image_root=IMAGE_ROOT.value, image_size=IMAGE_SIZE.value,
                        log=log), captions
