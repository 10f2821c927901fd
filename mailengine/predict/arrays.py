"""The array types the models take and give: one-dimensional float64 and int64 arrays."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]


def as_floats(values: ArrayLike) -> Floats:
    """One-dimensional float64 array of `values` (no copy when already one)."""
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(-1) if array.ndim != 1 else array
