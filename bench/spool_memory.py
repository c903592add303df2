"""Peak memory of replaying a spool file of millions of tiny records (issue 18, item 3):
delivery bounded by records and points (now) against bounded by points only (before),
each in a fresh process, measured as peak RSS (ru_maxrss). Prints one JSON object.

    python bench/spool_memory.py [--records 2000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from trackboard.storage.write.sync import deliver_spool
url, directory, bound = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
kwargs = {} if bound == "records" else {"batch_records": 10**12}  # points only: as before
result = deliver_spool(url, spool_directory=directory, **kwargs)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_rss_mib": round(after / 1024, 1),
                  "growth_mib": round((after - before) / 1024, 1),
                  "seconds": round(time.perf_counter() - t0, 2),
                  "files": result.delivered_files}))
"""


def _spool_file(directory: Path, records: int) -> None:
    from trackboard.storage.write.records import POINTS, RUN
    from trackboard.storage.write.spool import SpoolWriter

    run = (RUN, {"uid": "tiny", "project": "bench", "name": "tiny", "framework": None,
                 "host": "h", "git_commit": None, "command": "bench",
                 "created_at": time.time(), "status": "running"})
    w = SpoolWriter(directory, lambda: [run])
    empty = array("d")
    for i in range(0, records, 100_000):
        w.append([(POINTS, "tiny", s, 1e9 + s, (), empty)
                  for s in range(i, min(records, i + 100_000))])
    w.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2_000_000)
    args = parser.parse_args()
    from trackboard.storage import Store

    out: dict = {"records": args.records}
    with tempfile.TemporaryDirectory() as tmp:
        for bound in ("records", "points_only"):
            url = f"sqlite:///{Path(tmp) / f'{bound}.db'}"
            Store(url).close()
            directory = Path(tmp) / bound
            _spool_file(directory, args.records)
            done = subprocess.run([sys.executable, "-c", CHILD, url, str(directory), bound],
                                  capture_output=True, text=True, check=True)
            out[bound] = json.loads(done.stdout.strip().splitlines()[-1])
    out["peak_ratio_points_only_over_records"] = round(
        out["points_only"]["peak_rss_mib"] / out["records"]["peak_rss_mib"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
