"""Media benchmarks (issue 20): the caller-thread cost of Histogram and Image, scalar
logging with media beside it, bytes stored per histogram and per image, the image
codec's choice, and the Distributions read. Prints one JSON object.

    python bench/media.py [--rounds 5] [--only histogram image mixed bytes codec read]
                          [--steps 100000] [--kinds scalars mixed mixed/encoder-thread ...]
                          [--step-ms 1 --step-work wait|compute]

Ratios are taken in one process, against a baseline measured in the same round
(interleaved), because this machine drifts by +-30% between identical runs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = tuple(f"metric_{i}" for i in range(10))


def _best(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def histogram_call(rounds: int) -> dict:
    """Histogram(t) of a 1M-element float32 torch tensor against torch's own
    SummaryWriter.add_histogram of the same tensor (into a writer in a temp dir)."""
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from trackboard.loggers import Histogram

    t = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0))
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tb = SummaryWriter(tmp)
        for r in range(rounds):
            ours.append(_best(lambda: Histogram(t, bins=64), 20))
            theirs.append(_best(lambda: tb.add_histogram("w", t, r), 3))
        tb.close()
    ratios = [a / b for a, b in zip(ours, theirs)]
    return {"histogram_ms": round(min(ours) * 1e3, 3),
            "add_histogram_ms": round(min(theirs) * 1e3, 2),
            "ratio_best": round(min(ours) / min(theirs), 4),
            "ratio_per_round": [round(x, 4) for x in ratios],
            "torch_threads": torch.get_num_threads(),
            "targets": "ratio <= 0.5, histogram_ms <= 3"}


def image_call(rounds: int, tmp: Path) -> dict:
    """The log call of a 256 x 256 x 3 uint8 Image, Image() included, with its parts:
    the same call with an Image built beforehand (everything but the copy), and the copy
    alone (`x.tobytes()`, kept as the queue keeps it). 200 calls a round, back to back,
    the writer asleep during them (it stores them between rounds, untimed). Wall time and
    the calling thread's CPU time (which leaves out waits for the interpreter lock and
    for a core, but keeps page faults): this machine is shared, so the CPU time is the
    steadier figure."""
    from trackboard.loggers import Image, Run
    from trackboard.storage.write.writer import Writer

    frames = [np.random.default_rng(i).integers(0, 256, (256, 256, 3), np.uint8)
              for i in range(8)]
    built = Image(frames[0])
    url = f"sqlite:///{tmp / 'image_call.db'}"
    writer = Writer(url, flush_interval=3600.0)
    run = Run(project="bench", name="image-call", store=url, system_metrics=False,
              writer=writer)
    kept: list[bytes] = []
    cases = {
        "log_image": lambda a, s: run.log({"samples": Image(a, caption="x")}, step=s),
        "log_prebuilt_image": lambda a, s: run.log({"samples": built}, step=s),
        "copy_alone": lambda a, s: kept.append(a.tobytes()),
    }
    out: dict = {}
    step = 0
    wall: dict[str, list[int]] = {name: [] for name in cases}
    cpu: dict[str, list[int]] = {name: [] for name in cases}
    for r in range(rounds):  # interleaved, each case first in turn: the same memory state
        names = list(cases)[r % 3:] + list(cases)[:r % 3]
        for name in names:
            call = cases[name]
            for i in range(200):
                a = frames[i % 8]
                w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
                call(a, step)
                c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
                wall[name].append(w1 - w0)
                cpu[name].append(c1 - c0)
                step += 1
            run.flush(600)
            kept.clear()
    for name in cases:
        out[name] = {"wall_us_p50": round(float(np.percentile(wall[name], 50)) / 1e3, 1),
                     "cpu_us_p50": round(float(np.percentile(cpu[name], 50)) / 1e3, 1),
                     "cpu_us_p90": round(float(np.percentile(cpu[name], 90)) / 1e3, 1)}
    run.finish()
    writer.close()
    out["target"] = "log_image p50 <= 50 us; no encoding or I/O on the caller thread"
    return out


# Variants of the mixed loop: (what is logged every 100 steps, how images are encoded:
# None as configured (storage/write/image_jobs.ENCODER_THREAD), True on a thread of
# their own, False on the writer thread).
VARIANTS: dict[str, tuple[str, bool | None]] = {
    "scalars": ("scalars", None), "mixed": ("mixed", None),
    "histograms": ("histograms", None), "images": ("images", None),
    "mixed/encoder-thread": ("mixed", True), "mixed/inline": ("mixed", False),
    "mixed/repeated-image": ("repeated", None),
}


class _Pace:
    """What a training step does besides logging: nothing (a loop bound by the log
    call), `wait` (the interpreter lock released and no core busy, as while a GPU
    works) or `compute` (one core busy with the lock released: SHA-256 of a buffer
    sized to take `ms`)."""

    def __init__(self, ms: float, work: str) -> None:
        import hashlib

        self.seconds, self.work = ms / 1e3, work
        self._sha = hashlib.sha256
        self._buf = b""
        if ms and work == "compute":
            size = 1 << 20
            t0 = time.perf_counter()
            for _ in range(20):
                self._sha(bytes(size)).digest()
            per_byte = (time.perf_counter() - t0) / (20 * size)
            self._buf = bytes(max(1, int(self.seconds / per_byte)))

    def step(self, since: float) -> None:
        if not self.seconds:
            return
        if self.work == "compute":
            self._sha(self._buf).digest()
        else:
            left = since + self.seconds - time.perf_counter()
            if left > 0:
                time.sleep(left)


def _mixed_once(url: str, steps: int, media: str, hist_values: np.ndarray,
                image: np.ndarray, pace: _Pace) -> tuple[float, list[int]]:
    import gc

    from trackboard.loggers import Histogram, Image, Run

    values = dict.fromkeys(KEYS, 0.0)
    times: list[int] = []
    clock = time.perf_counter_ns
    t_start = time.perf_counter()
    run = Run(project="bench", name=media, store=url, system_metrics=False)
    gc.disable()
    for step in range(steps):
        began = time.perf_counter()
        for i, k in enumerate(KEYS):
            values[k] = step * 0.001 + i
        t0 = clock()
        run.log(values, step=step)
        times.append(clock() - t0)
        if media != "scalars" and step % 100 == 0:
            logged: dict = {}
            if media in ("mixed", "histograms", "repeated"):
                logged["weights"] = Histogram(hist_values, bins=64)
            if media in ("mixed", "images"):
                logged["samples"] = Image(np.roll(image, step // 100, axis=1))
            if media == "repeated":  # the same sample image every time
                logged["samples"] = Image(image)
            run.log(logged, step=step)
        pace.step(began)
    gc.enable()
    run.finish()
    return time.perf_counter() - t_start, times


def mixed(rounds: int, steps: int, tmp: Path, kinds: list[str], step_ms: float = 0.0,
          step_work: str = "wait") -> dict:
    """Scalar ingest (Run() to the end of finish(), as bench/foundation.py) and the
    scalar log call, alone and with a Histogram of 100k values and a 256 x 256 x 3
    Image logged every 100 steps (also each of them alone, and the VARIANTS asked for);
    interleaved rounds, a fresh store for each. The log-call figures are the scalar
    calls only. `step_ms`: each step also spends that long (_Pace)."""
    from trackboard.storage import Store
    from trackboard.storage.write import image_jobs

    rng = np.random.default_rng(5)
    hist_values = rng.normal(size=100_000).astype(np.float32)
    smooth = np.cumsum(rng.normal(0, 4, (256, 256, 3)), axis=1) + 128
    image = np.clip(smooth, 0, 255).astype(np.uint8)
    kinds = ["scalars", *[k for k in kinds if k != "scalars"]]
    pace = _Pace(step_ms, step_work)
    configured = image_jobs.ENCODER_THREAD
    out: dict[str, list] = {k: [] for k in kinds}
    calls: dict[str, list] = {k: [] for k in kinds}
    for r in range(rounds):
        for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
            name = kind.replace("/", "-")
            url = f"sqlite:///{tmp / f'mixed-{name}-{r}.db'}"
            Store(url).close()  # the schema exists before the timed span
            media, thread = VARIANTS[kind]
            image_jobs.ENCODER_THREAD = configured if thread is None else thread
            try:
                seconds, times = _mixed_once(url, steps, media, hist_values, image, pace)
            finally:
                image_jobs.ENCODER_THREAD = configured
            out[kind].append(steps * len(KEYS) / seconds)
            calls[kind].append(times)
    res: dict = {}
    for kind in out:
        us = np.concatenate([np.array(t) for t in calls[kind]]) / 1e3
        res[kind] = {"points_per_s_best": round(max(out[kind])),
                     "points_per_s_median": round(statistics.median(out[kind])),
                     "log_call_us_p50": round(float(np.percentile(us, 50)), 2),
                     "log_call_us_p99": round(float(np.percentile(us, 99)), 2)}
    for kind in kinds[1:]:
        per_round = [m / s for m, s in zip(out[kind], out["scalars"])]
        res[kind]["ingest_ratio_best"] = round(max(out[kind]) / max(out["scalars"]), 3)
        res[kind]["ingest_ratio_median"] = round(statistics.median(per_round), 3)
        res[kind]["ingest_ratio_per_round"] = [round(x, 3) for x in per_round]
        res[kind]["log_call_p50_ratio"] = round(res[kind]["log_call_us_p50"]
                                                / res["scalars"]["log_call_us_p50"], 3)
    res["steps"] = steps
    res["step"] = (f"{step_ms} ms of {step_work} besides logging" if step_ms
                   else "logging only")
    res["encoder_thread_configured"] = configured
    res["target"] = "ratios >= 0.95 (ingest) and <= 1.05 (call)"
    return res


def _file_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def stored_bytes(tmp: Path) -> dict:
    """Database growth per histogram (against TensorBoard's event file for the same
    histogram) and per image (what docs/deployment.md's advice rests on)."""
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from trackboard.loggers import Histogram, Image, Run
    from trackboard.storage import Store

    n = 1000
    t = torch.randn(1_000_000, generator=torch.Generator().manual_seed(1))
    res: dict = {}
    for bins in (64, 1000):
        db = tmp / f"hist-{bins}.db"
        url = f"sqlite:///{db}"
        Store(url).close()
        run = Run(project="bench", name="bytes", store=url, system_metrics=False)
        run.log({"seed": 0.0}, step=0)
        run.flush()
        h = Histogram(t, bins=bins)  # the same histogram every step: bytes are what count
        before = _checkpointed(db)
        for step in range(n):
            run.log({"w": h}, step=step)
        run.finish()
        res[f"ours_bytes_per_histogram_bins{bins}"] = round((_checkpointed(db) - before) / n)
    for label, bins in (("tensorflow_default", "tensorflow"), ("bins64", 64)):
        d = tmp / f"tb-{label}"
        tb = SummaryWriter(str(d))
        tb.flush()
        before = sum(p.stat().st_size for p in d.glob("events*"))
        for step in range(50):
            tb.add_histogram("w", t, step, bins=bins)
        tb.close()
        after = sum(p.stat().st_size for p in d.glob("events*"))
        res[f"tensorboard_bytes_per_histogram_{label}"] = round((after - before) / 50)
    res["ratio_vs_tensorboard_default"] = round(
        res["ours_bytes_per_histogram_bins64"] / res["tensorboard_bytes_per_histogram_tensorflow_default"], 4)
    res["ratio_vs_tensorboard_bins64"] = round(
        res["ours_bytes_per_histogram_bins64"] / res["tensorboard_bytes_per_histogram_bins64"], 4)

    db = tmp / "images.db"
    url = f"sqlite:///{db}"
    Store(url).close()
    run = Run(project="bench", name="images", store=url, system_metrics=False)
    rng = np.random.default_rng(2)
    photo = np.clip(np.cumsum(rng.normal(0, 4, (256, 256, 3)), axis=1) + 128, 0, 255)
    run.log({"seed": 0.0}, step=0)
    run.flush()
    before = _checkpointed(db)
    for step in range(200):
        run.log({"samples": Image(np.roll(photo, step, axis=0).astype(np.uint8))}, step=step)
    run.finish()
    res["db_bytes_per_256x256_rgb_image"] = round((_checkpointed(db) - before) / 200)
    res["encoded_bytes_per_image_mean"] = round(float(Store(url).images(run.id)["size"].mean()))
    return res


def _checkpointed(db: Path) -> int:
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return _file_bytes(db)


def codec(rounds: int) -> dict:
    """Encoding time and size of 256 x 256 images: what storage/media/images.py chose
    (lossless WebP at method 0 for colour) against PNG."""
    from PIL import Image as PILImage
    from trackboard.storage.media.images import encode_pixels

    rng = np.random.default_rng(3)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2, 2.56), dpi=80)
    ax.plot(np.cumsum(rng.normal(size=300)))
    fig.canvas.draw()
    plot = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(fig)
    images = {
        "photo_like": np.clip(np.cumsum(rng.normal(0, 4, (256, 256, 3)), axis=1) + 128,
                              0, 255).astype(np.uint8),
        "noise": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        "plot": plot,
        "grey_digit": rng.integers(0, 256, (28, 28, 1), dtype=np.uint8),
    }
    out = {}
    for name, px in images.items():
        row = {}
        chosen = encode_pixels(px)
        row["chosen"] = chosen[0]
        row["chosen_bytes"] = len(chosen[1])
        row["chosen_ms"] = round(_best(lambda: encode_pixels(px), rounds * 3) * 1e3, 2)
        im = PILImage.fromarray(px[:, :, 0] if px.shape[2] == 1 else px)
        for level in (1, 6):
            def png(level: int = level) -> bytes:
                b = io.BytesIO()
                im.save(b, "PNG", compress_level=level)
                return b.getvalue()
            row[f"png{level}_bytes"] = len(png())
            row[f"png{level}_ms"] = round(_best(png, rounds * 3) * 1e3, 2)
        out[name] = row
    return out


def read(rounds: int, tmp: Path) -> dict:
    """Distributions of 1 run x 1 key x 1,000 steps: the data for the chart."""
    from trackboard.loggers import Histogram, Run
    from trackboard.storage import Store

    url = f"sqlite:///{tmp / 'read.db'}"
    run = Run(project="bench", name="read", store=url, system_metrics=False)
    rng = np.random.default_rng(4)
    for step in range(1000):
        run.log({"weights/fc1": Histogram(rng.normal(step * 0.001, 1, 10_000), bins=64)},
                step=step)
    run.finish()
    store = Store(url)
    dist = _best(lambda: store.distributions(run.id, ["weights/fc1"]), rounds)
    hist = _best(lambda: store.histograms(run.id, ["weights/fc1"]), rounds)
    ridge = _best(lambda: store.histograms(run.id, ["weights/fc1"], max_steps=50), rounds)
    return {"distributions_1000_steps_ms": round(dist * 1e3, 1),
            "histograms_1000_steps_ms": round(hist * 1e3, 1),
            "histograms_50_of_1000_steps_ms": round(ridge * 1e3, 1),
            "target": "distributions <= 200 ms"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--kinds", nargs="*", choices=list(VARIANTS),
                        default=["scalars", "mixed", "histograms", "images"],
                        help="the mixed loop's variants (scalars always)")
    parser.add_argument("--step-ms", type=float, default=0.0,
                        help="each step of the mixed loop also spends this long")
    parser.add_argument("--step-work", choices=["wait", "compute"], default="wait",
                        help="how: the interpreter lock released and no core busy (a GPU "
                             "step), or one core busy (SHA-256 with the lock released)")
    parser.add_argument("--only", nargs="*",
                        default=["histogram", "image", "mixed", "bytes", "codec", "read"])
    args = parser.parse_args()
    os.environ.setdefault("TRACKBOARD_SPOOL_DIR", tempfile.mkdtemp(prefix="tb-bench-spool-"))
    result: dict = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "histogram" in args.only:
            result["histogram_call"] = histogram_call(args.rounds)
        if "image" in args.only:
            result["image_call"] = image_call(args.rounds, tmp)
        if "mixed" in args.only:
            result["mixed"] = mixed(args.rounds, args.steps, tmp, args.kinds, args.step_ms,
                                    args.step_work)
        if "bytes" in args.only:
            result["stored_bytes"] = stored_bytes(tmp)
        if "codec" in args.only:
            result["codec"] = codec(args.rounds)
        if "read" in args.only:
            result["read"] = read(args.rounds, tmp)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
