"""A/B of adapter call cost (bench/adapter_overhead.py's `call_cost`): this checkout
against another one (e.g. main), in interleaved rounds, each side in a fresh process
of its own checkout's interpreter.

    python bench/adapter_call_ab.py --baseline /work/main [--rounds 6] [--only keras lightning]

The machine drifts ±30% over minutes, so the figure is the median of per-round
ratios (this / baseline), the two sides running back to back in each round, in
alternating order. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys
from bench.adapter_overhead import call_cost
print(json.dumps({name: call_cost(name, calls=int(sys.argv[1])) for name in sys.argv[2:]}))
"""


def measure(checkout: Path, calls: int, names: list[str]) -> dict[str, float]:
    python = checkout / ".venv" / "bin" / "python"
    out = subprocess.run([str(python), "-c", CHILD, str(calls), *names], cwd=checkout,
                         capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--only", nargs="*", default=["keras", "lightning"])
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in args.only}
    for round_ in range(args.rounds):
        sides = (here, args.baseline) if round_ % 2 == 0 else (args.baseline, here)
        got = {side: measure(side, args.calls, args.only) for side in sides}
        for name in args.only:
            rows[name].append((got[here][name], got[args.baseline][name]))
        print(json.dumps({"round": round_, **{n: rows[n][-1] for n in args.only}}),
              file=sys.stderr)
    print(json.dumps({name: {
        "this_us_median": round(statistics.median(a for a, _ in r), 3),
        "baseline_us_median": round(statistics.median(b for _, b in r), 3),
        "ratio_median": round(statistics.median(a / b for a, b in r), 3),
        "rounds": len(r)} for name, r in rows.items()}, indent=2))


if __name__ == "__main__":
    main()
