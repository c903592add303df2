"""Synthetic stores for bench/dashboard.py, written fast and cached between runs.

Everything goes through trackboard.storage.write.ingest.Ingestor (the writer's own
path) with big batches, so the roll-ups and summaries are the real ones.
A finished file gets a `<file>.done` marker; an interrupted one is rebuilt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from trackboard.storage import Store
from trackboard.storage.db.migrate import HEAD_REVISION
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import Batch

CACHE_DIR = Path("/tmp/trackboard-bench")
_CHUNK_STEPS = 100_000


def _run_record(uid: str, name: str, project: str, created: float, status: str = "finished",
                framework: str = "torch") -> dict:
    return {"uid": uid, "project": project, "name": name, "framework": framework,
            "host": "bench", "git_commit": None, "command": "bench", "created_at": created,
            "status": status}


def _fresh(path: Path) -> bool:
    """True when `path` must be (re)built; removes a half-built one."""
    if path.exists() and path.with_suffix(".done").exists():
        return False
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    return True


@contextmanager
def building(path: Path) -> Iterator[Ingestor]:
    """An Ingestor on a new SQLite store at `path`; marks it done when the block ends
    without an error (an interrupted build is then rebuilt by the next `_fresh`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{path}")
    try:
        yield Ingestor(store.engine)
    finally:
        store.close()
    path.with_suffix(".done").touch()


def write_decays(ing: Ingestor, uid: str, names: list[str], steps: int, t0: float,
                 rng: np.random.Generator, rate: float) -> None:
    """`names` noisy exponential decays (exp(-rate * step / steps)) of run `uid`, for
    `steps` steps, written in chunks of _CHUNK_STEPS so memory stays flat."""
    for lo in range(0, steps, _CHUNK_STEPS):
        step = np.arange(lo, min(steps, lo + _CHUNK_STEPS))
        cols = [(np.exp(-step / steps * rate) + rng.normal(0, 0.02, len(step))).tolist()
                for _ in names]
        walls = (t0 + step * 0.01).tolist()
        chunk = Batch()
        chunk.points = [(0, uid, s, w, dict(zip(names, vals)))
                        for s, w, *vals in zip(step.tolist(), walls, *cols)]
        ing.apply(chunk)


def history_store(steps: int, runs: int = 20, keys: int = 4) -> Path:
    """A SQLite store of `runs` runs x `keys` keys x `steps` steps (cached)."""
    path = CACHE_DIR / f"history-{runs}x{keys}x{steps}.db"
    if not _fresh(path):
        return path
    t0 = time.time()
    rng = np.random.default_rng(0)
    names = [f"metric_{k}" for k in range(keys)]
    with building(path) as ing:
        for r in range(runs):
            uid = f"hist{r:012d}"
            ing.apply(Batch(runs={uid: _run_record(uid, f"long-{r}", "bench", t0 + r)}))
            write_decays(ing, uid, names, steps, t0, rng, rate=3)
    return path


def runs_store(runs: int = 10_000, params: int = 50, keys: int = 20) -> Path:
    """A SQLite store of many runs, each with `params` params and `keys` metric keys."""
    path = CACHE_DIR / f"runs-{runs}x{params}x{keys}.db"
    if not _fresh(path):
        return path
    t0 = time.time() - runs
    names = [f"metric_{k}" for k in range(keys)]
    with building(path) as ing:
        for start in range(0, runs, 500):
            b = Batch()
            for r in range(start, min(runs, start + 500)):
                uid = f"run{r:013d}"
                b.runs[uid] = _run_record(uid, f"run-{r}", f"project-{r % 5}", t0 + r,
                                          framework=("keras", "torch", "lightning")[r % 3])
                b.params.append((2, uid, {f"p{j:02d}": (str(r * 0.001 + j) if j % 3 else
                                                       f'"opt-{r % 7}"') for j in range(params)}))
                b.tags.append((3, uid, {"seed": str(r % 5), "team": "bench"}))
                for s in range(3):
                    b.points.append((0, uid, s, t0 + r + s,
                                     {k: math.sin(r + s + i) for i, k in enumerate(names)}))
            ing.apply(b)
    return path


def compare_store(path: Path, runs: int = 10, keys: int = 6, steps: int = 5_000) -> list[str]:
    """A small store for the browser benchmark: `runs` runs x `keys` metrics; run ids."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    store = Store(f"sqlite:///{path}")
    ing = Ingestor(store.engine)
    t0 = time.time() - 3600
    names = ["loss", "val_loss", "accuracy", "val_accuracy", "lr", "grad_norm"][:keys]
    names += [f"metric_{i}" for i in range(len(names), keys)]
    uids = []
    rng = np.random.default_rng(1)
    for r in range(runs):
        uid = f"cmp{r:013d}"
        uids.append(uid)
        b = Batch(runs={uid: _run_record(uid, f"compare-{r}", "bench", t0 + r)})
        b.params.append((2, uid, {"lr": str(10 ** -(2 + r % 3)), "seed": str(r)}))
        step = np.arange(steps)
        cols = [(np.exp(-step / steps * (2 + r * 0.1)) + rng.normal(0, 0.02, steps)).tolist()
                for _ in names]
        b.points = [(0, uid, s, t0 + s * 0.1, dict(zip(names, vals)))
                    for s, *vals in zip(step.tolist(), *cols)]
        ing.apply(b)
    store.close()
    return uids


def training_curves(names: list[str], step: np.ndarray, steps: int, r: int,
                    rng: np.random.Generator) -> list[np.ndarray]:
    """Series shaped like a training's: noisy decaying losses, rising accuracies, a
    warm-up-then-cosine learning rate and a heavy-tailed grad norm with spikes (the
    metric whose min/max buckets drew a zigzag band per run, issue 19 item 8)."""
    t = step / max(1, steps - 1)
    rate = 2 + r * 0.05
    out = []
    for name in names:
        if name == "grad_norm":
            level = 0.5 + 2.0 * np.exp(-t * rate)
            noise = rng.lognormal(0.0, 0.45, len(step))
            spikes = np.where(rng.random(len(step)) < 0.002, rng.uniform(3, 8, len(step)), 1.0)
            out.append(level * noise * spikes)
        elif name == "lr":
            base = 10.0 ** -(2 + r % 3)
            out.append(base * np.minimum(1.0, t / 0.05) * 0.5 * (1 + np.cos(np.pi * t)))
        elif "acc" in name:
            out.append(0.95 - 0.6 * np.exp(-t * rate) + rng.normal(0, 0.03, len(step)))
        else:
            out.append(np.exp(-t * rate) + 0.1 + np.abs(rng.normal(0, 0.08, len(step))))
    return out


def team_compare_store(runs: int = 50, keys: int = 8, steps: int = 100_000) -> tuple[Path, list[str]]:
    """The Compare target's store (cached): `runs` runs of three frameworks x `keys`
    metrics x `steps` steps, with an lr and a hidden size that differ; (path, run ids).

    Built once (50 x 8 x 100k = 40M points, a few minutes); each series is written in
    chunks so memory stays flat. The series look like a training's (training_curves).
    """
    # The schema revision in the name: helpers on other branches share this folder,
    # and a store of another revision is refused by the code of this one.
    path = CACHE_DIR / f"compare-{runs}x{keys}x{steps}-v2-s{HEAD_REVISION}.db"
    uids = [f"team{r:012d}" for r in range(runs)]
    if not _fresh(path):
        return path, uids
    t0 = time.time() - 3600
    names = ["loss", "val_loss", "accuracy", "val_accuracy", "lr", "grad_norm"][:keys]
    names += [f"metric_{i}" for i in range(len(names), keys)]
    rng = np.random.default_rng(2)
    frameworks = ("keras", "torch", "lightning")
    with building(path) as ing:
        for r, uid in enumerate(uids):
            fw = frameworks[r % 3]
            b = Batch(runs={uid: _run_record(uid, f"{fw}-{r}", "bench", t0 + r, framework=fw)})
            b.params.append((2, uid, {"lr": str(10 ** -(2 + r % 3)),
                                      "hidden": str(16 << (r % 4)), "seed": str(r)}))
            ing.apply(b)
            for lo in range(0, steps, _CHUNK_STEPS):
                step = np.arange(lo, min(steps, lo + _CHUNK_STEPS))
                cols = [c.tolist() for c in training_curves(names, step, steps, r, rng)]
                chunk = Batch()
                chunk.points = [(0, uid, s, w, dict(zip(names, vals))) for s, w, *vals
                                in zip(step.tolist(), (t0 + step * 0.01).tolist(), *cols)]
                ing.apply(chunk)
    return path, uids
