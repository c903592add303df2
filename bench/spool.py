"""Spool benchmarks (issue 12): how fast the writer spools during an outage, and how
fast `trackboard sync` replays a spool compared with normal ingest of the same points.
Prints one JSON object.

    python bench/spool.py --rounds 3          # 1M points per measurement
    python bench/spool.py --points 200000     # smaller, for a smoke check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = tuple(f"metric_{i}" for i in range(10))
DEAD = "postgresql+psycopg://nobody@127.0.0.1:9/none"  # nothing listens on port 9


def _records(uid: str, steps: int) -> list[tuple]:
    from trackboard.storage.write.records import POINTS

    now = time.time()
    return [(POINTS, uid, s, now + s * 1e-4, KEYS, array("d", [s * 0.001 + i for i in range(10)]))
            for s in range(steps)]


def _run_record(uid: str) -> tuple:
    from trackboard.storage.write.records import RUN

    return (RUN, {"uid": uid, "project": "bench", "name": uid, "framework": None, "host": "h",
                  "git_commit": None, "command": "bench", "created_at": time.time(),
                  "status": "running"})


def _feed(writer, uid: str, records: list[tuple]) -> float:
    """Submit everything, wait until the writer has it stored (or spooled); seconds."""
    t0 = time.perf_counter()
    writer.register_run(_run_record(uid)[1])
    for rec in records:
        writer.submit(rec, 10)
    assert writer.flush(timeout=900)
    return time.perf_counter() - t0


def spool_write(tmp: Path, steps: int) -> dict:
    """The writer against an unreachable store: everything goes to the spool."""
    from trackboard.storage.write.writer import Writer

    records = _records("spoolw", steps)
    writer = Writer(DEAD, spool_directory=tmp / "outage", max_backoff=60)
    writer.wait_ready(5)
    seconds = _feed(writer, "spoolw", records)
    writer.close(timeout=5)
    size = sum(p.stat().st_size for p in (tmp / "outage").glob("*.spool"))
    shutil.rmtree(tmp / "outage")
    points = steps * len(KEYS)
    return {"points": points, "seconds": round(seconds, 3),
            "points_per_s": round(points / seconds), "bytes_per_point": round(size / points, 1)}


def ingest_vs_replay(tmp: Path, steps: int, i: int) -> dict:
    from trackboard.storage import Store
    from trackboard.storage.write.sync import deliver_spool
    from trackboard.storage.write.writer import Writer

    points = steps * len(KEYS)
    # Normal ingest: the same writer, a reachable store whose schema exists.
    url = f"sqlite:///{tmp / f'ingest{i}.db'}"
    Store(url).close()
    writer = Writer(url)
    writer.wait_ready(5)
    ingest_s = _feed(writer, f"ingest{i}", _records(f"ingest{i}", steps))
    writer.close()
    # Replay: the same points spooled during an outage, then delivered by sync.
    spool = tmp / f"spool{i}"
    writer = Writer(DEAD, spool_directory=spool, max_backoff=60)
    writer.wait_ready(5)
    _feed(writer, f"replay{i}", _records(f"replay{i}", steps))
    writer.close(timeout=5)
    url = f"sqlite:///{tmp / f'replay{i}.db'}"
    Store(url).close()
    t0 = time.perf_counter()
    result = deliver_spool(url, spool_directory=spool)
    replay_s = time.perf_counter() - t0
    assert result.delivered_points == points, result.summary()
    return {"ingest_points_per_s": round(points / ingest_s),
            "replay_points_per_s": round(points / replay_s),
            "replay_vs_ingest": round(ingest_s / replay_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    steps = args.points // len(KEYS)
    with tempfile.TemporaryDirectory(prefix="tb-spool-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["TRACKBOARD_SPOOL_DIR"] = str(tmp / "spools")
        writes, rounds = [], []
        for i in range(args.rounds):  # interleaved: the machine's speed drifts
            writes.append(spool_write(tmp, steps))
            rounds.append(ingest_vs_replay(tmp, steps, i))
        ratios = [r["replay_vs_ingest"] for r in rounds]
        print(json.dumps({
            "spool_write_during_outage": {
                "best_points_per_s": max(w["points_per_s"] for w in writes),
                "all_points_per_s": [w["points_per_s"] for w in writes],
                "bytes_per_point": writes[0]["bytes_per_point"]},
            "replay_vs_ingest": {"per_round": ratios, "median": statistics.median(ratios),
                                 "rounds": rounds},
        }, indent=2))


if __name__ == "__main__":
    main()
