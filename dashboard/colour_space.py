"""Colour differences as people see them (pure numpy): sRGB -> CIELAB, and the
CIEDE2000 colour difference, for choosing run colours that stay apart
(colors.py) and for measuring them (bench/colours.py, the colour tests)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def rgb(colour: str) -> tuple[float, float, float]:
    """The 0-255 channels of '#RRGGBB' or of 'rgb(r, g, b)' / 'rgba(...)' as browsers write them.

    >>> rgb("#FF8000"), rgb("rgba(1, 2, 3, 0.5)")
    ((255.0, 128.0, 0.0), (1.0, 2.0, 3.0))
    """
    if colour.startswith("rgb"):
        r, g, b = (float(v) for v in colour[colour.index("(") + 1:-1].split(",")[:3])
        return r, g, b
    h = colour.lstrip("#")
    return float(int(h[0:2], 16)), float(int(h[2:4], 16)), float(int(h[4:6], 16))


def lab(colours: Sequence[str] | str) -> np.ndarray:
    """CIELAB (D65) of one colour (shape (3,)) or of several (shape (n, 3)).

    >>> (lab("#FFFFFF").round(1) + 0.0).tolist(), lab(["rgb(0, 0, 0)"]).round(1).tolist()
    ([100.0, 0.0, 0.0], [[0.0, 0.0, 0.0]])
    """
    one = isinstance(colours, str)
    c = np.array([rgb(colours)] if one else [rgb(x) for x in colours], float) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ _SRGB_TO_XYZ.T / _WHITE_D65
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    out = np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])],
                   axis=1)
    return out[0] if one else out


def ciede2000(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """CIEDE2000 (Sharma, Wu and Dalal, 2005; kL = kC = kH = 1) between CIELAB
    triples, broadcasting over leading axes.

    >>> pairs = np.array([[[50, 2.6772, -79.7751], [50, 0, -82.7485]],   # Sharma's pair 1
    ...                   [[50, -0.001, 2.49], [50, 0.0009, -2.49]]])    # pair 13
    >>> ciede2000(pairs[:, 0], pairs[:, 1]).round(4).tolist()
    [2.0425, 4.8045]
    """
    l1, a1, b1 = np.moveaxis(np.asarray(first, float), -1, 0)
    l2, a2, b2 = np.moveaxis(np.asarray(second, float), -1, 0)
    cbar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(cbar7 / (cbar7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    achromatic = c1p * c2p == 0
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(achromatic, 0.0, dh)
    big_dh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    hsum = h1p + h2p
    hbar = np.where(np.abs(h1p - h2p) <= 180, hsum / 2,
                    np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2))
    hbar = np.where(achromatic, hsum, hbar)
    lbar, cbar = (l1 + l2) / 2, (c1p + c2p) / 2
    t = (1 - 0.17 * np.cos(np.radians(hbar - 30)) + 0.24 * np.cos(np.radians(2 * hbar))
         + 0.32 * np.cos(np.radians(3 * hbar + 6)) - 0.20 * np.cos(np.radians(4 * hbar - 63)))
    sl = 1 + 0.015 * (lbar - 50) ** 2 / np.sqrt(20 + (lbar - 50) ** 2)
    sc, sh = 1 + 0.045 * cbar, 1 + 0.015 * cbar * t
    rt = (-np.sin(np.radians(60 * np.exp(-(((hbar - 275) / 25) ** 2))))
          * 2 * np.sqrt(cbar ** 7 / (cbar ** 7 + 25.0 ** 7)))
    dl, dc = (l2 - l1) / sl, (c2p - c1p) / sc
    dhh = big_dh / sh
    return np.sqrt(dl ** 2 + dc ** 2 + dhh ** 2 + rt * dc * dhh)


def delta_e(first: str, second: str, formula: str = "2000") -> float:
    """The difference of two colours: CIEDE2000, or "76" for CIELAB's Euclidean distance.

    >>> round(delta_e("#000000", "#FFFFFF"), 1), round(delta_e("#FF0000", "#FF0000", "76"), 1)
    (100.0, 0.0)
    """
    a, b = lab(first), lab(second)
    if formula == "76":
        return float(np.linalg.norm(a - b))
    return float(ciede2000(a, b))


def closest_pair(colours: Sequence[str], formula: str = "2000") -> float:
    """The smallest difference between any two of `colours` (inf for fewer than two).

    >>> closest_pair(["#000000", "#FFFFFF", "#000000"])
    0.0
    """
    return min((delta_e(a, b, formula) for a, b in combinations(colours, 2)),
               default=float("inf"))


def farthest_first(colours: Sequence[str], start: int = 0) -> list[str]:
    """`colours` reordered so that each is the one farthest (CIEDE2000) from all
    before it: the order in which to hand them out so any first n stay far apart.

    >>> farthest_first(["#000000", "#111111", "#FFFFFF"])
    ['#000000', '#FFFFFF', '#111111']
    """
    points = lab(list(colours))
    order = [start]
    nearest = ciede2000(points, points[start])
    nearest[start] = -1.0
    for _ in range(len(colours) - 1):
        pick = int(np.argmax(nearest))
        order.append(pick)
        nearest = np.minimum(nearest, ciede2000(points, points[pick]))
        nearest[order] = -1.0
    return [colours[i] for i in order]
