"""The y range of a chart whose series is constant (pure).

Plotly's autorange puts a constant series in the middle of a unit-wide axis: Keras'
fixed learning rate of 0.001 is drawn on about -1..1 and reads as 0. A constant
series gets an axis around its own value instead, half its size either way, so its
tick labels show the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# Half the axis height, as a share of the value's size (an axis at 0 spans -1..1).
SPREAD = 0.5


def constant_range(values: Iterable[float]) -> list[float] | None:
    """[low, high] around the value of a series whose finite values are all equal;
    None for a series that varies (or has no finite value): Plotly's range is right.

    >>> constant_range([0.001, 0.001]), constant_range([-4.0]), constant_range([0.0, 0.0])
    ([0.0005, 0.0015], [-6.0, -2.0], [-1.0, 1.0])
    >>> constant_range([1.0, 2.0]) is None, constant_range([float("nan")]) is None
    (True, True)
    """
    finite = {float(v) for v in values if math.isfinite(v)}
    if len(finite) != 1:
        return None
    (value,) = finite
    half = abs(value) * SPREAD or 1.0
    return [value - half, value + half]
