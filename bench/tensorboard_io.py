"""TensorBoard export/import throughput, and import of a mixed logdir vs EventAccumulator.

Prints one JSON object. Run from the repository root:

    python bench/tensorboard_io.py [--runs 20] [--tags 10] [--steps 10000] [--dir /tmp/tb-bench]
    python bench/tensorboard_io.py --mixed-only [--rounds 3]    # or --skip-mixed

Scalars only (skipped with --mixed-only): 20 runs x 10 tags x 10,000 steps (2,000,000
points).
Steps: fill a SQLite store through the Ingestor; export it to TensorBoard (fast record
writer, then TensorBoard's own pure-Python one); load the logdir with TensorBoard's
EventAccumulator (size_guidance 0 = keep everything); import it into a fresh store.
TensorFlow (which TensorBoard's reader uses when installed) and the record writers are
imported before any timing, so both readers are timed warm.

Mixed (issue 11): a logdir written by torch's SummaryWriter, 3 runs x 5 scalar tags x
10,000 steps (150,000 scalars) plus a 64x64 RGB image every 50 steps and two
1,000-value histograms every 10 steps. EventAccumulator (scalars and tensors kept in
full, images and histograms at its default sampling) and `import_tensorboard` into
a fresh SQLite store alternate for --rounds rounds in this process; the ratio is the
best EventAccumulator time over the best import time. Since issue 20 the import
stores every histogram and image too (6,000 and 600), where EventAccumulator keeps a
sample of them.
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
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mixed-only", action="store_true")
    ap.add_argument("--skip-mixed", action="store_true")
    args = ap.parse_args()
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    total = args.runs * args.tags * args.steps

    from trackboard.storage import Store
    from trackboard.storage.interchange.tensorboard import (
        export_tensorboard,
        import_tensorboard,
    )
    from trackboard.storage.interchange.tensorboard.format import (
        native_crc_available,
        open_record_writer,
    )
    from trackboard.storage.write.ingest import Ingestor
    from trackboard.storage.write.records import POINTS, RUN, STATUS, Batch

    out: dict[str, object] = {"points": total, "runs": args.runs, "tags": args.tags,
                              "steps": args.steps, "native_crc": native_crc_available()}
    t = time.perf_counter()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.compat import tf

    _ = tf.__version__  # resolve the lazy import: TensorFlow's reader when it is installed
    open_record_writer(str(root / "warm"), fast=None).close()
    out["warm_imports_s"] = round(time.perf_counter() - t, 2)
    out["reader"] = "tensorflow" if tf.__version__ != "stub" else "tensorboard-stub"

    if not args.skip_mixed:
        out["mixed"] = _mixed(root / "mixed", args.rounds)
    if args.mixed_only:
        print(json.dumps(out, indent=1))
        return

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


def _write_mixed(logdir: Path, steps: int = 10_000) -> int:
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    scalars = 0
    for r in range(3):
        with SummaryWriter(str(logdir / f"run{r}"), flush_secs=3600, max_queue=1000) as w:
            vals = rng.random((steps, 5))
            for s in range(steps):
                for j in range(5):
                    w.add_scalar(f"train/metric_{j}", vals[s, j], s)
                scalars += 5
                if s % 50 == 0:
                    w.add_image("input", rng.random((3, 64, 64)), s)
                if s % 10 == 0:
                    w.add_histogram("weights", rng.normal(size=1000), s)
                    w.add_histogram("grads", rng.normal(size=1000), s)
    return scalars


def _mixed(logdir: Path, rounds: int) -> dict[str, object]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from trackboard.storage.interchange.tensorboard import import_tensorboard
    from trackboard.storage.interchange.tensorboard.importer import find_runs

    t = time.perf_counter()
    scalars = _write_mixed(logdir)
    res: dict[str, object] = {"scalars": scalars, "runs": 3,
                              "bytes": sum(f.stat().st_size for f in logdir.rglob("*tfevents*")),
                              "write_s": round(time.perf_counter() - t, 1)}
    ea_times, imp_times = [], []
    for i in range(rounds):
        t = time.perf_counter()
        seen = 0
        for rel, _ in find_runs(logdir):
            acc = EventAccumulator(str(logdir / rel),
                                   size_guidance={"scalars": 0, "tensors": 0}).Reload()
            seen += sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
        ea_times.append(time.perf_counter() - t)
        assert seen == scalars, (seen, scalars)
        db = logdir.parent / f"mixed-{i}.db"
        imp = import_tensorboard(logdir, f"sqlite:///{db}", progress=False)
        imp_times.append(imp.seconds)
        assert imp.points == scalars, (imp.points, scalars)
        res["imported_histograms_images"] = [imp.histograms, imp.images]
        db.unlink()
    res["event_accumulator_s"] = [round(x, 2) for x in ea_times]
    res["import_s"] = [round(x, 2) for x in imp_times]
    res["import_vs_event_accumulator"] = round(min(ea_times) / min(imp_times), 2)
    res["per_round_ratios"] = [round(e / i, 2) for e, i in zip(ea_times, imp_times)]
    return res


if __name__ == "__main__":
    sys.exit(main())
