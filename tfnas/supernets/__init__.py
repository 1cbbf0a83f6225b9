"""Search supernets: mixed/sampled cells, architecture variables, export to a genotype.

`build_supernet(SupernetConfig(...))` builds a `DartsSupernet` or an `NB201Supernet`. It lives
here, not in `base`, so that `base` never imports its subclasses (no import circle).
"""

from tfnas.supernets.base import Supernet
from tfnas.supernets.config import MIXINGS, SPACES, SupernetConfig
from tfnas.supernets.darts import DartsSupernet
from tfnas.supernets.nb201 import NB201Supernet

__all__ = [
    "DartsSupernet", "MIXINGS", "NB201Supernet", "SPACES", "Supernet", "SupernetConfig",
    "build_supernet",
]


def build_supernet(config: SupernetConfig) -> Supernet:
    """Builds the search supernet a config describes, with all variables created.

    Args:
        config: A `SupernetConfig`.

    Returns:
        A `DartsSupernet` or `NB201Supernet`.

    Raises:
        ValueError: if `config` is not a `SupernetConfig`.

    Example:
    >>> import keras
    >>> net = build_supernet(SupernetConfig(space="nb201", channels=4, layers=1,
    ...                                     input_shape=(8, 8, 3)))
    >>> tuple(net(keras.ops.zeros((2, 8, 8, 3))).shape)
    (2, 10)
    """
    if not isinstance(config, SupernetConfig):
        raise ValueError(f"config must be a SupernetConfig. Received: config={type(config).__name__}")
    if config.space == "darts":
        return DartsSupernet(config)
    return NB201Supernet(config)
