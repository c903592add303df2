"""Numbers as people read them, for run labels and tables (pure, no Streamlit).

A learning rate stored as 0.003431348857969162 reads as `0.003431`; 0.00034 as
`3.4e-4` (a short exponent, no `+` or leading zeros); 123456.7 as `123457`.
Four significant digits tell runs apart without drowning them in noise.
Plotly formats hover values itself with the d3 format `HOVER_FORMAT`, the
closest d3 has to the same rule.
"""

from __future__ import annotations

import math
import numbers

SIGNIFICANT = 4
# Below this magnitude a decimal needs three zeros before its digits: use an exponent.
SMALL = 1e-3
# From here on an integer part has more digits than anyone reads at a glance.
LARGE = 1e6
# The d3 format Plotly applies to hover values: 4 significant digits, trailing zeros cut.
HOVER_FORMAT = ".4~g"


def readable(value: object) -> str:
    """A number as a short string; anything else as `str(value)`.

    >>> [readable(v) for v in (0.003431348857969162, 0.0034, 3.4e-4, 1e-5, 0.5)]
    ['0.003431', '0.0034', '3.4e-4', '1e-5', '0.5']
    >>> [readable(v) for v in (32, 123456.7, 12.3456, 2.0, 2.5e7, -0.00012, True, "adam")]
    ['32', '123457', '12.35', '2', '2.5e7', '-1.2e-4', 'True', 'adam']
    >>> readable(float("nan")), readable(float("-inf"))
    ('nan', '-inf')
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    x = float(value)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    mag = abs(x)
    if mag < SMALL or mag >= LARGE:
        mantissa, _, exponent = f"{x:.{SIGNIFICANT - 1}e}".partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    if mag >= 1:
        # Keep every integer digit (123457, not 1.235e5), then what 4 digits allow.
        decimals = max(0, SIGNIFICANT - len(str(int(mag))))
        text = f"{x:.{decimals}f}"
    else:
        text = f"{x:.{SIGNIFICANT}g}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
