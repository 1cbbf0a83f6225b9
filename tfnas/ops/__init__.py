"""Candidate ops as Keras building blocks.

Importing this package registers every custom layer with Keras serialization, which
`keras.saving.load_model` needs to load a saved tfnas network:

>>> import tfnas.ops  # doctest: +SKIP
>>> model = keras.saving.load_model("runs/quickstart/model.keras")  # doctest: +SKIP
"""

from tfnas.ops import cell_ops, drop_path, mbconv  # noqa: F401  (register custom layers)
