"""TensorBoard export/import throughput on 20 runs x 10 tags x 10,000 steps (2,000,000 points).

Prints one JSON object. Run from the repository root:

    python bench/tensorboard_io.py [--runs 20] [--tags 10] [--steps 10000] [--dir /tmp/tb-bench]

Steps: fill a SQLite store through the Ingestor; export it to TensorBoard (fast record
writer, then TensorBoard's own pure-Python one); load the logdir with TensorBoard's
EventAccumulator (size_guidance 0 = keep everything); import it into a fresh store.
TensorFlow (which TensorBoard's reader uses when installed) and the record writers are
imported before any timing, so both readers are timed warm.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--tags", type=int, default=10)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--dir", default="/tmp/tb-bench")
    args = ap.parse_args()
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    total = args.runs * args.tags * args.steps

    from trackboard.storage import Store
    from trackboard.storage.ingest import Ingestor
    from trackboard.storage.records import POINTS, RUN, STATUS, Batch
    from trackboard.storage.tb_format import native_crc_available, open_record_writer
    from trackboard.storage.tensorboard import export_tensorboard, import_tensorboard

    out: dict[str, object] = {"points": total, "runs": args.runs, "tags": args.tags,
                              "steps": args.steps, "native_crc": native_crc_available()}
    t = time.perf_counter()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.compat import tf

    _ = tf.__version__  # resolve the lazy import: TensorFlow's reader when it is installed
    open_record_writer(str(root / "warm"), fast=None).close()
    out["warm_imports_s"] = round(time.perf_counter() - t, 2)
    out["reader"] = "tensorflow" if tf.__version__ != "stub" else "tensorboard-stub"

    src = f"sqlite:///{root / 'src.db'}"
    store = Store(src)
    ing = Ingestor(store.engine)
    rng = np.random.default_rng(0)
    tags = [f"train/metric_{j}" for j in range(args.tags)]
    t = time.perf_counter()
    for r in range(args.runs):
        uid = f"{r:016x}"
        batch = Batch()
        batch.add((RUN, {"uid": uid, "project": "bench", "name": f"run{r}", "framework": None,
                         "host": None, "git_commit": None, "command": None,
                         "created_at": 1.7e9, "status": "running"}))
        vals = rng.random((args.steps, args.tags)).tolist()
        for s in range(args.steps):
            batch.points.append((POINTS, uid, s, 1.7e9 + s * 0.01, dict(zip(tags, vals[s]))))
        batch.add((STATUS, uid, "finished", 1.7e9 + args.steps))
        ing.apply(batch)
    out["fill_store_s"] = round(time.perf_counter() - t, 2)

    res = export_tensorboard(store, root / "tb", progress=False)
    out["export_s"] = round(res.seconds, 2)
    out["export_points_per_s"] = round(total / res.seconds)
    res_slow = export_tensorboard(store, root / "tb_slow", progress=False, fast=False)
    out["export_tensorboard_recordwriter_points_per_s"] = round(total / res_slow.seconds)
    store.close()

    t = time.perf_counter()
    seen = 0
    for rel in res.runs.values():
        acc = EventAccumulator(str(root / "tb" / rel),
                               size_guidance={"scalars": 0, "tensors": 0}).Reload()
        seen += sum(len(acc.Tensors(tag)) for tag in tags)
    ea_s = time.perf_counter() - t
    assert seen == total, (seen, total)
    out["event_accumulator_s"] = round(ea_s, 2)
    out["event_accumulator_points_per_s"] = round(total / ea_s)

    imp = import_tensorboard(root / "tb", f"sqlite:///{root / 'dst.db'}", progress=False)
    assert imp.points == total, imp.points
    out["import_s"] = round(imp.seconds, 2)
    out["import_points_per_s"] = round(total / imp.seconds)
    out["import_vs_event_accumulator"] = round(ea_s / imp.seconds, 2)
    print(json.dumps(out, indent=1))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
