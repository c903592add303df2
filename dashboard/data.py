"""Cached reads for the dashboard pages (the only module that talks to the Store).

The store comes from $TRACKBOARD_UI_STORE (set by `trackboard ui`), else
$TRACKBOARD_STORE, else ./trackboard.db; $TRACKBOARD_UI_READ_ONLY=1 opens it
read-only. Cached functions take plain arguments (url, ids, keys) so Streamlit
can hash them; the engine lives in st.cache_resource and is never mutated.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st
from trackboard.storage import AmbiguousRunIdError, RunNotFoundError, Store
from trackboard.storage.db.urls import resolve_url

STORE_ENV = "TRACKBOARD_UI_STORE"
READ_ONLY_ENV = "TRACKBOARD_UI_READ_ONLY"
MAX_POINTS = 1000


@dataclass(frozen=True)
class Source:
    url: str
    read_only: bool


def source() -> Source:
    url = os.environ.get(STORE_ENV) or resolve_url(None)
    return Source(url, os.environ.get(READ_ONLY_ENV, "") in ("1", "true", "yes"))


@st.cache_resource(show_spinner=False)
def store(url: str, read_only: bool) -> Store:
    return Store(url, read_only=read_only)


def current_store() -> Store:
    src = source()
    return store(src.url, src.read_only)


@st.cache_data(ttl=5, show_spinner=False)
def runs(url: str, read_only: bool, filter_text: str = "",
         param_keys: tuple[str, ...] | None = None,
         metric_keys: tuple[str, ...] | None = None) -> pd.DataFrame:
    return store(url, read_only).runs(
        filter=filter_text or None,
        param_keys=None if param_keys is None else list(param_keys),
        metric_keys=None if metric_keys is None else list(metric_keys))


@st.cache_data(ttl=30, show_spinner=False)
def param_keys(url: str, read_only: bool) -> list[str]:
    return store(url, read_only).param_keys()


@st.cache_data(ttl=30, show_spinner=False)
def all_keys(url: str, read_only: bool, run_ids: tuple[str, ...] | None = None) -> list[str]:
    return store(url, read_only).keys(None if run_ids is None else list(run_ids))


@st.cache_data(ttl=5, show_spinner=False)
def run_info(url: str, read_only: bool, run_id: str) -> dict[str, Any]:
    return store(url, read_only).run(run_id)


@st.cache_data(ttl=5, show_spinner=False)
def run_list(url: str, read_only: bool) -> pd.DataFrame:
    """Every run's fields (id, name, project, status...; no params, tags or metrics)."""
    return store(url, read_only).runs(params=False, tags=False, metrics=False)


@st.cache_data(ttl=5, show_spinner=False)
def resolve_runs(url: str, read_only: bool, given: tuple[str, ...]
                 ) -> tuple[list[str], list[str]]:
    """The full ids of `given` (ids or unique prefixes, as a link may carry them), in
    order and once each, and one line for each that names no run or several."""
    db = store(url, read_only)
    exact = db.known_run_ids(given)
    found: list[str] = []
    problems: list[str] = []
    for rid in given:
        try:
            full = rid if rid in exact else db.resolve_run_id(rid)
        except (RunNotFoundError, AmbiguousRunIdError) as exc:
            problems.append(str(exc))
            continue
        if full not in found:
            found.append(full)
    return found, problems


@st.cache_data(ttl=5, show_spinner=False)
def runs_info(url: str, read_only: bool, run_ids: tuple[str, ...]) -> pd.DataFrame:
    """The selected runs' rows (names, status, params, tags; no metrics)."""
    if not run_ids:
        return pd.DataFrame()
    return store(url, read_only).runs(run_ids=list(run_ids), metrics=False)


@st.cache_data(ttl=600, show_spinner=False, max_entries=64)
def history(url: str, read_only: bool, run_ids: tuple[str, ...], keys: tuple[str, ...],
            max_points: int | None = MAX_POINTS,
            step_range: tuple[int | None, int | None] | None = None,
            generation: int = 0) -> pd.DataFrame:
    """Downsampled histories, one row per stretch of steps with its low and high
    (Store.history's envelope). `generation` lets live pages force a fresh read."""
    del generation
    return store(url, read_only).history(list(run_ids), list(keys), max_points,
                                         step_range=step_range, envelope=True)


def history_tail(run_ids: Sequence[str], keys: Sequence[str], after: int) -> pd.DataFrame:
    """Points after step `after` (uncached: the live view polls it)."""
    return current_store().history(list(run_ids), list(keys), None,
                                   step_range=(after + 1, None), envelope=True)


def resolve_metrics(patterns: Sequence[str], available: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Chart list from metric choices: names, globs ("val_*") and aliases ("a|b").

    A choice that is the name of a key is always that key, whatever it holds
    (`acc[0]`, `f1[*]`, `a|b`); otherwise `|` makes an alias (one chart for several
    differently named keys) and `*`, `?` and `[...]` a glob (one chart per matching
    key). Returns (chart title, keys it draws) in order.

    >>> resolve_metrics(["val_loss|eval_loss", "acc*"], ["acc", "accuracy", "eval_loss", "loss"])
    [('val_loss|eval_loss', ['val_loss', 'eval_loss']), ('acc', ['acc']), ('accuracy', ['accuracy'])]
    >>> resolve_metrics(["acc[0]", "f1[*]", "loss[t*"], ["acc[0]", "f1[*]", "f1x", "loss[train]"])
    [('acc[0]', ['acc[0]']), ('f1[*]', ['f1[*]']), ('loss[train]', ['loss[train]'])]
    """
    out: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    keys = set(available)
    for pat in patterns:
        pat = pat.strip()
        if not pat:
            continue
        if pat in keys:
            if pat not in seen:
                out.append((pat, [pat]))
                seen.add(pat)
        elif "|" in pat:
            names = [p.strip() for p in pat.split("|") if p.strip()]
            if pat not in seen:
                out.append((pat, names))
                seen.add(pat)
        elif any(c in pat for c in "*?["):
            for key in available:
                if fnmatch.fnmatchcase(key, pat) and key not in seen:
                    out.append((key, [key]))
                    seen.add(key)
        elif pat not in seen:
            out.append((pat, [pat]))
            seen.add(pat)
    return out


def merge_aliases(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Rows of the keys `names`, one series per run: a run with several of the
    keys keeps the first in `names` (val_loss before eval_loss)."""
    part = frame[frame["key"].isin(list(names))]
    if part.empty or len(names) == 1:
        return part
    rank = {n: i for i, n in enumerate(names)}
    best = part.groupby("run_id")["key"].agg(lambda ks: min(ks, key=rank.__getitem__))
    return part[part["key"] == part["run_id"].map(best)]


@st.cache_data(ttl=5, show_spinner=False)
def summaries_by_run(url: str, read_only: bool, run_ids: tuple[str, ...],
                     keys: tuple[str, ...]) -> dict[str, dict[str, dict[str, Any]]]:
    """Run id -> metric key -> count, last, min, max and their steps, in one query
    (Compare's summary table; a Store.run per run took 2.7 s at 500 runs)."""
    return store(url, read_only).metric_summaries(list(run_ids), list(keys))


@st.cache_data(ttl=5, show_spinner=False)
def metric_summaries(url: str, read_only: bool, run_ids: tuple[str, ...],
                     keys: tuple[str, ...]) -> pd.DataFrame:
    """id plus `metrics.<key>.last|min|max` of these runs, in one query (the
    hyperparameter view at 500 runs; one Store.run per run would be 500 queries)."""
    if not run_ids or not keys:
        return pd.DataFrame({"id": list(run_ids)})
    frame = store(url, read_only).runs(run_ids=list(run_ids), params=False, tags=False,
                                       metric_keys=list(keys))
    return frame[["id", *[c for c in frame.columns if c.startswith("metrics.")]]]


# Param usage is estimated from the newest runs: reading every param of 10,000 runs
# is most of the Runs page's cost (see Store.runs); a few hundred tell the same story.
USAGE_SAMPLE = 200


# Usage changes slowly and only picks the first columns: cached for all sessions a while.
@st.cache_data(ttl=300, show_spinner=False)
def param_usage(url: str, read_only: bool) -> dict[str, float]:
    """Param key -> share of the newest runs that have it (0..1); see `usage_of`."""
    return usage_of(store(url, read_only))


def usage_of(db: Store, sample: int = USAGE_SAMPLE) -> dict[str, float]:
    """Param key -> share of the newest `sample` runs of `db` that have it (0..1)."""
    newest = db.runs(params=False, tags=False, metrics=False)["id"].head(sample).tolist()
    if not newest:
        return {}
    frame = db.runs(run_ids=newest, tags=False, metrics=False)
    cols = [c for c in frame.columns if c.startswith("params.")]
    return {c.removeprefix("params."): float(v) for c, v in frame[cols].notna().mean().items()}


# -- media (histograms, distributions, images, texts; docs/media.md) -------------------
# A Distributions chart reads at most this many histograms per run, evenly spread with
# the first and last kept (a run logging every step for 100,000 steps stays quick).
DISTRIBUTION_STEPS = 1000


@st.cache_data(ttl=5, show_spinner=False)
def media_keys(url: str, read_only: bool, run_ids: tuple[str, ...]) -> pd.DataFrame:
    """run_id, kind, key, count, first_step, last_step of these runs' media."""
    return store(url, read_only).media_keys(list(run_ids))


@st.cache_data(ttl=5, show_spinner=False, max_entries=64)
def distributions(url: str, read_only: bool, run_ids: tuple[str, ...], key: str
                  ) -> pd.DataFrame:
    return store(url, read_only).distributions(list(run_ids), [key],
                                               max_steps=DISTRIBUTION_STEPS)


@st.cache_data(ttl=5, show_spinner=False, max_entries=64)
def histograms(url: str, read_only: bool, run_ids: tuple[str, ...], key: str,
               max_steps: int) -> pd.DataFrame:
    """At most `max_steps` histograms of `key` per run, evenly spread (a ridge chart)."""
    return store(url, read_only).histograms(list(run_ids), [key], max_steps=max_steps)


@st.cache_data(ttl=5, show_spinner=False, max_entries=128)
def media_steps(url: str, read_only: bool, run_ids: tuple[str, ...], key: str,
                kind: str) -> dict[str, list[int]]:
    """Run id -> the steps it logged `key` (of `kind`) at, ascending."""
    frame = store(url, read_only).media_steps(list(run_ids), key, kind)
    return {rid: part["step"].tolist() for rid, part in frame.groupby("run_id", sort=False)}


@st.cache_data(ttl=5, show_spinner=False, max_entries=256)
def histograms_at(url: str, read_only: bool, picks: tuple[tuple[str, int], ...],
                  key: str) -> pd.DataFrame:
    """The histogram of `key` of each (run id, step) in `picks`."""
    db = store(url, read_only)
    parts = [db.histograms(rid, [key], steps=[step]) for rid, step in picks]
    return pd.concat(parts, ignore_index=True) if parts else db.histograms([], [key])


@st.cache_data(ttl=5, show_spinner=False, max_entries=256)
def images_at(url: str, read_only: bool, picks: tuple[tuple[str, int], ...],
              key: str) -> pd.DataFrame:
    """The images (strips in order) of `key` of each (run id, step) in `picks`."""
    db = store(url, read_only)
    parts = [db.images(rid, [key], steps=[step]) for rid, step in picks]
    return pd.concat(parts, ignore_index=True) if parts else db.images([], [key])


# Keyed by content hash, so an entry never goes stale; bounded, images are big.
@st.cache_data(ttl=3600, show_spinner=False, max_entries=512)
def image_file(url: str, read_only: bool, hash_: str) -> bytes | None:
    """The stored file of an image hash (None when no image has it)."""
    return store(url, read_only).image_bytes(hash_)


@st.cache_data(ttl=5, show_spinner=False, max_entries=32)
def texts(url: str, read_only: bool, run_ids: tuple[str, ...],
          keys: tuple[str, ...]) -> pd.DataFrame:
    return store(url, read_only).texts(list(run_ids), list(keys))
