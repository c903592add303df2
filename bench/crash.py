"""Crash benchmark (issue 12): a real process logs a 2M-point burst (200k steps x 10
keys) as fast as it can, then a trickle; it is killed with SIGKILL at several moments
after the burst; `trackboard sync` runs; what is missing is measured. On SQLite and on
PostgreSQL (a throwaway server, as the tests start it). Prints one JSON object.

    python bench/crash.py                        # 5 moments x 2 backends
    python bench/crash.py --backends sqlite --delays 0.06 1.5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import postgres  # noqa: E402
from tests.test_crash import kill_after_burst  # noqa: E402  (the test's own procedure)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delays", type=float, nargs="+", default=[0.06, 0.3, 1.0, 2.5, 5.0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--steps", type=int, default=200_000)
    args = parser.parse_args()
    from trackboard.storage import Store

    out: dict = {"steps": args.steps, "points_in_burst": args.steps * 10}
    server = postgres.start_postgres() if "postgresql" in args.backends else None
    try:
        for backend in args.backends:
            rows = []
            for i, delay in enumerate(args.delays):
                with tempfile.TemporaryDirectory(prefix="tb-crash-") as tmp_name:
                    tmp = Path(tmp_name)
                    os.environ["TRACKBOARD_SPOOL_DIR"] = str(tmp / "spool")
                    url = (f"sqlite:///{tmp / 'crash.db'}" if backend == "sqlite"
                           else server.create_database())  # type: ignore[union-attr]
                    Store(url).close()
                    got = kill_after_burst(url, tmp, delay, args.steps)
                    stored = got.pop("_stored")
                    summaries, buckets = got.pop("_summaries"), got.pop("_buckets")
                    got["duplicates_or_double_counts"] = sum(
                        (n != distinct) + (summaries[k] != n) + (buckets[k] != n)
                        for k, (n, _lo, _hi, distinct) in stored.items())
                    rows.append(got)
                    print(json.dumps({backend: got}), file=sys.stderr)
            out[backend] = {"worst_oldest_missing_s": max(r["oldest_missing_before_kill_s"]
                                                          for r in rows), "kills": rows}
    finally:
        if server is not None:
            postgres.remove(server)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
