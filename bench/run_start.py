"""What the start and finish system samples cost `Run()` and `finish()`.

    python bench/run_start.py [--rounds 40]

Same process, interleaved rounds (the machine drifts ±30%): each round builds one
run per side in a shuffled order, into one SQLite store, and times `Run(...)` and
`finish()`:
- `samples`: this checkout (a start sample on the sampler's thread 0.1 s after
  start, a finish sample in finish());
- `before`: the same code with both samples switched off (the start window pushed
  past the run's life, stop(last_sample=False)), i.e. the sampler as it was;
- `off`: `system_metrics=False`, for scale.
Each run lives 0.2 s between the two calls, so the start sample has happened
(and any GIL contention it causes is on the main thread's clock). Prints JSON:
medians per side and the medians of per-round ratios samples / before.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from trackboard.loggers import Run
from trackboard.loggers import system


def one(url: str, side: str, life: float) -> tuple[float, float]:
    if side == "before":
        system.START_WINDOW = 3600.0
        system.SystemSampler.stop = functools.partialmethod(  # type: ignore[method-assign]
            ORIGINAL_STOP, last_sample=False)
    else:
        system.START_WINDOW = NEW_WINDOW
        system.SystemSampler.stop = ORIGINAL_STOP  # type: ignore[method-assign]
    start = time.perf_counter()
    run = Run(project="bench", store=url, system_metrics=side != "off")
    built = time.perf_counter() - start
    run.log({"loss": 1.0})
    time.sleep(life)
    start = time.perf_counter()
    run.finish()
    return built, time.perf_counter() - start


ORIGINAL_STOP = system.SystemSampler.stop
NEW_WINDOW = system.START_WINDOW


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--life", type=float, default=0.2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        one(url, "off", 0.0)  # the writer connects and the schema is made once, untimed
        sides = ["samples", "before", "off"]
        times: dict[str, dict[str, list[float]]] = {s: {"run": [], "finish": []} for s in sides}
        ratios: dict[str, list[float]] = {"run": [], "finish": []}
        for _ in range(args.rounds):
            order = sides[:]
            random.shuffle(order)
            got = {side: one(url, side, args.life) for side in order}
            for side, (built, finished) in got.items():
                times[side]["run"].append(built)
                times[side]["finish"].append(finished)
            ratios["run"].append(got["samples"][0] / got["before"][0])
            ratios["finish"].append(got["samples"][1] / got["before"][1])
    ms = {side: {k: round(statistics.median(v) * 1e3, 3) for k, v in t.items()}
          for side, t in times.items()}
    print(json.dumps({"rounds": args.rounds, "median_ms": ms,
                      "ratio_samples_over_before": {k: round(statistics.median(v), 3)
                                                    for k, v in ratios.items()}}))


if __name__ == "__main__":
    main()
