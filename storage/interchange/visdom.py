"""Push runs to a Visdom server: one window per metric key, one trace per run.

Window ids are derived from the key ("tb-<key>-<hash>"), so exporting again
replaces each window instead of adding a new one; the legend shows run names.
Params go to one text window. Histograms and images get one window per key and run,
with a step slider (visdom_media.py). With `follow=True` the store is polled and new
points of running runs are appended until none of the selected runs is running.

>>> export_visdom("sqlite:///trackboard.db", port=8097, project="churn")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from trackboard.storage.errors import VisdomUnavailableError
from trackboard.storage.extras import require
from trackboard.storage.interchange.selection import run_labels, select_runs
from trackboard.storage.read.store import Store, opened_store

PARAMS_WINDOW = "tb-params"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class VisdomResult:
    """What an export sent: windows (metric key -> window id), traces and points, and
    the media windows ((kind, key, run id) -> window id) with the steps they hold."""

    url: str
    env: str
    windows: dict[str, str] = field(default_factory=dict)
    traces: int = 0
    points: int = 0
    appended: int = 0
    media_windows: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def summary(self) -> str:
        media = ""
        if self.media_windows:
            kinds = [k for k, _, _ in self.media_windows]
            media = (f", {kinds.count('histogram')} histogram and {kinds.count('image')} "
                     "image window(s)")
        text = (f"sent {self.traces} trace(s), {self.points:,} points in {len(self.windows)} "
                f"window(s){media} to {self.url} env {self.env!r}")
        if self.appended:
            text += f"; followed {self.appended:,} new points"
        return text


def window_id(key: str) -> str:
    """The Visdom window id of a metric key: readable, stable, and unique per key.

    >>> window_id("val/loss")
    'tb-val_loss-0ba428'
    """
    digest = hashlib.sha1(key.encode()).hexdigest()[:6]
    return f"tb-{_UNSAFE.sub('_', key)[:60]}-{digest}"


def connect(server: str = "http://127.0.0.1", port: int = 8097, env: str = "main") -> Any:
    """A Visdom client for a server that answers, else VisdomUnavailableError."""
    visdom = require("visdom", "visdom")
    url = f"{server.rstrip('/')}:{port}"
    try:
        vis = visdom.Visdom(server=server, port=port, env=env, raise_exceptions=True,
                            use_incoming_socket=False)
        ok = vis.check_connection()
    except Exception as exc:  # requests' ConnectionError and friends, from visdom's client
        raise VisdomUnavailableError(_unreachable(url, exc)) from None
    if not ok:
        raise VisdomUnavailableError(_unreachable(url, None))
    return vis


def export_visdom(store: Store | str | None, *, server: str = "http://127.0.0.1",
                  port: int = 8097, env: str | None = None,
                  run_ids: Sequence[str] | None = None, project: str | None = None,
                  follow: bool = False, poll_interval: float = 2.0,
                  max_points: int | None = 10_000, max_media_steps: int | None = 50,
                  echo: Callable[[str], None] | None = None) -> VisdomResult:
    """Send the selected runs to Visdom; with `follow`, keep appending (points) until
    they finish. `max_media_steps`: steps per histogram or image window (None: all)."""
    if poll_interval <= 0:
        raise ValueError("poll_interval must be positive (seconds between store polls)")
    if max_points is not None and max_points < 2:
        raise ValueError("max_points must be at least 2, or None for every point")
    if max_media_steps is not None and max_media_steps < 1:
        raise ValueError("max_media_steps must be at least 1, or None for every step")
    env = env or "main"
    vis = connect(server, port, env)
    with opened_store(store) as db:
        runs = select_runs(db, run_ids, project)
        ids = list(runs["id"])
        labels = run_labels(runs)
        result = VisdomResult(f"{server.rstrip('/')}:{port}", env)
        hist = db.history(ids, max_points=max_points)
        last: dict[tuple[str, str], int] = {}
        for key, part in hist.groupby("key", sort=True):
            win = window_id(str(key))
            result.windows[str(key)] = win
            first = True
            for rid in ids:
                series = part[part["run_id"] == rid]
                if series.empty:
                    continue
                sent = _send(vis, win, str(key), labels[rid], series, replace=first)
                first = False
                result.traces += 1
                result.points += sent
                last[(rid, str(key))] = int(series["step"].max())
        _send_params(vis, db, ids, labels)
        _send_media(vis, db, ids, labels, max_media_steps, result)
        if follow:
            result.appended = _follow(vis, db, ids, labels, last, result.windows,
                                      poll_interval, echo or (lambda _m: None))
    return result


def _send(vis: Any, win: str, key: str, label: str, series: pd.DataFrame, *,
          replace: bool) -> int:
    """One run's points of one key as a trace; `replace` starts the window afresh."""
    step = series["step"].to_numpy(np.float64)
    value = series["value"].to_numpy(np.float64)
    finite = np.isfinite(value)  # JSON (and Plotly) carry no NaN or infinities
    step, value = step[finite], value[finite]
    if not len(step):
        return 0
    opts = {"title": key, "xlabel": "step", "ylabel": key, "showlegend": True}
    vis.line(Y=value, X=step, win=win, name=label, opts=opts,
             update=None if replace else "append")
    return len(step)


def _send_params(vis: Any, db: Store, ids: list[str], labels: dict[str, str]) -> None:
    params = {rid: db.run(rid)["params"] for rid in ids}
    keys = sorted({k for p in params.values() for k in p})
    head = "".join(f"<th>{html.escape(labels[r])}</th>" for r in ids)
    rows = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td>"
        + "".join(f"<td>{html.escape(_param_text(params[r].get(k, '')))}</td>" for r in ids)
        + "</tr>" for k in keys)
    body = f"<table><tr><th>param</th>{head}</tr>{rows}</table>" if keys else "<p>no params</p>"
    vis.text(body, win=PARAMS_WINDOW, opts={"title": "params"})


def _send_media(vis: Any, db: Store, ids: list[str], labels: dict[str, str],
                max_steps: int | None, result: VisdomResult) -> None:
    from trackboard.storage.interchange.visdom_media import send_histograms, send_images

    for rid in ids:
        series = db.media_keys(rid)
        for kind, key in zip(series["kind"], series["key"]):
            if kind == "histogram":
                win = send_histograms(vis, db, rid, labels[rid], key, max_steps)
            elif kind == "image":
                win, _ = send_images(vis, db, rid, labels[rid], key, max_steps)
            else:
                continue
            result.media_windows[(kind, key, rid)] = win


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _follow(vis: Any, db: Store, ids: list[str], labels: dict[str, str],
            last: dict[tuple[str, str], int], windows: dict[str, str],
            poll_interval: float, echo: Callable[[str], None]) -> int:
    """Append new points of running runs until none of them is running."""
    appended = 0
    watching = set(_running(db, ids))
    if watching:
        echo(f"following {len(watching)} running run(s); Ctrl-C stops")
    while watching:
        time.sleep(poll_interval)
        still = set(_running(db, list(watching)))
        # Read after the status check: a run seen as finished has all its points stored.
        hist = db.history(sorted(watching), step_range=(_low(db, last, watching), None))
        for (rid, key), part in hist.groupby(["run_id", "key"], sort=True):
            part = part[part["step"] > last.get((rid, key), -1)]
            if part.empty:
                continue
            win = windows.get(key)
            if win is None:
                win = windows[key] = window_id(key)
            appended += _send(vis, win, key, labels[rid], part, replace=False)
            last[(rid, key)] = int(part["step"].max())
        for rid in watching - still:
            echo(f"run {labels[rid]} is no longer running")
        watching = still
    return appended


def _running(db: Store, ids: list[str]) -> list[str]:
    frame = db.runs(run_ids=ids, params=False, tags=False, metrics=False)
    return list(frame.loc[frame["status"] == "running", "id"])


def _low(db: Store, last: dict[tuple[str, str], int], runs: set[str]) -> int:
    """The lowest step any watched series may still be missing (0 when a key is new)."""
    for rid in runs:
        if any((rid, key) not in last for key in db.keys([rid])):
            return 0
    return min(s for (rid, _), s in last.items() if rid in runs) + 1


def _unreachable(url: str, exc: BaseException | None) -> str:
    why = f" ({type(exc).__name__})" if exc is not None else ""
    return (f"cannot reach the Visdom server at {url}{why}; start one with "
            "`python -m visdom.server` (or pass --server/--port)")
