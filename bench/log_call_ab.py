"""A/B of the `run.log` call cost and of the framework adapters' call cost: this
checkout against a baseline commit, with the SAME interpreter and packages, in
interleaved rounds (each side in a fresh process; the machine drifts ±30%).

    python bench/log_call_ab.py [--baseline main] [--rounds 3] [--adapters torch jax]
                                [--ingest-steps 100000]

The baseline's loggers/storage/dashboard are taken with `git archive` into a temporary
folder and imported from there instead of this checkout (the editable-install finder
is taken off sys.meta_path in the child). Running the baseline from another checkout's
own virtualenv instead measured the virtualenv, not the code: torch's adapter call was
1.8 µs there against 2.4 µs here for identical code. Prints JSON: per side the median
over rounds, and the median of per-round ratios (this / baseline).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PACKAGES = ("loggers", "storage", "dashboard")

PRELUDE = r"""
import sys
root = sys.argv[1]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, root)
import trackboard.loggers.run as _run_module
assert _run_module.__file__.startswith(root), _run_module.__file__
"""

LOG_CALL = PRELUDE + r"""
import gc, json, time
import numpy as np
from trackboard.loggers import Run

url, calls = sys.argv[2], int(sys.argv[3])
keys = [f"metric_{i}" for i in range(10)]
out = {}
for kind in ("float10", "int10", "one_new_dict"):
    run = Run(project="bench", name=kind, store=url, system_metrics=False)
    values = {k: 0.0 for k in keys}
    times = []
    clock = time.perf_counter_ns
    gc.disable()
    for step in range(calls):
        if kind == "one_new_dict":  # SummaryWriter.add_scalar's pattern
            t0 = clock()
            run.log({"loss": 0.5}, step=step)
        else:
            for i, k in enumerate(keys):
                values[k] = (step + i) if kind == "int10" else step * 0.001 + i
            t0 = clock()
            run.log(values)
        times.append(clock() - t0)
    gc.enable()
    run.finish()
    a = np.array(times) / 1000.0
    out[kind] = {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99))}
print(json.dumps(out))
"""

ADAPTERS = PRELUDE + r"""
import contextlib, io, json, runpy
sys.argv = ["adapter_overhead.py", "--rounds", "1", "--only", *sys.argv[2:]]
err = io.StringIO()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
    runpy.run_path(HERE_BENCH, run_name="__main__")
out = {}
for line in err.getvalue().splitlines():
    try:
        row = json.loads(line)
    except ValueError:
        continue
    if not isinstance(row, dict):
        continue
    for name, fig in row.items():
        if isinstance(fig, dict) and "adapter_call_us" in fig:
            out[name] = {"call_us": fig["adapter_call_us"]}
print(json.dumps(out))
"""


# bench/foundation.py's sustained ingest (points/s through the Run API into SQLite),
# with the side's own code.
INGEST = PRELUDE + r"""
import json
from bench.foundation import ingest
print(json.dumps({"sqlite": ingest(sys.argv[2], int(sys.argv[3]))}))
"""


def _baseline_tree(commit: str, into: Path) -> Path:
    data = subprocess.run(["git", "archive", commit, *PACKAGES], cwd=HERE, check=True,
                          capture_output=True).stdout
    src = into / "src"
    src.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(src, filter="data")
    return _layout(into / "base", src)


def _layout(root: Path, src: Path) -> Path:
    pkg = root / "trackboard"
    pkg.mkdir(parents=True)
    for name in PACKAGES:
        (pkg / name).symlink_to(src / name, target_is_directory=True)
    return root


def _run(code: str, root: Path, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, str(root), *args], capture_output=True,
                          text=True, timeout=1200, cwd=HERE)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(rounds: list[dict[str, dict]], field: str) -> dict[str, dict]:
    out = {}
    for name in rounds[0]["this"]:
        this = [r["this"][name][field] for r in rounds]
        base = [r["base"][name][field] for r in rounds]
        out[name] = {f"this_{field}": round(statistics.median(this), 2),
                     f"base_{field}": round(statistics.median(base), 2),
                     "ratio_median": round(statistics.median(t / b for t, b in zip(this, base)), 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="main", help="commit or branch to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--adapters", nargs="*", default=["torch", "jax"],
                        help="cases of bench/adapter_overhead.py (none: skip)")
    parser.add_argument("--ingest-steps", type=int, default=0,
                        help="also A/B bench/foundation.py's ingest of this many steps x 10 "
                             "keys (0: skip)")
    args = parser.parse_args()
    result: dict[str, object] = {"baseline": args.baseline}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sides = {"this": _layout(tmp_path / "this", HERE),
                 "base": _baseline_tree(args.baseline, tmp_path)}
        log_rounds, adapter_rounds, ingest_rounds = [], [], []
        for r in range(args.rounds):
            order = list(sides.items()) if r % 2 == 0 else list(sides.items())[::-1]
            got = {name: _run(LOG_CALL, root, f"sqlite:///{tmp}/{name}-{r}.db", str(args.calls))
                   for name, root in order}
            log_rounds.append(got)
            if args.adapters:
                code = ADAPTERS.replace("HERE_BENCH", repr(str(HERE / "bench" / "adapter_overhead.py")))
                adapter_rounds.append({name: _run(code, root, *args.adapters)
                                       for name, root in order})
            if args.ingest_steps:
                ingest_rounds.append({name: _run(INGEST, root, f"sqlite:///{tmp}/{name}-i{r}.db",
                                                 str(args.ingest_steps))
                                      for name, root in order})
        result["log_call_p50_us"] = _summary(log_rounds, "p50")
        result["log_call_p99_us"] = _summary(log_rounds, "p99")
        if adapter_rounds:
            result["adapter_call_us"] = _summary(adapter_rounds, "call_us")
        if ingest_rounds:
            result["ingest_points_per_s"] = _summary(ingest_rounds, "points_per_s")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
