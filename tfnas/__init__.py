"""tfnas: automated network design for TensorFlow / Keras 3.

Searches the search space (AutoSpace), the architecture inside it (the differentiable
NAS family) and the augmentation policy, under hardware budgets, and exports the result.
See WORKSPACE.md for the map of the package.
"""

__version__ = "0.1.0"
