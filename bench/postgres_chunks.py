"""Chunked points on PostgreSQL (issue 21), A/B against the row-per-point layout.

One throwaway server (as bench/postgres.py starts it) serves both sides; each
measurement runs in a fresh process of one side's Python, so the old code is
another checkout's virtualenv (default /work/wt/base/.venv/bin/python: main before
the change) and the new one this checkout's. Rounds interleave the two sides and
alternate which goes first: this machine's speed drifts by +-30%, so compare the
ratios of a round, never figures from different rounds. Prints one JSON object.

    python bench/postgres_chunks.py --rounds 3                  # everything
    python bench/postgres_chunks.py --only ingest,read --quick  # a smoke check

Measurements (each a `--worker MODE` of this file, run under either Python):

- ingest:  one process bound by the log call (Run API, 10 keys, as fast as it can,
           finish() included): points/s.
- many:    32 training processes into the one server: aggregate points/s, the
           clients' CPU seconds (RUSAGE_CHILDREN) and the server's CPU seconds per
           million points (all PostgreSQL processes, from /proc, before and after).
- size:    bytes a point (tables, TOAST and indexes) for float32-origin metrics (loss,
           accuracy, learning rate as frameworks log them) and for float64 noise;
           the new side also stores the same chunks as lz4-compressed arrays and as
           bytea holding chunk_codec's bytes in scratch tables.
- read:    Store.history of one key of 100k points, median of 7 reads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
KEYS = [f"metric_{i}" for i in range(10)]
STREAMS = ("loss", "acc", "lr")


# -- workers (run under either side's Python: only the Run API and Store) --------------

def worker_ingest(url: str, steps: int) -> dict:
    from trackboard.loggers import Run
    from trackboard.storage import Store

    Store(url).close()  # the schema exists before the clock starts
    t0 = time.perf_counter()
    run = Run(project="bench", name="ingest", store=url, system_metrics=False)
    values: dict[str, float] = {}
    for s in range(steps):
        for i, k in enumerate(KEYS):
            values[k] = math.sin(s * 0.001 + i)
        run.log(values)
    loop = time.perf_counter() - t0
    run.finish(timeout=900)
    elapsed = time.perf_counter() - t0
    n = steps * len(KEYS)
    return {"points": n, "seconds": round(elapsed, 3), "loop_seconds": round(loop, 3),
            "points_per_s": round(n / elapsed)}


MANY = """
import sys
from trackboard.loggers import Run
run = Run(project="many", name=f"w{sys.argv[2]}", store=sys.argv[1], system_metrics=False)
keys = [f"k{i}" for i in range(5)]
vals = {}
for s in range(int(sys.argv[3])):
    for i, k in enumerate(keys):
        vals[k] = s + i
    run.log(vals)
run.finish(timeout=900)
"""


def worker_many(url: str, procs: int, steps: int) -> dict:
    from trackboard.storage import Store

    Store(url).close()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    ps = [subprocess.Popen([sys.executable, "-c", MANY, url, str(i), str(steps)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in range(procs)]
    outs = [p.communicate() for p in ps]
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    errors = [e[-300:] for p, (_, e) in zip(ps, outs) if p.returncode or "trackboard:" in e]
    store = Store(url)
    stored = len(store.history(store.runs(project="many")["id"].tolist()))
    store.close()
    return {"processes": procs, "points": procs * steps * 5, "stored": stored,
            "errors": errors[:3], "seconds": round(elapsed, 2),
            "aggregate_points_per_s": round(stored / elapsed),
            "client_cpu_s": round(after.ru_utime + after.ru_stime
                                  - before.ru_utime - before.ru_stime, 2)}


def metric_streams(steps: int, seed: int = 0):
    """(wall, {key: values}) as a training logs them: float32 loss, accuracy and
    learning rate cast to float64, and float64 noise; wall times as time.time()
    returns them, ~50 ms a step with jitter."""
    import numpy as np

    rng = np.random.default_rng(seed)
    s = np.arange(steps)
    wall = time.time() + np.cumsum(0.05 * (1 + 0.1 * rng.standard_normal(steps)))
    loss = (2.0 * np.exp(-s / (steps / 5)) + 0.05 * rng.standard_normal(steps) ** 2)
    acc = np.clip(1 - loss / 2.2 + 0.01 * rng.standard_normal(steps), 0, 1)
    lr = 1e-3 * 0.5 ** (s // (steps // 4))
    f32 = {k: v.astype(np.float32).astype(np.float64) for k, v in
           (("loss", loss), ("acc", acc), ("lr", lr))}
    return wall, f32, {"noise": rng.standard_normal(steps)}


def worker_size(url: str, steps: int, kind: int) -> dict:
    """Bytes a point of one data kind (0: float32-origin, 1: float64 noise) in its own
    database: sizes are whole tables."""
    from trackboard.loggers import Run

    wall, f32, noise = metric_streams(steps)
    name, streams = (("float32_origin", f32), ("float64_noise", noise))[kind]
    run = Run(project="size", name=name, store=url, system_metrics=False)
    for i in range(steps):
        run.log({k: float(v[i]) for k, v in streams.items()}, step=i,
                wall_time=float(wall[i]))
    run.finish(timeout=900)
    return {"kind": name, **table_sizes(url, steps * len(streams))}


def table_sizes(url: str, points: int) -> dict:
    from sqlalchemy import text
    from trackboard.storage import Store

    with Store(url) as st, st.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        tables = [t for t in ("points", "points_head", "point_chunks") if conn.execute(
            text("SELECT to_regclass(:t) IS NOT NULL AND (SELECT relkind FROM pg_class "
                 "WHERE oid = to_regclass(:t)) = 'r'"), {"t": t}).scalar()]
        size = lambda: {t: conn.execute(text(  # noqa: E731
            "SELECT pg_total_relation_size(:t)"), {"t": t}).scalar() for t in tables}
        raw = size()
        # A sealing writer deletes head rows; autovacuum gives their space back in a
        # live store. VACUUM FULL shows what the layout holds, without that churn.
        for t in tables:
            conn.execute(text(f"VACUUM FULL {t}"))
        full = size()
    return {"points": points, "bytes": full, "bytes_before_vacuum": raw,
            "bytes_per_point": round(sum(full.values()) / points, 2),
            "bytes_per_point_before_vacuum": round(sum(raw.values()) / points, 2)}


def worker_read(url: str, steps: int) -> dict:
    import numpy as np
    from trackboard.loggers import Run
    from trackboard.storage import Store

    wall, f32, _ = metric_streams(steps)
    run = Run(project="read", name="read", store=url, system_metrics=False)
    for i in range(steps):
        run.log({"loss": float(f32["loss"][i])}, step=i, wall_time=float(wall[i]))
    run.finish(timeout=900)
    times = []
    with Store(url) as st:
        for _ in range(7):
            t0 = time.perf_counter()
            df = st.history([run.id], keys=["loss"])
            times.append(time.perf_counter() - t0)
    assert len(df) == steps and np.array_equal(df["value"].to_numpy(), f32["loss"])
    return {"points": steps, "median_ms": round(1e3 * statistics.median(times), 2),
            "best_ms": round(1e3 * min(times), 2)}


def worker_layouts(url: str, steps: int) -> dict:
    """New side only: the sealed chunks of each data kind written afresh (by COPY, as
    the writer does) into scratch tables: compact arrays as shipped (TOAST's pglz),
    the same with lz4, and chunk_codec's bytes in a bytea column. Bytes a point and
    the COPY's seconds per million points (the server's work, mostly compression)."""
    from contextlib import closing

    from sqlalchemy import text
    from trackboard.loggers import Run
    from trackboard.storage import Store
    from trackboard.storage.db import chunk_codec, pg_arrays
    from trackboard.storage.db.point_chunks import PointLayout

    wall, f32, noise = metric_streams(steps)
    layout = PointLayout("postgresql")
    out: dict = {}
    for name, streams in (("float32_origin", f32), ("float64_noise", noise)):
        run = Run(project="layouts", name=name, store=url, system_metrics=False)
        for i in range(steps):
            run.log({k: float(v[i]) for k, v in streams.items()}, step=i,
                    wall_time=float(wall[i]))
        run.finish(timeout=900)
        with Store(url) as st, closing(st.engine.raw_connection()) as raw:
            conn = raw.driver_connection
            cur = conn.cursor()
            cur.execute("SELECT id FROM runs WHERE uid = %s", (run.id,))
            rid = cur.fetchone()[0]
            points = []
            for key_id, *cols in layout._chunks(cur, f"SELECT key_id, {layout.chunk_cols} "
                                                "FROM point_chunks WHERE run_id = %s", (rid,)):
                points.append((key_id, *layout.decode(tuple(cols))))
            n = sum(len(p[1]) for p in points)
            sizes, seconds = {}, {}
            for label, extra in (("arrays_pglz", ""),
                                 ("arrays_lz4", " SET COMPRESSION lz4")):
                cur.execute("DROP TABLE IF EXISTS s")
                cur.execute("CREATE TABLE s (LIKE point_chunks INCLUDING ALL)")
                if extra:
                    cur.execute("ALTER TABLE s " + ", ".join(
                        f"ALTER COLUMN {c}{extra}" for c in ("steps", "walls", "vals", "vals4")))
                conn.commit()
                rows = [layout.chunk_row(rid, k, *p) for k, *p in points]
                t0 = time.perf_counter()
                pg_arrays.copy_chunks(cur, rows, "s")
                conn.commit()
                seconds[label] = time.perf_counter() - t0
                cur.execute("SELECT pg_total_relation_size('s')")
                sizes[label] = cur.fetchone()[0]
            cur.execute("DROP TABLE IF EXISTS s")
            cur.execute("CREATE TABLE s (run_id int, key_id int, first_step bigint, "
                        "last_step bigint, count int, data bytea NOT NULL, "
                        "PRIMARY KEY (run_id, key_id, first_step))")
            conn.commit()
            t0 = time.perf_counter()
            with cur.copy("COPY s FROM STDIN") as copy:
                for k, st_, wa, va in points:
                    copy.write_row((rid, k, int(st_[0]), int(st_[-1]), len(st_),
                                    chunk_codec.encode(st_, wa, va)))
            conn.commit()
            seconds["bytea_codec"] = time.perf_counter() - t0
            cur.execute("SELECT pg_total_relation_size('s')")
            sizes["bytea_codec"] = cur.fetchone()[0]
            cur.execute("DROP TABLE s")
            conn.commit()
        out[name] = {"points_in_chunks": int(n), "bytes": sizes,
                     "bytes_per_point": {k: round(v / n, 2) for k, v in sizes.items()},
                     "copy_s_per_million_points": {k: round(v / n * 1e6, 3)
                                                   for k, v in seconds.items()}}
    return out


WORKERS = {"ingest": worker_ingest, "many": worker_many, "size": worker_size,
           "read": worker_read, "layouts": worker_layouts}


# -- the driver ---------------------------------------------------------------------

def server_cpu_seconds(datadir: Path) -> float:
    """CPU seconds of the whole PostgreSQL server: the postmaster with the children it
    reaped (cutime/cstime: backends of closed connections) plus those still alive."""
    tick = os.sysconf("SC_CLK_TCK")
    pm = int((datadir / "postmaster.pid").read_text().split()[0])
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) == pm:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        elif int(fields[1]) == pm:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def run_worker(python: str, mode: str, url: str, *args: int) -> dict:
    out = subprocess.run([python, str(HERE), "--worker", mode, url, *map(str, args)],
                         capture_output=True, text=True, timeout=3600,
                         env={**os.environ, "PYTHONPATH": ""})
    if out.returncode:
        raise RuntimeError(f"{python} {mode}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(xs: list[float]) -> dict:
    return {"median": round(statistics.median(xs), 3), "min": round(min(xs), 3),
            "max": round(max(xs), 3), "all": [round(x, 3) for x in xs]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--old", default="/work/wt/base/.venv/bin/python",
                        help="Python whose trackboard is the row-per-point layout")
    parser.add_argument("--new", default=sys.executable)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="ingest,many,size,read,layouts")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.worker:
        mode, url, *rest = args.worker
        print(json.dumps(WORKERS[mode](url, *map(int, rest))))
        return
    sys.path.insert(0, str(HERE.parents[1]))
    from tests.support import postgres

    only = set(args.only.split(","))
    q = args.quick
    size_steps = 100_000 if not q else 10_000
    plan = {"ingest": ("ingest", 100_000 if not q else 10_000),
            "many": ("many", 32, 20_000 if not q else 2_000),
            "size_float32_origin": ("size", size_steps, 0),
            "size_float64_noise": ("size", size_steps, 1),
            "read": ("read", 100_000 if not q else 20_000)}
    sides = {"old": args.old, "new": args.new}
    result: dict = {"rounds": args.rounds, "sides": sides}
    with tempfile.TemporaryDirectory(prefix="tb-pgchunks-") as tmp:
        os.environ["TRACKBOARD_SPOOL_DIR"] = str(Path(tmp) / "spool")
        server = postgres.start_postgres()
        try:
            result["postgres"] = server.psql("SHOW server_version")
            per: dict = {m: {"old": [], "new": []} for m in plan}
            for r in range(args.rounds):
                order = ("old", "new") if r % 2 == 0 else ("new", "old")
                for label, (mode, *params) in plan.items():
                    if mode not in only:
                        continue
                    for side in order:
                        url = server.create_database()
                        cpu0 = server_cpu_seconds(server.datadir)
                        res = run_worker(sides[side], mode, url, *params)
                        res["server_cpu_s"] = round(server_cpu_seconds(server.datadir) - cpu0, 2)
                        per[label][side].append(res)
                        print(f"round {r} {label} {side}: {json.dumps(res)}", file=sys.stderr)
            result["raw"] = per
            result["summary"] = summarise(per)
            if "layouts" in only:
                result["layouts"] = run_worker(args.new, "layouts", server.create_database(),
                                               size_steps)
        finally:
            postgres.remove(server)
    print(json.dumps(result, indent=2))


def summarise(per: dict) -> dict:
    out: dict = {}
    pairs = lambda m: list(zip(per[m]["old"], per[m]["new"]))  # noqa: E731
    if per["ingest"]["old"]:
        out["ingest_points_per_s"] = {
            "old": spread([o["points_per_s"] for o, _ in pairs("ingest")]),
            "new": spread([n["points_per_s"] for _, n in pairs("ingest")]),
            "new_over_old": spread([n["points_per_s"] / o["points_per_s"]
                                    for o, n in pairs("ingest")])}
    if per["many"]["old"]:
        cpu_m = lambda r: r["server_cpu_s"] / r["stored"] * 1e6  # noqa: E731
        out["many"] = {
            "old_aggregate_points_per_s": spread([o["aggregate_points_per_s"]
                                                  for o, _ in pairs("many")]),
            "new_aggregate_points_per_s": spread([n["aggregate_points_per_s"]
                                                  for _, n in pairs("many")]),
            "new_over_old": spread([n["aggregate_points_per_s"] / o["aggregate_points_per_s"]
                                    for o, n in pairs("many")]),
            "old_server_cpu_s_per_million": spread([cpu_m(o) for o, _ in pairs("many")]),
            "new_server_cpu_s_per_million": spread([cpu_m(n) for _, n in pairs("many")]),
            "old_client_cpu_s_per_million": spread([o["client_cpu_s"] / o["stored"] * 1e6
                                                    for o, _ in pairs("many")]),
            "new_client_cpu_s_per_million": spread([n["client_cpu_s"] / n["stored"] * 1e6
                                                    for _, n in pairs("many")])}
    for kind in ("float32_origin", "float64_noise"):
        if per[f"size_{kind}"]["old"]:
            out.setdefault("bytes_per_point", {})[kind] = {
                side: spread([r["bytes_per_point"] for r in per[f"size_{kind}"][side]])
                for side in ("old", "new")}
    if per["read"]["old"]:
        out["read_100k_ms"] = {
            "old": spread([o["median_ms"] for o, _ in pairs("read")]),
            "new": spread([n["median_ms"] for _, n in pairs("read")]),
            "new_over_old": spread([n["median_ms"] / o["median_ms"] for o, n in pairs("read")])}
    return out


if __name__ == "__main__":
    main()
