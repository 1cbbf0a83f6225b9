"""build_child refuses shapes its network cannot take."""

import pytest

import tfnas.genotypes.published_blocks as published
from tfnas.children import build_child
from tfnas.genotypes import codec
from tfnas.genotypes.nb201 import NB201Genotype


@pytest.mark.parametrize("genotype, dataset, side, least", [
    (published.MOBILENET_V2, "imagenet", 3, 32),
    (published.MOBILENET_V2, "imagenet", 31, 32),
    (NB201Genotype(("nor_conv_3x3",) * 6), "cifar10", 3, 4),
    (codec.load("darts_v2"), "imagenet", 16, 32),
])
def test_an_input_smaller_than_the_downsampling_is_refused(genotype, dataset, side, least):
    with pytest.raises(ValueError, match=f"input_size={side} is smaller than the network's total downsampling "
                                         f"\\({least}x\\).*Use input_size >= {least}"):
        build_child(genotype, dataset=dataset, input_size=side)


def test_the_smallest_input_builds_and_bad_sizes_are_named():
    model = build_child(NB201Genotype(("nor_conv_3x3",) * 6), channels=4, layers=1, input_size=4)
    assert tuple(model.input.shape[1:]) == (4, 4, 3)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="input_size must be a positive int"):
            build_child(NB201Genotype(("nor_conv_3x3",) * 6), input_size=bad)
