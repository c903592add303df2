"""Issue 21 on SQLite: chunked points (this checkout) against the row-per-point layout
(the old code), each measurement in interleaved rounds, each side in a fresh process
of its own interpreter (the machine has 2 shared cores and drifts by ±30%).

    python bench/chunks.py [--old-python PY] [--rounds 3]
                           [--only codec bytes ingest logcall reads compare crash]

The old side is `--old-python` (default: $TRACKBOARD_OLD_PYTHON, else
/work/wt/base/.venv/bin/python, a virtualenv whose editable install is the old
checkout, commit e19e970); the new side is `--new-python` (default: this interpreter).
Both run this file with `--one NAME`; the child puts the checkout its interpreter
imports trackboard from first on sys.path, so `bench.*` and `tests.*` come from the same
checkout as the code measured. Rounds alternate old/new, new/old; every figure is
printed per round, with the per-round ratio new/old, its median and its range.

  codec    bytes a point and µs per 1,000-point chunk (encode, decode): chunk_codec
           against the same transform at zstd 1 and 9, plain zstd, pcodec and blosc2
           (pcodec and blosc2 are not dependencies: pip install them to measure them),
           on float32-origin streams and float64 noise, steps and wall times included.
           This interpreter only (the old code has no codec).
  bytes    the whole SQLite file / points after a checkpoint (and again after VACUUM):
           a training-like run and a float64-noise run, written through the Ingestor
           in batches the size a writer makes beside a ~4 ms/step loop.
  ingest   points/s of one process bound by the log call: Run(), `--ingest-keys` keys a
           step for `--ingest-steps` steps as fast as possible, finish(); clock from
           Run() to finish()'s return.
  logcall  run.log p50/p99 (bench/log_call_ab.py's loop: float10, int10, one_new_dict).
  reads    one key of 100,000 points: Store.history at full resolution and as the
           dashboard reads it (max_points=1000, envelope); the runs table (10,000 runs).
  compare  the Compare page's reads on bench/dashboard_data.team_compare_store
           (`--compare-runs` x 8 keys x `--compare-steps`): history at the page's
           budget, a 1,001-step range, the runs' rows.
  crash    bench/crash.py's kill -9 after a 2M-point burst, SQLite, each side's own
           tests/test_crash.kill_after_burst.

Stores the reads build are cached per schema revision in /tmp/trackboard-bench/chunks-*.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
OLD_PYTHON = os.environ.get("TRACKBOARD_OLD_PYTHON", "/work/wt/base/.venv/bin/python")
CACHE = Path("/tmp/trackboard-bench")
T0 = 1.76e9  # wall times near today's


# -- data ------------------------------------------------------------------------------

def walls(n: int, rng: np.random.Generator, ms: float = 4.0) -> np.ndarray:
    """Wall times of a training loop: ~`ms` ms a step (gamma jitter), a 2-second
    evaluation pause every 1,000 steps; as time.time() gives them (float64)."""
    dt = rng.gamma(16.0, ms / 1000 / 16, n)
    dt[::1000] += 2.0
    return T0 + np.cumsum(dt)


def stream(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n values of one metric. All but `noise64` are float32 values cast to float64, as
    frameworks hand them over (a tensor's .item() of a float32)."""
    t = np.arange(n) / max(1, n - 1)
    if kind == "loss":
        v = 2.0 * np.exp(-3 * t) + 0.1 + np.abs(rng.normal(0, 0.08, n))
    elif kind == "accuracy":
        v = np.clip(0.95 - 0.6 * np.exp(-3 * t) + rng.normal(0, 0.03, n), 0, 1)
    elif kind == "constant":
        v = np.full(n, 1e-2)  # a weight decay, a batch size
    elif kind == "lr_step":
        v = 0.1 * 0.1 ** np.floor(t * 3.999)  # 0.1, divided by 10 three times
    elif kind == "lr_cosine":
        v = 3e-4 * 0.5 * (1 + np.cos(np.pi * t))
    elif kind == "grad_norm":
        v = (0.5 + 2 * np.exp(-3 * t)) * rng.lognormal(0, 0.45, n)
    elif kind == "noise64":
        return rng.standard_normal(n)
    else:
        raise ValueError(kind)
    return v.astype(np.float32).astype(np.float64)


CODEC_STREAMS = ("loss", "accuracy", "constant", "lr_step", "lr_cosine", "noise64")
# 20 keys of a training run: what one logs per step (float32 values).
TRAINING_KEYS = (["loss", "val_loss", "train/loss_ema", "aux_loss", "kl"] +
                 ["accuracy", "val_accuracy", "top5", "f1"] +
                 ["lr", "momentum", "weight_decay", "batch_size", "epoch"] +
                 ["grad_norm", "param_norm", "update_ratio", "throughput", "mem_gb", "clip_frac"])
_TRAINING_KIND = {"lr": "lr_cosine", "momentum": "constant", "weight_decay": "constant",
                  "batch_size": "constant", "epoch": "lr_step"}


def training_columns(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name in TRAINING_KEYS:
        kind = _TRAINING_KIND.get(name) or (
            "loss" if "loss" in name or name == "kl" else
            "accuracy" if name in ("accuracy", "val_accuracy", "top5", "f1") else "grad_norm")
        out[name] = stream(kind, n, rng)
    return out


# -- codecs (this interpreter only) ----------------------------------------------------

def _columns_transformed(step, wall, value) -> np.ndarray:
    """chunk_codec's transform, unshuffled: (3, n) int64 of step deltas, wall bit
    deltas, value bits."""
    raw = np.empty((3, len(step)), np.int64)
    with np.errstate(over="ignore"):
        raw[0] = np.diff(step, prepend=np.int64(0))
        raw[1] = np.diff(wall.view(np.int64), prepend=np.int64(0))
    raw[2] = value.view(np.int64)
    return raw


def _codecs() -> dict:
    import zstandard
    from trackboard.storage.db import chunk_codec

    def shuffled(level):
        c, d = zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()

        def enc(s, w, v):
            raw = _columns_transformed(s, w, v)
            sh = raw.view(np.uint8).reshape(3, len(s), 8).transpose(0, 2, 1)
            return b"\x01" + c.compress(np.ascontiguousarray(sh).tobytes())

        def dec(data):
            raw = np.frombuffer(d.decompress(memoryview(data)[1:]), np.uint8)
            n = len(raw) // 24
            cols = raw.reshape(3, 8, n).transpose(0, 2, 1).copy().view(np.int64).reshape(3, n)
            with np.errstate(over="ignore"):
                return (np.cumsum(cols[0]), np.cumsum(cols[1]).view(np.float64),
                        cols[2].view(np.float64))
        return enc, dec

    def plain(level):  # the three raw columns, no transform
        c, d = zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()

        def enc(s, w, v):
            return c.compress(np.concatenate((s, w.view(np.int64), v.view(np.int64))).tobytes())

        def dec(data):
            a = np.frombuffer(d.decompress(data), np.int64).reshape(3, -1)
            return a[0], a[1].view(np.float64), a[2].view(np.float64)
        return enc, dec

    codecs = {"chunk_codec (zstd 3, shuffled deltas)": (chunk_codec.encode, chunk_codec.decode),
              "same transform, zstd 1": shuffled(1), "same transform, zstd 9": shuffled(9),
              "plain zstd 3, no transform": plain(3)}
    try:
        from pcodec import ChunkConfig, standalone

        cfg = ChunkConfig()  # level 8, automatic delta and float modes

        def pco_enc(s, w, v):
            parts = [standalone.simple_compress(np.ascontiguousarray(x), cfg) for x in (s, w, v)]
            return b"".join(len(p).to_bytes(4, "little") + p for p in parts)

        def pco_dec(data):
            out, i = [], 0
            for _ in range(3):
                n = int.from_bytes(data[i:i + 4], "little")
                out.append(standalone.simple_decompress(data[i + 4:i + 4 + n]))
                i += 4 + n
            return tuple(out)
        codecs["pcodec 1.x (level 8, per column)"] = (pco_enc, pco_dec)
    except ImportError:
        print("pcodec not installed: skipped", file=sys.stderr)
    try:
        import blosc2

        blosc2.set_nthreads(1)

        def blosc(filt, clevel=5):
            def enc(s, w, v):
                return blosc2.compress2(_columns_transformed(s, w, v).tobytes(), typesize=8,
                                        codec=blosc2.Codec.ZSTD, clevel=clevel,
                                        filters=[filt], filters_meta=[0])

            def dec(data):
                a = np.frombuffer(blosc2.decompress2(data), np.int64).reshape(3, -1)
                with np.errstate(over="ignore"):
                    return (np.cumsum(a[0]), np.cumsum(a[1]).view(np.float64),
                            a[2].view(np.float64))
            return enc, dec
        codecs["blosc2 zstd clevel 5, shuffle (same deltas)"] = blosc(blosc2.Filter.SHUFFLE)
        codecs["blosc2 zstd clevel 5, bitshuffle (same deltas)"] = blosc(blosc2.Filter.BITSHUFFLE)
    except ImportError:
        print("blosc2 not installed: skipped", file=sys.stderr)
    return codecs


def one_codec(args) -> dict:
    n, per = args.codec_points, 1000
    rng = np.random.default_rng(0)
    step = np.arange(n, dtype=np.int64)
    wall = walls(n, rng)
    out: dict = {"points_per_stream": n, "chunk_points": per}
    for name, (enc, dec) in _codecs().items():
        row = {}
        for kind in CODEC_STREAMS:
            value = stream(kind, n, np.random.default_rng(1))
            chunks = [(step[i:i + per], wall[i:i + per], value[i:i + per]) for i in range(0, n, per)]
            blobs = [enc(*c) for c in chunks]
            for blob, c in zip(blobs, chunks):  # exact, every bit
                s, w, v = dec(blob)
                assert (np.asarray(s) == c[0]).all() and (np.asarray(w).view(np.int64) == c[1].view(
                    np.int64)).all() and (np.asarray(v).view(np.int64) == c[2].view(np.int64)).all()
            enc_us, dec_us = [], []
            for _ in range(args.codec_reps):  # alternate, best of reps per chunk
                t = time.perf_counter()
                for c in chunks:
                    enc(*c)
                enc_us.append((time.perf_counter() - t) / len(chunks) * 1e6)
                t = time.perf_counter()
                for b in blobs:
                    dec(b)
                dec_us.append((time.perf_counter() - t) / len(chunks) * 1e6)
            row[kind] = {"bytes_per_point": round(sum(map(len, blobs)) / n, 2),
                         "encode_us_per_chunk": round(min(enc_us), 1),
                         "encode_us_median": round(statistics.median(enc_us), 1),
                         "decode_us_per_chunk": round(min(dec_us), 1),
                         "decode_us_median": round(statistics.median(dec_us), 1)}
        out[name] = row
    return out


# -- children (either interpreter) ----------------------------------------------------

def _side_root() -> Path:
    """The checkout this interpreter imports trackboard from, first on sys.path."""
    import trackboard.storage

    root = Path(trackboard.storage.__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    return root


def _revision() -> str:
    from trackboard.storage.db.migrate import HEAD_REVISION
    return HEAD_REVISION


def _run_record(uid: str) -> dict:
    return {"uid": uid, "project": "bench", "name": uid, "framework": "torch", "host": "bench",
            "git_commit": None, "command": "bench", "created_at": T0, "status": "finished"}


def write_series(path: Path, uid: str, columns: dict[str, np.ndarray], wall: np.ndarray,
                 batch_steps: int) -> float:
    """Write one run through the writer's Ingestor, `batch_steps` steps a batch; seconds."""
    from trackboard.storage import Store
    from trackboard.storage.write.ingest import Ingestor
    from trackboard.storage.write.records import Batch

    store = Store(f"sqlite:///{path}")
    ing = Ingestor(store.engine)
    ing.apply(Batch(runs={uid: _run_record(uid)}))
    names = tuple(columns)
    rows = np.stack([columns[k] for k in names], axis=1)
    wl = wall.tolist()
    t = time.perf_counter()
    for lo in range(0, len(wall), batch_steps):
        b = Batch()
        b.points = [(0, uid, s, wl[s], names, array("d", rows[s]))
                    for s in range(lo, min(len(wall), lo + batch_steps))]
        ing.apply(b)
    took = time.perf_counter() - t
    store.close()
    return took


def _file_bytes(path: Path) -> int:
    return path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob(path.name + "-*"))


def one_bytes(args) -> dict:
    import sqlite3

    out = {}
    n, keys = args.bytes_steps, args.bytes_keys
    for kind in ("training", "noise64"):
        rng = np.random.default_rng(3)
        wall = walls(n, rng)
        if kind == "training":
            cols = dict(list(training_columns(n, 4).items())[:keys])
        else:
            cols = {f"noise_{i}": rng.standard_normal(n) for i in range(keys)}
        with tempfile.TemporaryDirectory(prefix="tb-chunks-") as tmp:
            path = Path(tmp) / "bytes.db"
            took = write_series(path, "bytes", cols, wall, args.batch_steps)
            con = sqlite3.connect(path)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = _file_bytes(path)
            free = con.execute("PRAGMA freelist_count").fetchone()[0] * con.execute(
                "PRAGMA page_size").fetchone()[0]
            con.execute("VACUUM")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.close()
            vac = _file_bytes(path)
        pts = n * len(cols)
        out[kind] = {"points": pts, "bytes_per_point": round(size / pts, 2),
                     "free_pages_bytes_per_point": round(free / pts, 2),
                     "bytes_per_point_after_vacuum": round(vac / pts, 2),
                     "write_s": round(took, 2)}
    return out


def one_ingest(args) -> dict:
    import math

    from trackboard.loggers import Run
    from trackboard.storage import Store

    keys = [f"metric_{i}" for i in range(args.ingest_keys)]
    with tempfile.TemporaryDirectory(prefix="tb-chunks-") as tmp:
        os.environ["TRACKBOARD_SPOOL_DIR"] = str(Path(tmp) / "spool")
        url = f"sqlite:///{tmp}/ingest.db"
        Store(url).close()  # the schema exists before the clock starts (foundation.py)
        t0 = time.perf_counter()
        c0 = time.process_time()  # every thread's: less sensitive to the shared machine
        run = Run(project="bench", name="ingest", store=url, system_metrics=False)
        values: dict[str, float] = {}
        for step in range(args.ingest_steps):
            for i, k in enumerate(keys):
                values[k] = math.sin(step * 0.001 + i)
            run.log(values)
        logged = time.perf_counter() - t0
        during = run._writer.points_written
        run.finish(timeout=900)
        took = time.perf_counter() - t0
        cpu = time.process_time() - c0
        size = _file_bytes(Path(tmp) / "ingest.db")
    pts = args.ingest_steps * len(keys)
    return {"points": pts, "points_per_s": round(pts / took), "seconds": round(took, 2),
            "cpu_s": round(cpu, 2), "log_loop_s": round(logged, 2), "after_loop_s": round(took - logged, 2),
            "stored_during_loop": during, "file_bytes_per_point": round(size / pts, 1)}


def one_logcall(args) -> dict:
    """bench/log_call_ab.py's LOG_CALL, as it is there."""
    import gc

    from trackboard.loggers import Run

    keys = [f"metric_{i}" for i in range(10)]
    out = {}
    with tempfile.TemporaryDirectory(prefix="tb-chunks-") as tmp:
        os.environ["TRACKBOARD_SPOOL_DIR"] = str(Path(tmp) / "spool")
        url = f"sqlite:///{tmp}/logcall.db"
        for kind in ("float10", "int10", "one_new_dict"):
            run = Run(project="bench", name=kind, store=url, system_metrics=False)
            values = {k: 0.0 for k in keys}
            times = []
            clock = time.perf_counter_ns
            gc.disable()
            for step in range(args.calls):
                if kind == "one_new_dict":
                    t0 = clock()
                    run.log({"loss": 0.5}, step=step)
                else:
                    for i, k in enumerate(keys):
                        values[k] = (step + i) if kind == "int10" else step * 0.001 + i
                    t0 = clock()
                    run.log(values)
                times.append(clock() - t0)
            gc.enable()
            run.finish()
            a = np.array(times) / 1000.0
            out[f"{kind}_p50_us"] = round(float(np.percentile(a, 50)), 2)
            out[f"{kind}_p99_us"] = round(float(np.percentile(a, 99)), 2)
    return out


def _best(fn, reps: int) -> tuple[float, object]:
    import gc

    times, got = [], None
    for _ in range(reps):
        t = time.perf_counter()
        got = fn()
        times.append((time.perf_counter() - t) * 1000)
        gc.collect()
    return round(min(times), 2), got


def _cache_dir() -> Path:
    d = CACHE / f"chunks-s{_revision()}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def one_reads(args) -> dict:
    from bench import dashboard_data
    from trackboard.storage import Store

    dashboard_data.CACHE_DIR = _cache_dir()  # the runs store, per schema revision
    path = dashboard_data.CACHE_DIR / f"series-{args.series_points}.db"
    if dashboard_data._fresh(path):
        rng = np.random.default_rng(5)
        write_series(path, "series", {"loss": stream("loss", args.series_points, rng)},
                     walls(args.series_points, rng), 40)
        path.with_suffix(".done").touch()
    out = {}
    store = Store(f"sqlite:///{path}", read_only=True)
    out["history_full_ms"], frame = _best(lambda: store.history(["series"], ["loss"]), args.reps)
    assert len(frame) == args.series_points, len(frame)
    out["history_dashboard_ms"], frame = _best(lambda: store.history(
        ["series"], ["loss"], 1000, envelope=True), args.reps)
    out["history_2000_reduce_ms"], _ = _best(lambda: store.history(  # raw read + numpy reduce
        ["series"], ["loss"], 5000), args.reps)
    out["history_zoom_5001_ms"], _ = _best(lambda: store.history(
        ["series"], ["loss"], step_range=(50_000, 55_000)), args.reps)
    store.close()

    url = f"sqlite:///{dashboard_data.runs_store()}"

    def fresh(read):
        def go():
            s = Store(url, read_only=True)
            try:
                return read(s)
            finally:
                s.close()
        return go
    probe = Store(url, read_only=True)
    pkeys, mkeys = probe.param_keys()[:8], probe.keys()[:3]
    probe.close()
    out["runs_default_view_ms"], _ = _best(fresh(lambda s: s.runs(
        param_keys=pkeys, metric_keys=mkeys)), args.reps)
    out["runs_all_columns_ms"], _ = _best(fresh(lambda s: s.runs()), 2)
    return out


def one_compare(args) -> dict:
    from bench import dashboard_data
    from trackboard.storage import Store

    dashboard_data.CACHE_DIR = _cache_dir()
    t = time.perf_counter()
    path, ids = dashboard_data.team_compare_store(args.compare_runs, 8, args.compare_steps)
    built = time.perf_counter() - t
    url = f"sqlite:///{path}"
    probe = Store(url, read_only=True)
    keys = probe.keys()
    probe.close()
    # dashboard/charts.py points_per_series (not imported: the old virtualenv lacks
    # colorcet): max(200, min(most, 12,000 // runs)); Compare's read_budget.
    budget = max(200, min(1000, 12_000 // len(ids)))
    range_budget = max(200, min(12_000, 12_000 // len(ids)))

    def fresh(read):
        def go():
            s = Store(url, read_only=True)
            try:
                return read(s)
            finally:
                s.close()
        return go
    out = {"points": args.compare_runs * 8 * args.compare_steps, "budget": budget,
           "file_bytes_per_point": round(_file_bytes(path) /
                                         (args.compare_runs * 8 * args.compare_steps), 2)}
    if built > 1:
        out["built_s"] = round(built, 1)
    out["history_ms"], frame = _best(fresh(lambda s: s.history(
        ids, keys, budget, envelope=True)), args.reps)
    out["rows"] = len(frame)
    lo = args.compare_steps // 2
    out["range_1001_steps_ms"], frame = _best(fresh(lambda s: s.history(
        ids, keys, range_budget, step_range=(lo, lo + 1000), envelope=True)), args.reps)
    out["range_rows"] = len(frame)
    out["runs_rows_ms"], _ = _best(fresh(lambda s: s.runs(run_ids=ids)), args.reps)
    return out


def one_crash(args) -> dict:
    from tests.test_crash import kill_after_burst
    from trackboard.storage import Store

    kills = []
    for delay in args.delays:
        with tempfile.TemporaryDirectory(prefix="tb-crash-") as tmp_name:
            tmp = Path(tmp_name)
            os.environ["TRACKBOARD_SPOOL_DIR"] = str(tmp / "spool")
            url = f"sqlite:///{tmp / 'crash.db'}"
            Store(url).close()
            got = kill_after_burst(url, tmp, delay, args.crash_steps)
            stored = got.pop("_stored")
            summaries, buckets = got.pop("_summaries"), got.pop("_buckets")
            got["duplicates_or_double_counts"] = sum(
                (n != distinct) + (summaries[k] != n) + (buckets[k] != n)
                for k, (n, _lo, _hi, distinct) in stored.items())
            got.pop("sync_output", None)
            kills.append(got)
    return {"worst_oldest_missing_s": max(k["oldest_missing_before_kill_s"] for k in kills),
            "duplicates_or_double_counts": sum(k["duplicates_or_double_counts"] for k in kills),
            "kills": kills}


CHILDREN = {"bytes": one_bytes, "ingest": one_ingest, "logcall": one_logcall,
            "reads": one_reads, "compare": one_compare, "crash": one_crash}


# -- parent ---------------------------------------------------------------------------

def _child(python: str, name: str, argv: list[str]) -> dict:
    done = subprocess.run([python, str(HERE), "--one", name, *argv], capture_output=True,
                          text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{python} --one {name}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _numbers(d: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_numbers(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[prefix + k] = v
    return out


def summarise(rounds: list[dict[str, dict]]) -> dict:
    """Per figure: old and new per round, new/old per round, its median and range."""
    old = [_numbers(r["old"]) for r in rounds]
    new = [_numbers(r["new"]) for r in rounds]
    out = {}
    for k in new[0]:
        if not all(k in x for x in old + new):  # a figure of some rounds only (built_s)
            out[k] = {"old": [x.get(k) for x in old], "new": [x.get(k) for x in new]}
            continue
        o, n = [x[k] for x in old], [x[k] for x in new]
        row = {"old": o, "new": n, "old_median": statistics.median(o),
               "new_median": statistics.median(n)}
        if all(o):
            ratios = [b / a for a, b in zip(o, n)]
            row |= {"ratio_new_old": [round(x, 3) for x in ratios],
                    "ratio_median": round(statistics.median(ratios), 3),
                    "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)]}
        out[k] = row
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--old-python", default=OLD_PYTHON)
    p.add_argument("--new-python", default=sys.executable)
    p.add_argument("--only", nargs="+", default=["codec", "bytes", "ingest", "logcall", "reads",
                                                 "compare", "crash"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--codec-points", type=int, default=100_000)
    p.add_argument("--codec-reps", type=int, default=7)
    p.add_argument("--bytes-steps", type=int, default=50_000)
    p.add_argument("--bytes-keys", type=int, default=20)
    p.add_argument("--batch-steps", type=int, default=50,
                   help="steps a batch when writing the bytes stores (a writer's 0.2 s "
                        "beside a 4 ms/step loop)")
    p.add_argument("--ingest-steps", type=int, default=100_000)
    p.add_argument("--ingest-keys", type=int, default=16)
    p.add_argument("--calls", type=int, default=100_000)
    p.add_argument("--series-points", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--compare-runs", type=int, default=100)
    p.add_argument("--compare-steps", type=int, default=100_000)
    p.add_argument("--crash-steps", type=int, default=200_000)
    p.add_argument("--delays", type=float, nargs="+", default=[0.06, 0.3, 1.0, 2.5, 5.0])
    args = p.parse_args()
    if args.one:
        _side_root()
        out = one_codec(args) if args.one == "codec" else CHILDREN[args.one](args)
        print(json.dumps(out))
        return
    argv = [a for a in sys.argv[1:]]
    for flag in ("--only", "--old-python", "--new-python", "--rounds"):  # the parent's own
        if flag in argv:
            i = argv.index(flag)
            j = i + 1
            while j < len(argv) and not argv[j].startswith("--"):
                j += 1
            del argv[i:j]
    result: dict = {"old_python": args.old_python, "new_python": args.new_python,
                    "rounds": args.rounds, "started": time.strftime("%Y-%m-%d %H:%M")}
    sides = {"old": args.old_python, "new": args.new_python}
    for name in args.only:
        if name == "codec":
            result["codec"] = _child(args.new_python, "codec", argv)
            print(json.dumps({"codec": result["codec"]}), file=sys.stderr)
            continue
        rounds = []
        for r in range(args.rounds):
            order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
            got = {}
            for side in order:
                got[side] = _child(sides[side], name, argv)
                print(json.dumps({name: {"round": r, side: got[side]}}), file=sys.stderr)
            rounds.append(got)
        result[name] = summarise(rounds)
        if name == "crash":
            result[name]["kills"] = {s: [r[s]["kills"] for r in rounds] for s in sides}
    print(_dump(result))


def _dump(result: dict) -> str:
    """JSON with one line per figure."""
    lines = ["{"]
    items = list(result.items())
    for i, (k, v) in enumerate(items):
        end = "," if i < len(items) - 1 else ""
        if isinstance(v, dict):
            lines.append(f" {json.dumps(k)}: {{")
            sub = list(v.items())
            for j, (k2, v2) in enumerate(sub):
                lines.append(f"  {json.dumps(k2)}: {json.dumps(v2)}" + ("," if j < len(sub) - 1 else ""))
            lines.append(" }" + end)
        else:
            lines.append(f" {json.dumps(k)}: {json.dumps(v)}{end}")
    lines.append("}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
