"""A/B of the `run.log` call cost: this checkout against another one (e.g. main),
in interleaved rounds, each round in a fresh process of its own interpreter.

    python bench/log_call_ab.py --baseline /work/main [--rounds 6] [--calls 200000]
    python bench/log_call_ab.py --baseline /work/main --micro-only

Both sides time the same loop (bench/foundation.py's 10-key dict of floats, plus a
dict of ints, which takes the to_float path) into a SQLite file of their own. The
machine drifts ±30% over minutes, so the figure is the median of per-round ratios
(this / baseline), each round running the two sides back to back. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import gc, json, sys, time
import numpy as np
from trackboard.loggers import Run

url, calls, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
keys = [f"metric_{i}" for i in range(10)]
run = Run(project="bench", name="ab", store=url, system_metrics=False)
values = {k: 0.0 for k in keys}
times = []
clock = time.perf_counter_ns
gc.disable()
for step in range(calls):
    for i, k in enumerate(keys):
        values[k] = (step + i) if kind == "int" else step * 0.001 + i
    t0 = clock()
    run.log(values)
    times.append(clock() - t0)
gc.enable()
run.finish()
a = np.array(times) / 1000.0
print(json.dumps({"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99))}))
"""


def _python(root: Path) -> str:
    venv = root / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _one(root: Path, url: str, calls: int, kind: str) -> dict[str, float]:
    out = subprocess.run([_python(root), "-c", CHILD, url, str(calls), kind], cwd=root,
                         capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def to_float_micro(baseline: Path, rounds: int) -> dict[str, float]:
    """The one function of the log() path this change touched (to_float, taken by
    non-float values), both versions in this process, interleaved: far less noise
    than whole processes on a shared machine."""
    import importlib.util
    import timeit

    def load(path: Path, name: str):  # noqa: ANN202
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    new = load(Path(__file__).resolve().parents[1] / "loggers" / "values.py", "values_this")
    old = load(baseline / "loggers" / "values.py", "values_base")
    out = {}
    for label, value in (("int", 12345), ("np_float32", __import__("numpy").float32(0.5))):
        ratios = []
        for r in range(2 * rounds):
            sides = [new, old] if r % 2 == 0 else [old, new]  # alternate who goes first
            t = {id(m): min(timeit.repeat(lambda m=m: m.to_float("k", value), number=200_000,
                                          repeat=5)) for m in sides}
            ratios.append(t[id(new)] / t[id(old)])
        out[f"to_float_{label}_ratio_median"] = round(statistics.median(ratios), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--micro-only", action="store_true")
    args = parser.parse_args()
    micro = to_float_micro(args.baseline, args.rounds)
    if args.micro_only:
        print(json.dumps(micro, indent=2))
        return
    here = Path(__file__).resolve().parents[1]
    result: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("float", "int"):
            ratios: dict[str, list[float]] = {"p50": [], "p99": []}
            rounds = []
            for r in range(args.rounds):
                # alternate which side goes first, so drift within a round cancels
                order = [("this", here), ("base", args.baseline)]
                if r % 2:
                    order.reverse()
                got = {name: _one(root, f"sqlite:///{tmp}/{name}-{kind}-{r}.db", args.calls, kind)
                       for name, root in order}
                rounds.append(got)
                for q in ratios:
                    ratios[q].append(got["this"][q] / got["base"][q])
            result[kind] = {
                "this_p50_us": statistics.median(g["this"]["p50"] for g in rounds),
                "base_p50_us": statistics.median(g["base"]["p50"] for g in rounds),
                "this_p99_us": statistics.median(g["this"]["p99"] for g in rounds),
                "base_p99_us": statistics.median(g["base"]["p99"] for g in rounds),
                "ratio_p50_median": statistics.median(ratios["p50"]),
                "ratio_p99_median": statistics.median(ratios["p99"]),
                "ratios_p50": [round(x, 3) for x in ratios["p50"]],
            }
    print(json.dumps({**result, "micro": micro}, indent=2))


if __name__ == "__main__":
    main()
