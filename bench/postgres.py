"""PostgreSQL benchmarks (issue 6): ingest vs raw COPY, log-call p99 during a server
outage, and 32 concurrent writer processes. Starts its own throwaway server
(PostgreSQL binaries from apt, as the tests use). Prints one JSON object.

    python bench/postgres.py                 # full: 1M points, 30 s outage, 32 writers
    python bench/postgres.py --quick         # smaller, for a smoke check
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import postgres  # noqa: E402  (the same throwaway server the tests use)

KEYS = [f"metric_{i}" for i in range(10)]


def raw_copy(url: str, steps: int, order: str = "key") -> dict:
    """One COPY of all rows. order="key": sorted by (key, step), the fastest order
    (each row appends at the index's right edge): the ceiling the target is set
    against. order="log": as the training loop logs them (step by step), a
    reference only."""
    from trackboard.storage import Store
    from trackboard.storage.write.pgcopy import copy_points

    store = Store(url)
    n = steps * len(KEYS)
    if order == "key":
        key_id = np.repeat(np.arange(1, len(KEYS) + 1), steps)
        step = np.tile(np.arange(steps), len(KEYS))
    else:
        key_id = np.tile(np.arange(1, len(KEYS) + 1), steps)
        step = np.repeat(np.arange(steps), len(KEYS))
    wall = time.time() + step * 1e-4
    value = np.sin(step * 0.001 + key_id)
    raw = store.engine.raw_connection()
    try:
        t0 = time.perf_counter()
        cur = raw.driver_connection.cursor()
        copy_points(cur, "points", np.full(n, 999_999), key_id, step, wall, value)
        raw.driver_connection.commit()
        elapsed = time.perf_counter() - t0
    finally:
        raw.close()
    store.close()
    return {"points": n, "seconds": round(elapsed, 3), "points_per_s": round(n / elapsed)}


def ingest(url: str, steps: int) -> dict:
    from trackboard.loggers import Run
    from trackboard.storage import Store

    # The schema exists before the clock starts, as raw_copy's table does.
    Store(url).close()
    t0 = time.perf_counter()
    run = Run(project="bench", name="pg-ingest", store=url, system_metrics=False)
    values: dict[str, float] = {}
    for s in range(steps):
        for i, k in enumerate(KEYS):
            values[k] = math.sin(s * 0.001 + i)
        run.log(values)
    # Sustained: the writer's own pace once the loop no longer competes with it for
    # the GIL, from the first batch it finishes after the loop to the last.
    writer, n = run._writer, steps * len(KEYS)
    done_at_loop_end = writer.points_written
    while done_at_loop_end < n and writer.healthy and writer.points_written == done_at_loop_end:
        time.sleep(0.0005)
    t1, done = time.perf_counter(), writer.points_written
    run.finish(timeout=900)
    t2 = time.perf_counter()
    elapsed = t2 - t0
    return {"points": n, "seconds": round(elapsed, 3), "points_per_s": round(n / elapsed),
            "sustained_points": n - done, "sustained_seconds": round(t2 - t1, 3),
            "sustained_points_per_s": round((n - done) / (t2 - t1))}


def outage(server: postgres.PostgresServer, url: str, seconds: float) -> dict:
    from trackboard.loggers import Run
    from trackboard.storage import Store
    from trackboard.storage.write.writer import Writer

    writer = Writer(url, max_backoff=2.0)
    run = Run(project="bench", name="outage", store=url, writer=writer, system_metrics=False)
    during: list[int] = []
    reference: list[int] = []
    phase = ["before"]
    stop = threading.Event()
    count = [0]

    def record_alone(values: dict[str, float], step: int) -> tuple:
        # What a log call builds, without trackboard: the floor this loop can measure.
        return (0, run.id, step, time.time(), tuple(values), array("d", values.values()))

    def train() -> None:
        values: dict[str, float] = {}
        s = 0
        while not stop.is_set():
            for i, k in enumerate(KEYS):
                values[k] = s + i
            # Every other step times the reference instead, equally fresh from sleep.
            timed = s % 2 == 0
            t0 = time.perf_counter_ns()
            if timed:
                run.log(values)
            else:
                record_alone(values, s)
            dt = time.perf_counter_ns() - t0
            if not timed:
                run.log(values)
            if phase[0] == "down":
                (during if timed else reference).append(dt)
            s += 1
            time.sleep(0.0005)  # a (very fast) training step
        count[0] = s

    t = threading.Thread(target=train)
    t.start()
    time.sleep(2)
    server.stop("fast")
    phase[0] = "down"
    time.sleep(seconds)
    phase[0] = "after"
    server.start()
    time.sleep(2)
    stop.set()
    t.join()
    t0 = time.perf_counter()
    run.finish(timeout=900)
    drain = time.perf_counter() - t0
    writer.close()
    stored = len(Store(url).history([run.id]))
    logged = count[0] * len(KEYS)
    arr = np.array(during) / 1000
    ref = np.array(reference) / 1000
    return {"outage_s": seconds, "log_calls_during": len(during),
            "p50_us": round(float(np.percentile(arr, 50)), 2),
            "p99_us": round(float(np.percentile(arr, 99)), 2),
            # The same loop timing a plain tuple-and-array build: waking from each
            # sleep costs far more than the call itself on this machine.
            "reference_p50_us": round(float(np.percentile(ref, 50)), 2),
            "reference_p99_us": round(float(np.percentile(ref, 99)), 2),
            "points_logged": logged, "points_stored": stored,
            "delivered_pct": round(100 * stored / logged, 3), "spooled": writer.points_spooled,
            "drain_after_recovery_s": round(drain, 2)}


WRITER = """
import sys, time
from trackboard.loggers import Run
run = Run(project="many", name=f"w{sys.argv[2]}", store=sys.argv[1])
keys = [f"k{i}" for i in range(5)]
vals = {}
for s in range(int(sys.argv[3])):
    for i, k in enumerate(keys):
        vals[k] = s + i
    run.log(vals)
run.finish(timeout=900)
print(run._writer.points_written, run._writer.points_lost)
"""


def many_writers(url: str, procs: int, steps: int) -> dict:
    from trackboard.storage import Store

    Store(url).close()
    t0 = time.perf_counter()
    ps = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(i), str(steps)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in range(procs)]
    outs = [p.communicate() for p in ps]
    elapsed = time.perf_counter() - t0
    errors = sum(p.returncode != 0 for p in ps) + sum("trackboard:" in e for _, e in outs)
    store = Store(url)
    runs = store.runs(project="many")
    stored = len(store.history(runs["id"].tolist()))
    expected = procs * steps * 5
    return {"processes": procs, "points": expected, "stored": stored,
            "lost": expected - stored, "errors": errors, "seconds": round(elapsed, 2),
            "aggregate_points_per_s": round(stored / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of raw vs ingest")
    parser.add_argument("--ingest-only", action="store_true",
                        help="only ingest vs raw COPY (skip the outage and 32 writers)")
    args = parser.parse_args()
    steps = 10_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="tb-pgbench-") as tmp:
        os.environ["TRACKBOARD_SPOOL_DIR"] = str(Path(tmp) / "spool")
        server = postgres.start_postgres()
        try:
            result: dict = {"postgres": server.psql("SHOW server_version")}
            # Interleaved repeats, as in foundation.py: this machine's speed wanders.
            raws, ingests, logged_order = [], [], []
            for _ in range(args.rounds):
                raws.append(raw_copy(server.create_database(), steps))
                ingests.append(ingest(server.create_database(), steps))
                logged_order.append(raw_copy(server.create_database(), steps, order="log"))
            best = lambda xs: max(xs, key=lambda r: r["points_per_s"])  # noqa: E731
            every = lambda xs: [r["points_per_s"] for r in xs]  # noqa: E731
            result["raw_copy"] = {**best(raws), "all_points_per_s": every(raws)}
            result["ingest"] = {**best(ingests), "all_points_per_s": every(ingests)}
            result["ingest_vs_raw_copy"] = round(result["ingest"]["points_per_s"]
                                                 / result["raw_copy"]["points_per_s"], 3)
            result["ingest_vs_raw_copy_per_round"] = [
                round(i["points_per_s"] / r["points_per_s"], 3) for r, i in zip(raws, ingests)]
            # The writer's steady pace (see ingest()) against the same round's raw COPY.
            result["sustained_vs_raw_copy_per_round"] = [
                round(i["sustained_points_per_s"] / r["points_per_s"], 3)
                for r, i in zip(raws, ingests)]
            result["raw_copy_in_logged_order"] = {**best(logged_order),
                                                  "all_points_per_s": every(logged_order)}
            result["ingest_vs_raw_copy_in_logged_order_per_round"] = [
                round(i["points_per_s"] / r["points_per_s"], 3)
                for r, i in zip(logged_order, ingests)]
            if args.ingest_only:
                print(json.dumps(result, indent=2))
                return
            result["outage"] = outage(server, server.create_database(), 5 if args.quick else 30)
            result["writers_32"] = many_writers(server.create_database(), 32,
                                                2_000 if args.quick else 20_000)
        finally:
            postgres.remove(server)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
