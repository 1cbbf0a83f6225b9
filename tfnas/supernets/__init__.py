"""Search supernets: mixed/sampled cells, architecture variables, export to a genotype.

`build_supernet(SupernetConfig(...))` builds a `DartsSupernet` or an `NB201Supernet`.
"""

from tfnas.supernets.base import Supernet, build_supernet
from tfnas.supernets.config import MIXINGS, SPACES, SupernetConfig
from tfnas.supernets.darts import DartsSupernet
from tfnas.supernets.nb201 import NB201Supernet

__all__ = [
    "DartsSupernet", "MIXINGS", "NB201Supernet", "SPACES", "Supernet", "SupernetConfig",
    "build_supernet",
]
