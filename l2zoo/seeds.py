"""Seeds for random layers, drawn so that building one does not move anything else.

A Keras layer built without a seed draws one from Python's `random`, the source its weight
initializers draw from too: a Dropout built between two Dense layers then changes the second
one's initial weights. Drawing from NumPy's generator instead, which
`keras.utils.set_random_seed(seed)` also seeds, ties each random layer to the run's seed and
leaves the initial weights of a family the same under every preset.
"""

from __future__ import annotations

import numpy as np


def layer_seed() -> int:
    """A seed for one random layer (Dropout, attention dropout, augmentation)."""
    return int(np.random.randint(1, 2**31 - 1))
