"""Helpers for the framework logger tests: tiny data, subprocess training, store reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from trackboard.storage import Store

ROOT = Path(__file__).resolve().parents[2]


def tiny_classification(n: int = 64, features: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A linearly separable-ish binary task small enough to train in a blink."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
    return x, y


def run_python(script: str, *args: str, env: dict[str, str] | None = None,
               expect_ok: bool = True, timeout: float = 180) -> tuple[int, str, str]:
    """Run `script` in a fresh interpreter (frameworks that read env vars at import time,
    such as Keras' backend choice, need one); returns (returncode, stdout, stderr)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                **(env or {})}
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=ROOT)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f"training script failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.returncode, proc.stdout, proc.stderr


def last_json(stdout: str) -> Any:
    """The last line of a script's stdout that is a JSON object."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"no JSON line in the script's output:\n{stdout[-2000:]}")


def series(store_url: str, run_id: str, *, system: bool = False) -> dict[str, list[tuple[int, float]]]:
    """Every stored point of a run as {key: [(step, value), ...]} in step order.
    System metrics are left out unless asked for."""
    with Store(store_url) as store:
        frame = store.history([run_id])
    out: dict[str, list[tuple[int, float]]] = {}
    for row in frame.sort_values(["key", "step"]).itertuples():
        if system or not row.key.startswith("system/"):
            out.setdefault(row.key, []).append((int(row.step), float(row.value)))
    return out


def texts(store_url: str, run_id: str) -> dict[str, list[tuple[int, str]]]:
    """Every stored text of a run as {key: [(step, text), ...]} in step order."""
    with Store(store_url) as store:
        frame = store.texts([run_id])
    out: dict[str, list[tuple[int, str]]] = {}
    for row in frame.itertuples():
        out.setdefault(row.key, []).append((int(row.step), row.text))
    return out


def run_info(store_url: str, run_id: str) -> dict[str, Any]:
    with Store(store_url) as store:
        return store.run(run_id)


def check_continued_after_close(store_url: str, writer: Any, run_id: str,
                                points: dict[str, list[tuple[int, float]]],
                                stored_texts: dict[str, list[tuple[int, str]]]) -> None:
    """For a writer that logged again after close(): its run is the same one, running
    until the writer closes again, then finished, holding `points` and `stored_texts`."""
    writer.flush()
    assert run_info(store_url, run_id)["status"] == "running"
    writer.close()
    assert writer.run.id == run_id
    assert series(store_url, run_id) == points
    assert run_info(store_url, run_id)["status"] == "finished"
    assert texts(store_url, run_id) == stored_texts
