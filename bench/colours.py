"""How far apart the colours of the runs on one Compare page are; prints one JSON object.

    python -m bench.colours [--baseline 604aff8] [--draws 300]

For 2, 6, 12 and 50 runs with random ids (as `Run` makes them), the smallest colour
difference between any two runs shown (CIEDE2000 and CIELAB Delta E 1976), with this
checkout's dashboard/colors.py and with the baseline commit's (before issue 19 item 10
its colours came from a hash of the run id). The baseline is read with `git show`.
Pure Python, no browser: the browser test (tests/test_compare_browser.py) checks that
the drawn lines carry these colours.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import types
from pathlib import Path

from trackboard.dashboard import colors
from trackboard.dashboard.colour_space import closest_pair

REPO = Path(__file__).resolve().parents[1]


SIZES = (2, 6, 12, 50)


def baseline_colours(commit: str) -> types.ModuleType:
    """The baseline's colors.py as a module (it imports only the standard library)."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:dashboard/colors.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType(f"colors_{commit}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{commit}:dashboard/colors.py", "exec"), module.__dict__)
    return module


def measure(assign: types.ModuleType, draws: int) -> dict:
    out = {}
    for n in SIZES:
        worst2000, worst76, below10 = [], [], 0
        for _ in range(draws):
            ids = [secrets.token_hex(8) for _ in range(n)]
            shown = list(assign.colours(ids).values())
            worst2000.append(closest_pair(shown, "2000"))
            worst76.append(closest_pair(shown, "76"))
            below10 += worst2000[-1] < 10
        out[f"{n}_runs"] = {
            "min_delta_e2000_worst": round(min(worst2000), 1),
            "min_delta_e2000_median": round(statistics.median(worst2000), 1),
            "min_delta_e76_worst": round(min(worst76), 1),
            "pages_with_a_pair_under_delta_e2000_10": f"{below10} of {draws}",
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", default="604aff8")
    parser.add_argument("--draws", type=int, default=300, help="random selections per size")
    args = parser.parse_args()
    print(json.dumps({"draws": args.draws,
                      "this": measure(colors, args.draws),
                      args.baseline: measure(baseline_colours(args.baseline), args.draws)},
                     indent=2))


if __name__ == "__main__":
    main()
