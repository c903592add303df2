"""Foundation benchmarks (issue 2): log-call cost, ingest vs the raw sqlite3 ceiling,
the writer beside a busy loop, history reads, bytes per point, writer memory.
Prints one JSON object.

    python bench/foundation.py --rounds 5   # everything (about three minutes)
    python bench/foundation.py --quick      # smaller sizes, for a smoke check
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.sqlite_lock import write_lock_held  # noqa: E402  (the tests' lock holder)

KEYS = [f"metric_{i}" for i in range(10)]


def _pct(ns: list[int], q: float) -> float:
    return float(np.percentile(np.array(ns) / 1000.0, q))


def log_call_cost(url: str, calls: int) -> dict:
    from trackboard.loggers import Run

    run = Run(project="bench", name="log-cost", store=url, system_metrics=False)
    times = []
    values = {k: 0.0 for k in KEYS}
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for step in range(calls):
            for i, k in enumerate(KEYS):
                values[k] = step * 0.001 + i
            t0 = clock()
            run.log(values)
            times.append(clock() - t0)
    finally:
        gc.enable()
    run.finish()
    return {"calls": calls, "p50_us": round(_pct(times, 50), 2), "p99_us": round(_pct(times, 99), 2),
            "max_us": round(max(times) / 1000, 1)}


def ingest(url: str, steps: int) -> dict:
    from trackboard.loggers import Run
    from trackboard.storage import Store

    # The store exists before the clock starts, as the raw ceiling's table does: this
    # measures sustained ingest, not the one-time schema creation of a new file.
    Store(url).close()
    t0 = time.perf_counter()
    run = Run(project="bench", name="ingest", store=url, system_metrics=False)
    values = {}
    for step in range(steps):
        for i, k in enumerate(KEYS):
            values[k] = math.sin(step * 0.001 + i)
        run.log(values)
    t_logged = time.perf_counter() - t0
    stored_during_loop = run._writer.points_written
    run.finish(timeout=600)
    elapsed = time.perf_counter() - t0
    points = steps * len(KEYS)
    return {"points": points, "seconds": round(elapsed, 3), "log_loop_seconds": round(t_logged, 3),
            "points_per_s": round(points / elapsed),
            # How fast the writer stores while the loop keeps the interpreter busy.
            "stored_per_s_during_loop": round(stored_during_loop / t_logged)}


RAW_SCHEMA = """CREATE TABLE points (run_id INTEGER NOT NULL, key_id INTEGER NOT NULL,
 step BIGINT NOT NULL, wall_time REAL NOT NULL, value REAL,
 PRIMARY KEY (run_id, key_id, step)) WITHOUT ROWID"""


def _raw_rows(steps: int) -> list[tuple]:
    rows = []
    wall = time.time()
    for step in range(steps):  # the rows in the order a training loop produces them
        for i in range(len(KEYS)):
            rows.append((1, i + 1, step, wall + step * 1e-4, math.sin(step * 0.001 + i)))
    return rows


def _raw_connection(path: Path) -> sqlite3.Connection:
    from trackboard.storage.db.engine import WRITER_SQLITE_CACHE_MIB

    # The same settings trackboard's engine gives the writer's connection.
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(f"PRAGMA cache_size={-1024 * WRITER_SQLITE_CACHE_MIB}")
    con.execute(RAW_SCHEMA)
    return con


def _timed_insert(path: Path, rows: list[tuple], insert: Callable[[sqlite3.Connection], None]
                  ) -> dict:
    """Time `insert(con)` writing `rows` on a fresh raw connection, in one transaction."""
    con = _raw_connection(path)
    t0 = time.perf_counter()
    con.execute("BEGIN")
    insert(con)
    con.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    con.close()
    return {"points": len(rows), "seconds": round(elapsed, 3),
            "points_per_s": round(len(rows) / elapsed)}


def raw_ceiling(path: Path, steps: int) -> dict:
    """The issue's ceiling: plain executemany of the rows, one transaction."""
    rows = _raw_rows(steps)
    return _timed_insert(path, rows, lambda con: con.executemany(
        "INSERT INTO points VALUES (?, ?, ?, ?, ?)", rows))


def raw_multirow(path: Path, steps: int) -> dict:
    """For reference: the same rows through the multi-row INSERT statements trackboard's
    writer uses (storage/write/multirow.py), sorted as the writer sorts them, with plain
    sqlite3 and nothing else: the ceiling of that technique."""
    from trackboard.storage.write.multirow import MultiRowInsert

    rows = sorted(_raw_rows(steps), key=lambda r: (r[1], r[2]))
    cols = [np.array(c) for c in zip(*rows)]
    columns = ("run_id", "key_id", "step", "wall_time", "value")
    return _timed_insert(path, rows, lambda con: MultiRowInsert("points", columns)
                         .write_columns(con.cursor(), cols))


def history_read(url: str, db: Path) -> dict:
    from trackboard.storage import Store

    store = Store(url)
    run_id = store.runs(project="bench").query("name == 'ingest'")["id"].iloc[0]
    # Raw: the same rows with plain sqlite3.
    con = sqlite3.connect(db)
    rid = con.execute("SELECT id FROM runs WHERE uid = ?", (run_id,)).fetchone()[0]
    kid = con.execute("SELECT id FROM metric_keys WHERE name = ?", (KEYS[0],)).fetchone()[0]
    raw, ours = [], []
    for _ in range(31):
        t0 = time.perf_counter()
        rows = con.execute("SELECT step, wall_time, value FROM points WHERE run_id = ? AND "
                           "key_id = ? ORDER BY step", (rid, kid)).fetchall()
        raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        frame = store.history([run_id], keys=[KEYS[0]])
        ours.append(time.perf_counter() - t0)
    assert len(rows) == len(frame)
    con.close()
    r, o = min(raw), min(ours)
    # Reads of ~0.1 s jitter by tens of ms here: besides the ratio of the best times,
    # the median of back-to-back pairs, which drift between pairs does not touch.
    pairs = [b / a for a, b in zip(raw, ours)]
    return {"points": len(frame), "raw_ms": round(r * 1000, 2), "trackboard_ms": round(o * 1000, 2),
            "ratio": round(o / r, 2), "median_pair_ratio": round(float(np.median(pairs)), 2)}


def bytes_per_point(db: Path, points: int) -> dict:
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob(db.name + "-*"))
    return {"file_bytes": size, "points": points, "bytes_per_point": round(size / points, 1)}




def log_cost_under_lock(url: str, db: Path, calls: int) -> dict:
    with write_lock_held(db, 8):
        return log_call_cost(url, calls)


MEMORY_CHILD = """
import json, os, sys, time, psutil
from trackboard.loggers import Run
proc = psutil.Process()
run = Run(project="bench", name="memory", store=sys.argv[1])
keys = [f"m{i}" for i in range(10)]
before = proc.memory_info().rss
peak = before
vals = {}
for step in range(int(sys.argv[2])):
    for i, k in enumerate(keys):
        vals[k] = step + i * 0.5
    run.log(vals)
    if step % 10000 == 0:
        peak = max(peak, proc.memory_info().rss)
peak = max(peak, proc.memory_info().rss)
run.finish(timeout=900)
print(json.dumps({"points": int(sys.argv[2]) * 10, "rss_growth_mb": round((peak - before) / 2**20, 1)}))
"""


def memory(url: str, steps: int) -> dict:
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, url, str(steps)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of raw vs ingest")
    args = parser.parse_args()
    steps = 10_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="tb-bench-") as tmp:
        os.environ["TRACKBOARD_SPOOL_DIR"] = str(Path(tmp) / "spool")
        db = Path(tmp) / "bench.db"
        url = f"sqlite:///{db}"
        result: dict = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
        # Interleaved repeats: this machine's speed wanders by +-30% from run to run,
        # so both sides get the same number of tries and the best of each counts.
        raws, multis, ingests = [], [], []
        for i in range(args.rounds):
            raws.append(raw_ceiling(Path(tmp) / f"raw{i}.db", steps))
            multis.append(raw_multirow(Path(tmp) / f"multi{i}.db", steps))
            ingests.append(ingest(url if i == 0 else f"sqlite:///{Path(tmp) / f'i{i}.db'}", steps))
        best = lambda xs: max(xs, key=lambda r: r["points_per_s"])  # noqa: E731
        every = lambda xs: [r["points_per_s"] for r in xs]  # noqa: E731
        result["raw_sqlite_ceiling"] = {**best(raws), "all_points_per_s": every(raws)}
        result["raw_sqlite_multirow"] = {**best(multis), "all_points_per_s": every(multis)}
        result["ingest_1M"] = {**best(ingests), "all_points_per_s": every(ingests)}
        result["ingest_vs_raw"] = round(result["ingest_1M"]["points_per_s"]
                                        / result["raw_sqlite_ceiling"]["points_per_s"], 3)
        # Each round's ingest against the same round's raw run: the machine's speed
        # drifts less within a round than across rounds.
        result["ingest_vs_raw_per_round"] = [round(i["points_per_s"] / r["points_per_s"], 3)
                                             for r, i in zip(raws, ingests)]
        result["ingest_vs_raw_multirow"] = round(
            result["ingest_1M"]["points_per_s"] / result["raw_sqlite_multirow"]["points_per_s"], 3)
        # A longer loop: what the writer stores beside a loop that never lets go of the
        # GIL (a Python-heavy training step), before the loop ends and it catches up.
        result["busy_loop_3M"] = ingest(f"sqlite:///{Path(tmp) / 'busy.db'}", steps * 3)
        result["history_read"] = history_read(url, db)
        result["disk"] = bytes_per_point(db, steps * len(KEYS))
        result["log_call"] = log_call_cost(f"sqlite:///{Path(tmp) / 'log.db'}", steps)
        result["log_call_while_locked"] = log_cost_under_lock(
            f"sqlite:///{Path(tmp) / 'log.db'}", Path(tmp) / "log.db", min(steps, 50_000))
        if not args.skip_memory:
            result["memory_10M"] = memory(f"sqlite:///{Path(tmp) / 'mem.db'}",
                                          100_000 if args.quick else 1_000_000)
        from trackboard.storage.write.writer import close_all

        close_all()  # before the temporary directory (and the files they write) goes
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
