"""Run queries of Store: projects, the runs table, one run, metric and param keys.

The runs table is the dashboard's Runs page and the CLI's `runs`: one row per run
with its params, tags and metric summaries pivoted into columns. Its hot parts read
through the driver's cursor and pivot with numpy (bench/dashboard.py, runs page).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Connection
from trackboard.storage.gc_pause import gc_paused
from trackboard.storage.read.store_base import StoreBase, query_text

_RUN_COLUMNS = ["id", "name", "project", "status", "framework", "host", "git_commit",
                "command", "notes", "created_at", "ended_at", "heartbeat_at", "duration"]


class RunQueries(StoreBase):
    """The run-level reads of Store (see Store for the whole API)."""

    def projects(self) -> list[str]:
        with self._connect() as conn:
            return list(conn.execute(text("SELECT name FROM projects ORDER BY name")).scalars())

    def runs(self, project: str | None = None, *, run_ids: Sequence[str] | None = None,
             params: bool = True, tags: bool = True, metrics: bool = True,
             filter: str | None = None, param_keys: Sequence[str] | None = None,
             metric_keys: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per run, newest first.

        Columns: id, name, project, status ("crashed" when a running run stopped
        sending heartbeats), framework, host, git_commit, command, notes,
        created_at, ended_at, heartbeat_at (UTC timestamps), duration (s); then
        `params.<key>`, `tags.<key>` and `metrics.<key>.last|min|max` columns.

        `filter` is the runs filter language (storage/read/filters.py), e.g.
        ``'framework = "keras" and params.lr < 0.01 and val_loss.min < 0.3'``;
        a bad one raises FilterError (a ValueError). `param_keys` / `metric_keys`
        limit the params and metrics fetched (the runs table of a big store shows
        a few columns; reading every param of 10,000 runs is most of the cost).
        """
        from trackboard.storage.db import schema
        from trackboard.storage.read.filter_sql import filter_condition

        if project is not None:
            query_text([project], "project")
        for what, values in (("run id", run_ids), ("param key", param_keys),
                             ("metric key", metric_keys)):
            query_text(values or (), what)
        r, p = schema.runs, schema.projects
        stmt = select(r.c.id.label("rid"), r.c.uid.label("id"), r.c.name,
                      p.c.name.label("project"), r.c.status, r.c.framework, r.c.host,
                      r.c.git_commit, r.c.command, r.c.notes, r.c.created_at, r.c.ended_at,
                      r.c.heartbeat_at).select_from(r.join(p, p.c.id == r.c.project_id))
        narrowed = False
        if project is not None:
            stmt = stmt.where(p.c.name == project)
            narrowed = True
        if run_ids is not None:
            stmt = stmt.where(r.c.uid.in_(list(run_ids)))
            narrowed = True
        if filter is not None and filter.strip():
            stmt = stmt.where(filter_condition(filter, crash_after=self.crash_after))
            narrowed = True
        stmt = stmt.order_by(r.c.created_at.desc(), r.c.id.desc())
        with self._connect() as conn, gc_paused():
            # One fetchall, then plain tuples: pandas probes Row objects attribute by
            # attribute (slow), and iterating the result fetches row by row.
            base = pd.DataFrame([tuple(row) for row in conn.execute(stmt).all()],
                                columns=["rid", *_RUN_COLUMNS[:-1]])
            rids = base["rid"].tolist()
            # Without a narrowing condition every run is wanted: read the side tables
            # whole instead of through thousands of bound ids.
            scope = rids if narrowed else None
            extra: list[pd.DataFrame] = []
            if rids and params:
                extra.append(self._pivot_kv(conn, "params", scope, decode=True,
                                            keys=param_keys))
            if rids and tags:
                extra.append(self._pivot_kv(conn, "tags", scope, decode=False))
            if rids and metrics:
                extra.append(self._metric_columns(conn, scope, keys=metric_keys))
        now = time.time()
        crashed = (base["status"] == "running") & (
            base["heartbeat_at"].fillna(base["created_at"]) < now - self.crash_after)
        base.loc[crashed, "status"] = "crashed"
        end = base["ended_at"].where(base["ended_at"].notna(),
                                     base["heartbeat_at"].where(crashed, now))
        base["duration"] = (end - base["created_at"]).clip(lower=0)
        for col in ("created_at", "ended_at", "heartbeat_at"):
            base[col] = pd.to_datetime(base[col], unit="s", utc=True)
        out = base.set_index("rid")
        extra = [f for f in extra if len(f.columns)]
        if extra:
            out = out.join(extra if len(extra) > 1 else extra[0])
        return out.reset_index(drop=True)

    def _kv_rows(self, conn: Connection, sql: str, rids: list[int] | None,
                 keys: Sequence[str] | None, key_col: str) -> list[tuple]:
        args: list[Any] = []
        if keys is not None:
            if not keys:
                return []
            sql += f" WHERE {key_col} IN (" + ",".join([self._mark] * len(keys)) + ")"
            args = list(keys)
        if rids is None:
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute(sql, args)
                return cur.fetchall()
            finally:
                cur.close()
        sql += (" AND " if keys is not None else " WHERE ") + "run_id IN "
        return self._select_in(conn, sql, rids, args)

    def _pivot_kv(self, conn: Connection, table: str, rids: list[int] | None, *,
                  decode: bool, keys: Sequence[str] | None = None) -> pd.DataFrame:
        rows = self._kv_rows(conn, f"SELECT run_id, key, value FROM {table}", rids, keys, "key")
        prefix = f"{table}."
        if not rows:
            return pd.DataFrame(index=pd.Index([], name="rid"))
        rid_col, key_col, val_col = zip(*rows)
        if decode:
            memo = _decode_params(val_col)
            values = [memo[v] for v in val_col]
        else:
            values = list(val_col)
        # Pivot by hand: pandas' pivot costs more than the query on big stores.
        run_index, run_pos = np.unique(np.array(rid_col, np.int64), return_inverse=True)
        key_names = sorted(set(key_col))
        key_pos = {k: i for i, k in enumerate(key_names)}
        grid = np.full((len(key_names), len(run_index)), None, dtype=object)
        kp = np.fromiter((key_pos[k] for k in key_col), np.int64, len(key_col))
        vals = np.empty(len(values), dtype=object)
        vals[:] = values
        grid[kp, run_pos] = vals
        return pd.DataFrame({prefix + k: grid[i] for i, k in enumerate(key_names)},
                            index=pd.Index(run_index, name="rid"))

    def _metric_columns(self, conn: Connection, rids: list[int] | None, *,
                        keys: Sequence[str] | None = None) -> pd.DataFrame:
        names = dict(conn.execute(text("SELECT id, name FROM metric_keys")).all())
        key_ids = None if keys is None else [i for i, n in names.items() if n in set(keys)]
        rows = self._kv_rows(conn, "SELECT run_id, key_id, last_value, min_value, max_value "
                             "FROM metric_summaries", rids, key_ids, "key_id")
        if not rows:
            return pd.DataFrame(index=pd.Index([], name="rid"))
        arr = np.array(rows, dtype=np.float64)  # NULL (NaN on SQLite) -> NaN
        run_index, run_pos = np.unique(arr[:, 0].astype(np.int64), return_inverse=True)
        kids, key_pos = np.unique(arr[:, 1].astype(np.int64), return_inverse=True)
        grid = np.full((len(kids), 3, len(run_index)), np.nan)
        for j in range(3):
            grid[key_pos, j, run_pos] = arr[:, 2 + j]
        order = sorted(range(len(kids)), key=lambda i: names[int(kids[i])])
        cols = {}
        for i in order:
            for j, stat in enumerate(("last", "min", "max")):
                cols[f"metrics.{names[int(kids[i])]}.{stat}"] = grid[i, j]
        return pd.DataFrame(cols, index=pd.Index(run_index, name="rid"))

    def _select_in(self, conn: Connection, sql: str, ids: list[int],
                   args: Sequence[Any] = ()) -> list[tuple]:
        """Run `sql` + "(?, ?, ...)" in chunks below the drivers' parameter limits."""
        out: list[tuple] = []
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for i in range(0, len(ids), 900):
                chunk = ids[i:i + 900]
                cur.execute(sql + "(" + ",".join([self._mark] * len(chunk)) + ")",
                            [*args, *chunk])
                out.extend(cur.fetchall())
        finally:
            cur.close()
        return out

    def run(self, run_id: str) -> dict[str, Any]:
        """Everything about one run: its fields, params, tags and metric summaries."""
        uid = self.resolve_run_id(run_id)
        frame = self.runs(run_ids=[uid], params=False, tags=False, metrics=False)
        info = frame.iloc[0].to_dict()
        with self._connect() as conn:
            rid = conn.execute(text("SELECT id FROM runs WHERE uid = :u"), {"u": uid}).scalar_one()
            info["params"] = {k: _decode_param(v) for k, v in conn.execute(
                text("SELECT key, value FROM params WHERE run_id = :r ORDER BY key"), {"r": rid})}
            info["tags"] = dict(conn.execute(
                text("SELECT key, value FROM tags WHERE run_id = :r ORDER BY key"), {"r": rid}).all())
        info["metrics"] = self.metric_summaries([uid]).get(uid, {})
        return info

    def metric_summaries(self, run_ids: Sequence[str], keys: Sequence[str] | None = None
                         ) -> dict[str, dict[str, dict[str, Any]]]:
        """Run id -> metric key -> its summary, as in `run()["metrics"]` (count,
        first_step, last_step, last, min, min_step, max, max_step), for many runs in one
        query per 900 runs: Compare's summary table at 500 runs made 500 `run()` calls
        (2.7 s). Runs without metrics, or unknown ids, are left out."""
        sql = ("SELECT r.uid, k.name, s.count, s.first_step, s.last_step, s.last_value, "
               "s.min_value, s.min_step, s.max_value, s.max_step FROM metric_summaries s "
               "JOIN metric_keys k ON k.id = s.key_id JOIN runs r ON r.id = s.run_id "
               "WHERE r.uid IN :u")
        if keys is not None:
            sql += " AND k.name IN :k"
        stmt = text(sql + " ORDER BY r.uid, k.name").bindparams(
            *[bindparam(n, expanding=True) for n in ("u", "k")[:1 + (keys is not None)]])
        uids = list(dict.fromkeys(run_ids))
        query_text(uids, "run id")
        query_text(keys or (), "metric key")
        if keys is not None and not keys:
            return {}
        out: dict[str, dict[str, dict[str, Any]]] = {}
        with self._connect() as conn:
            for i in range(0, len(uids), 900):  # below the drivers' parameter limits
                args: dict[str, Any] = {"u": uids[i:i + 900]}
                if keys is not None:
                    args["k"] = list(keys)
                for uid, key, count, first, last_step, last, lo, lo_step, hi, hi_step in (
                        conn.execute(stmt, args)):
                    out.setdefault(uid, {})[key] = {
                        "count": count, "first_step": first, "last_step": last_step,
                        "last": _float(last), "min": _float(lo), "min_step": lo_step,
                        "max": _float(hi), "max_step": hi_step}
        return out

    def keys(self, run_ids: Iterable[str] | None = None) -> list[str]:
        """Metric keys logged by these runs (all runs when None), sorted."""
        with self._connect() as conn:
            if run_ids is None:
                return list(conn.execute(text(
                    "SELECT DISTINCT k.name FROM metric_summaries s JOIN metric_keys k "
                    "ON k.id = s.key_id ORDER BY k.name")).scalars())
            uids = list(run_ids)
            query_text(uids, "run id")
            if not uids:
                return []
            stmt = text("SELECT DISTINCT k.name FROM metric_summaries s JOIN metric_keys k ON "
                        "k.id = s.key_id JOIN runs r ON r.id = s.run_id WHERE r.uid IN :u "
                        "ORDER BY k.name").bindparams(bindparam("u", expanding=True))
            return list(conn.execute(stmt, {"u": uids}).scalars())

    def param_keys(self, run_ids: Iterable[str] | None = None) -> list[str]:
        """Param keys used by these runs (all runs when None), sorted."""
        with self._connect() as conn:
            if run_ids is None:
                return list(conn.execute(text(
                    "SELECT DISTINCT key FROM params ORDER BY key")).scalars())
            uids = list(run_ids)
            query_text(uids, "run id")
            if not uids:
                return []
            stmt = text("SELECT DISTINCT p.key FROM params p JOIN runs r ON r.id = p.run_id "
                        "WHERE r.uid IN :u ORDER BY p.key").bindparams(
                bindparam("u", expanding=True))
            return list(conn.execute(stmt, {"u": uids}).scalars())


def _decode_params(texts: Sequence[str]) -> dict[str, Any]:
    """Decoded value of each distinct JSON text, parsed in one json.loads call
    (one C-level parse instead of a Python-level call per value)."""
    distinct = list(dict.fromkeys(texts))
    try:
        decoded = json.loads("[" + ",".join(distinct) + "]")
        if len(decoded) != len(distinct):   # a text such as "1, 2" split in two
            raise ValueError("misaligned")
    except (TypeError, ValueError):
        decoded = [_decode_param(v) for v in distinct]
    return dict(zip(distinct, decoded))


def _decode_param(text_value: str) -> Any:
    try:
        return json.loads(text_value)
    except (TypeError, ValueError):
        return text_value


def _float(value: Any) -> float:
    """A stored summary value as a float; NULL (a run of only NaNs) as NaN."""
    return float("nan") if value is None else float(value)
