"""One colour (and, past the palette, a dash style) per run on a page.

The runs on a page are put in a stable order (oldest first, then by id), and each
takes the free colour farthest from the colours already taken. The colours are
colorcet's Glasbey "dark" palette (256 colours made to be told apart) less those
too light to see on white or too close to black (CIELAB L* outside 25..75): 220
colours. Ordered once so that each is the farthest (CIEDE2000) from all before it
(colour_space.farthest_first), "the farthest free colour" is simply the next one,
and any first n runs get n colours far apart: the smallest difference among the
runs shown is 77 at 2 runs, 43 at 6, 23 at 12 and 12 at 50 (CIEDE2000; the
hashed colours before gave pages with pairs at 5; bench/colours.py).

What stays stable: a run has the same colour in every chart, in the run list and
the hyperparameter view, in any selection order, after a reload and while other
runs are hidden (colours go to the selection, not to the runs shown); a run
started later than every selected run takes the next colour and leaves the
others' colours alone. Removing a run from the selection may recolour the runs
started after it: a colour taken from a hash of the run id alone (what this
module did before) cannot keep the runs of one page apart (6 runs held three
magentas).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import colorcet
from trackboard.dashboard.colour_space import farthest_first, lab

# Lines of these lightnesses (CIELAB L*) stay visible on white and tell hue apart.
LIGHTNESS = (25.0, 75.0)
_GLASBEY = [c.upper() for c in colorcet.glasbey_dark]
PALETTE: tuple[str, ...] = tuple(farthest_first(
    [c for c, (light, _, _) in zip(_GLASBEY, lab(_GLASBEY))
     if LIGHTNESS[0] <= light <= LIGHTNESS[1]]))
# Plotly line dash names, one per round of the palette.
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


@dataclass(frozen=True)
class Style:
    """How one run is drawn: its line colour (hex) and dash."""

    colour: str
    dash: str = "solid"


def stable_order(keys: Iterable[str], rank: Mapping[str, float | None] | None = None
                 ) -> list[str]:
    """The keys (run ids or group labels) in the order that hands out colours: by
    `rank` (a run's start time, in seconds) where given, then by the key itself; never by the
    order they came in.

    >>> stable_order(["b", "a", "c"]), stable_order(["b", "a", "c"], {"c": 1.0, "b": 2.0})
    (['a', 'b', 'c'], ['c', 'b', 'a'])
    """
    unique = set(keys)
    if not rank:
        return sorted(unique)

    def place(key: str) -> tuple[bool, float, str]:
        value = rank.get(key)
        missing = value is None or value != value  # None or NaN: after the ranked keys
        return missing, 0.0 if missing else float(value), key

    return sorted(unique, key=place)


def styles(keys: Iterable[str], rank: Mapping[str, float | None] | None = None) -> dict[str, Style]:
    """A style for each key (run id or group label): the colours far apart, distinct
    up to len(PALETTE) keys, then repeated with dashed lines.

    Depends on the set of keys (and their ranks) only, not on their order:

    >>> a = styles(["run-a", "run-b", "run-c"])
    >>> a == styles(["run-c", "run-a", "run-b"])
    True
    >>> [s.colour for s in a.values()] == list(PALETTE[:3])
    True
    >>> len({(s.colour, s.dash) for s in styles(f"r{i}" for i in range(600)).values()})
    600
    """
    out: dict[str, Style] = {}
    for i, key in enumerate(stable_order(keys, rank)):
        level, slot = divmod(i, len(PALETTE))
        out[key] = Style(PALETTE[slot], DASHES[level % len(DASHES)])
    return out


def colours(keys: Iterable[str], rank: Mapping[str, float | None] | None = None) -> dict[str, str]:
    """Just the colours of `styles`.

    >>> colours(["x"])["x"] == PALETTE[0]
    True
    """
    return {k: s.colour for k, s in styles(keys, rank).items()}


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

