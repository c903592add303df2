"""Numbers, counts and times as people read them: the one format of every page and
of the `trackboard` command (pure, no Streamlit).

A learning rate stored as 0.003431348857969162 reads as `0.003431`; 0.00034 as
`3.4e-4` (a short exponent, no `+` or leading zeros); 123456.7 as `123457`.
Four significant digits tell runs apart without drowning them in noise. Tables on
the pages show their numbers with `readable` (tables.readable_numbers); Plotly
formats hover values itself with the d3 format `HOVER_FORMAT`, the closest d3 has
to the same rule. Counts read "1 run", "2 runs" (`counted`); times read
`2024-05-01 14:03:22`, local time to the second (`moment`).
"""

from __future__ import annotations

import math
import numbers
from datetime import datetime
from typing import Any

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
    >>> readable(float("nan")), readable(float("-inf")), readable(-0.0), readable(10**20)
    ('nan', '-inf', '0', '100000000000000000000')
    >>> readable(0.00099995), readable(999999.6), readable(1e300), readable(-5.789e-300)
    ('0.001', '1e6', '1e300', '-5.789e-300')
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
    # Which form a number takes is decided on what it rounds to, so a value just
    # under a boundary reads like the boundary itself (0.00099995 as 0.001, not 1e-3;
    # 999999.6 as 1e6, not 1000000).
    exponential = f"{x:.{SIGNIFICANT - 1}e}"
    if abs(float(exponential)) < SMALL:
        return _short_exponent(exponential)
    if abs(x) >= 1:
        # Keep every integer digit (123457, not 1.235e5), then what 4 digits allow.
        decimals = max(0, SIGNIFICANT - len(str(int(abs(x)))))
        text = f"{x:.{decimals}f}"
        if abs(float(text)) >= LARGE:
            return _short_exponent(exponential)
    else:
        text = f"{x:.{SIGNIFICANT}g}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _short_exponent(text: str) -> str:
    """'1.230e-04' -> '1.23e-4'."""
    mantissa, _, exponent = text.partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in the right number, thousands grouped.

    >>> counted(1, "run"), counted(2, "run"), counted(0, "run"), counted(12500, "point")
    ('1 run', '2 runs', '0 runs', '12,500 points')
    >>> counted(1, "series", "series"), counted(3, "match", "matches")
    ('1 series', '3 matches')
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def moment(value: Any) -> str:
    """A timestamp as local time to the second, ISO-like; '' when there is none.

    The store keeps times in UTC with nanoseconds; people read the second, in the
    time zone of the machine showing it (the dashboard's server, the command line).

    >>> import os, time, pandas as pd
    >>> os.environ["TZ"] = "UTC"; time.tzset()
    >>> moment(pd.Timestamp("2024-05-01 14:03:22.123456789", tz="UTC"))
    '2024-05-01 14:03:22'
    >>> os.environ["TZ"] = "Europe/Berlin"; time.tzset()
    >>> moment(pd.Timestamp("2024-05-01 14:03:22.9", tz="UTC")), moment(None), moment(pd.NaT)
    ('2024-05-01 16:03:22', '', '')
    >>> moment(1714572202.5)  # seconds since the epoch (a point's wall time)
    '2024-05-01 16:03:22'
    >>> del os.environ["TZ"]; time.tzset()
    """
    import pandas as pd

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        stamp = pd.Timestamp(float(value), unit="s", tz="UTC")
    else:
        stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        return ""
    if stamp.tzinfo is None:  # naive times from the store are UTC
        stamp = stamp.tz_localize("UTC")
    local = stamp.floor("s").to_pydatetime().astimezone()
    return datetime.strftime(local, "%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """A run's duration as h:mm:ss (m:ss under an hour); '-' when unknown.

    >>> duration(42.7), duration(3725), duration(None), duration(float("nan"))
    ('0:42', '1:02:05', '-', '-')
    """
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
