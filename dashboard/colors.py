"""One colour (and, past 50 runs, a dash style) per run, derived from its id.

A run keeps its colour across pages, reloads and selection orders: the colour
comes from a hash of the run id, not from the run's position in the selection.
Two selected runs never share a colour while there are at most `len(PALETTE)`
of them: when a run's preferred colour is taken, it gets the next free one, and
the runs are placed in the order of their hashes, so the outcome depends only on
the set of runs selected. Past 50 runs the colours repeat with dashed lines.

The palette: 50 colours picked greedily (farthest point first, CIE L*a*b*
distance) from Plotly's qualitative palettes, leaving out colours too light to
see on white (L* > 75) or too close to black (L* < 25). Any two are at least
19 Delta-E apart; Plotly's own 10-colour palette followed by D3's has pairs
under 5 apart (the near-identical colours seen at 12 runs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

PALETTE: tuple[str, ...] = (
    "#636EFA", "#1CA71C", "#FB0D0D", "#B3B3B3", "#E6AB02", "#B00068", "#FE00FA", "#6C4516",
    "#511CFB", "#F97B72", "#1B9E77", "#1F77B4", "#BC80BD", "#750D86", "#999933", "#565656",
    "#17BECF", "#FF7F0E", "#FC1CBF", "#5F4690", "#AF0038", "#C4451C", "#FE88B1", "#87C55F",
    "#FFA15A", "#DA60CA", "#FC0080", "#68855C", "#A6761D", "#AF6458", "#00B5F7", "#862A16",
    "#8DA0CB", "#D9AF6B", "#3366CC", "#117733", "#855C75", "#BCBD22", "#24796C", "#8C785D",
    "#F8A19F", "#AB63FA", "#AA0DFE", "#DEA0FD", "#B10DA1", "#94346E", "#00CC96", "#DD4477",
    "#7E7DCD", "#984EA3")
# Plotly line dash names, one per round of the palette.
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


@dataclass(frozen=True)
class Style:
    """How one run is drawn: its line colour (hex) and dash."""

    colour: str
    dash: str = "solid"


def preferred_slot(key: str) -> int:
    """The palette index a run (or group) gets when nothing else holds it.

    A digest, not Python's hash(), which changes with every interpreter.

    >>> preferred_slot("3f2a9c") == preferred_slot("3f2a9c")
    True
    """
    return _digest(key) % len(PALETTE)


def styles(keys: Iterable[str]) -> dict[str, Style]:
    """A style for each key (run id or group label), distinct up to 50 keys.

    Depends on the set of keys only, not on their order:

    >>> a = styles(["run-a", "run-b", "run-c"])
    >>> a == styles(["run-c", "run-a", "run-b"])
    True
    >>> len({s.colour for s in a.values()})
    3
    >>> len({(s.colour, s.dash) for s in styles(f"r{i}" for i in range(120)).values()})
    120
    """
    unique = sorted(set(keys), key=lambda k: (_digest(k), k))
    free: list[bool] = []
    level = -1
    out: dict[str, Style] = {}
    for i, key in enumerate(unique):
        if i % len(PALETTE) == 0:  # a round is full: the next starts with every colour free
            free = [True] * len(PALETTE)
            level += 1
        slot = _digest(key) % len(PALETTE)
        while not free[slot]:
            slot = (slot + 1) % len(PALETTE)
        free[slot] = False
        out[key] = Style(PALETTE[slot], DASHES[level % len(DASHES)])
    return out


def colours(keys: Iterable[str]) -> dict[str, str]:
    """Just the colours of `styles`.

    >>> c = colours(["x"])
    >>> c["x"] == PALETTE[preferred_slot("x")]
    True
    """
    return {k: s.colour for k, s in styles(keys).items()}


def swatch(colour: str, dash: str = "solid") -> str:
    """A small SVG image of a run's line, as a data URL (for an image column).

    >>> swatch("#636EFA").startswith("data:image/svg+xml;utf8,<svg")
    True
    """
    pattern = {"solid": "", "dash": "6 3", "dot": "2 2", "dashdot": "6 2 2 2",
               "longdash": "10 3", "longdashdot": "10 2 2 2"}.get(dash, "")
    # A filled square for solid lines (the clearest swatch); a thick stroke shows a dash.
    body = (f"<rect x='2' y='2' width='20' height='20' rx='3' fill='{colour}'/>" if not pattern
            else f"<line x1='1' y1='12' x2='23' y2='12' stroke='{colour}' stroke-width='6' "
                 f"stroke-dasharray='{pattern}'/>")
    svg = f"<svg xmlns='http://www.w3.org/2000/svg' width='24' height='24'>{body}</svg>"
    return "data:image/svg+xml;utf8," + svg.replace("#", "%23")


def _digest(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
