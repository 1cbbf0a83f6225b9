"""Genotypes: architectures as data, with a canonical string and JSON, for every space.

Importing this package registers every genotype class (`GENOTYPE_CLASSES`) and every
published genotype (`codec.PUBLISHED`), so `codec.load("darts_v2")` and `codec.parse(text)`
see all of them whichever module the caller imported first.
"""

from tfnas.genotypes import base, codec
from tfnas.genotypes import block, cell, nb201  # noqa: F401  (register the spaces)
from tfnas.genotypes import published_blocks, published_cells  # noqa: F401  (register names)
from tfnas.genotypes.block import BlockGenotype
from tfnas.genotypes.cell import DartsGenotype
from tfnas.genotypes.codec import PUBLISHED, load, parse
from tfnas.genotypes.nb201 import NB201Genotype

__all__ = ["BlockGenotype", "DartsGenotype", "NB201Genotype", "PUBLISHED", "base", "codec", "load", "parse"]
