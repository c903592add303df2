"""What a link's run selection costs Compare and Export: finding which of its ids are
whole ids (Store.known_run_ids, one query) against the read every Compare page makes
anyway (Store.runs of the selected runs without metrics, data.runs_info), in
interleaved rounds in one process (the machine drifts ±30%).

    python -m bench.run_selection [--runs 50] [--rounds 5]

Prints JSON: the best per-call ms of each and their ratio (selection / runs_info).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable

from trackboard.loggers import Run
from trackboard.storage import Store


def _best_ms(calls: dict[str, Callable[[], object]], rounds: int, per_round: int = 20
             ) -> dict[str, float]:
    best = {name: float("inf") for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():  # interleaved: drift hits both alike
            started = time.perf_counter()
            for _ in range(per_round):
                call()
            best[name] = min(best[name], (time.perf_counter() - started) / per_round * 1e3)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tb-selection-") as tmp:
        os.environ["TRACKBOARD_SPOOL_DIR"] = os.path.join(tmp, "spool")
        url = f"sqlite:///{tmp}/bench.db"
        ids = []
        for i in range(args.runs):
            with Run(project="bench", name=f"r{i}", config={"lr": i}, store=url,
                     system_metrics=False) as run:
                run.log({"loss": 1.0}, step=0)
            ids.append(run.id)
        with Store(url) as store:
            calls = {"selection": lambda: store.known_run_ids(ids),
                     "runs_info": lambda: store.runs(run_ids=ids, metrics=False)}
            for call in calls.values():
                call()  # warm
            best = _best_ms(calls, args.rounds)
    print(json.dumps({"runs": args.runs, "selection_ms": round(best["selection"], 3),
                      "runs_info_ms": round(best["runs_info"], 3),
                      "ratio": round(best["selection"] / best["runs_info"], 3)}))


if __name__ == "__main__":
    main()
