"""Store: the query API every reader uses (CLI, dashboard, exporters).

Writes from training code never come through here; they go through the writer
(writer.py). Store only writes for administration: renaming, tagging, deleting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import URL, Connection, Engine
from trackboard.storage.db.driver_errors import store_errors
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import check_schema, check_sqlite_file
from trackboard.storage.db.urls import mask_url, resolve_url
from trackboard.storage.errors import (
    AmbiguousRunIdError,
    ReadOnlyStoreError,
    RunNotFoundError,
)
from trackboard.storage.gc_pause import gc_paused
from trackboard.storage.read import downsample
from trackboard.storage.rules import check_key

# A run still "running" whose writer has been silent this long is shown as crashed.
# Writers send a heartbeat at least every 10 s, so a minute leaves ample slack.
CRASH_AFTER_S = 60.0

_RUN_COLUMNS = ["id", "name", "project", "status", "framework", "host", "git_commit",
                "command", "notes", "created_at", "ended_at", "heartbeat_at", "duration"]


class Store:
    """A trackboard database.

    >>> store = Store("sqlite:///trackboard.db")               # doctest: +SKIP
    >>> store.runs(project="churn")                            # doctest: +SKIP
    >>> store.history([run_id], keys=["loss"], max_points=2000)  # doctest: +SKIP
    """

    def __init__(self, store: str | URL | None = None, *, read_only: bool = False,
                 crash_after: float = CRASH_AFTER_S, engine: Engine | None = None) -> None:
        self.url = resolve_url(store)
        self.read_only = read_only
        self.crash_after = crash_after
        # Driver errors (server down, not a database, no permission) leave as
        # trackboard's own errors with the password masked (storage/db/driver_errors.py).
        with store_errors(self.url):
            if engine is None:
                check_sqlite_file(self.url)  # before a connection could touch the file
            self.engine = engine or build_engine(self.url, read_only=read_only)
            try:
                check_schema(self.engine, create=not read_only)
            except BaseException:
                if engine is None:
                    self.engine.dispose()
                raise
        self._mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"

    @contextmanager
    def _connect(self, *, begin: bool = False) -> Iterator[Connection]:
        """A connection (in a transaction when `begin`); driver errors raised while it
        is used leave as trackboard's own (StoreUnavailableError, StoreRefusedError...)."""
        with store_errors(self.url), (self.engine.begin() if begin else
                                      self.engine.connect()) as conn:
            yield conn

    @property
    def display_url(self) -> str:
        """The URL with its password masked: the only form to print or show."""
        return mask_url(self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r}{', read_only=True' if self.read_only else ''})"

    # -- runs ----------------------------------------------------------------------

    def projects(self) -> list[str]:
        with self._connect() as conn:
            return list(conn.execute(text("SELECT name FROM projects ORDER BY name")).scalars())

    def resolve_run_id(self, run_id: str) -> str:
        """The full id of a run given its id or a unique prefix of it (at least 4 chars)."""
        if not isinstance(run_id, str) or not run_id:
            raise RunNotFoundError(f"no run with id {run_id!r}")
        with self._connect() as conn:
            if conn.execute(text("SELECT 1 FROM runs WHERE uid = :u"), {"u": run_id}).first():
                return run_id
            if len(run_id) < 4:
                raise RunNotFoundError(f"no run with id {run_id!r}")
            like = run_id.replace("\\", "").replace("%", "").replace("_", "") + "%"
            found = list(conn.execute(text("SELECT uid FROM runs WHERE uid LIKE :p LIMIT 2"),
                                      {"p": like}).scalars())
        if not found:
            raise RunNotFoundError(f"no run with id {run_id!r}; `trackboard runs` lists them")
        if len(found) > 1:
            raise AmbiguousRunIdError(f"run id prefix {run_id!r} matches several runs; "
                                      "give more characters")
        return found[0]

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
        from trackboard.storage.read.filters import filter_condition

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
            info["metrics"] = {row["key"]: {k: v for k, v in row.items() if k != "key"}
                               for row in conn.execute(text(
                "SELECT k.name AS key, s.count, s.first_step, s.last_step, s.last_value AS last, "
                "s.min_value AS min, s.min_step, s.max_value AS max, s.max_step "
                "FROM metric_summaries s JOIN metric_keys k ON k.id = s.key_id "
                "WHERE s.run_id = :r ORDER BY k.name"), {"r": rid}).mappings()}
        for summary in info["metrics"].values():
            for k in ("last", "min", "max"):
                summary[k] = float("nan") if summary[k] is None else float(summary[k])
        return info

    def keys(self, run_ids: Iterable[str] | None = None) -> list[str]:
        """Metric keys logged by these runs (all runs when None), sorted."""
        with self._connect() as conn:
            if run_ids is None:
                return list(conn.execute(text(
                    "SELECT DISTINCT k.name FROM metric_summaries s JOIN metric_keys k "
                    "ON k.id = s.key_id ORDER BY k.name")).scalars())
            uids = list(run_ids)
            if not uids:
                return []
            stmt = text("SELECT DISTINCT k.name FROM metric_summaries s JOIN metric_keys k ON "
                        "k.id = s.key_id JOIN runs r ON r.id = s.run_id WHERE r.uid IN :u "
                        "ORDER BY k.name").bindparams(bindparam("u", expanding=True))
            return list(conn.execute(stmt, {"u": uids}).scalars())

    # -- histories -----------------------------------------------------------------

    def history(self, run_ids: str | Sequence[str], keys: Sequence[str] | None = None,
                max_points: int | None = None, *,
                step_range: tuple[int | None, int | None] | None = None) -> pd.DataFrame:
        """Metric points as a long DataFrame: run_id, key, step, wall_time, value.

        With `max_points`, each (run, key) series returns at most that many points,
        chosen so every bucket's min and max survive (spikes stay visible).
        `step_range=(lo, hi)` limits the steps (inclusive; None for open ends), and
        a narrow enough range comes back at full resolution.
        """
        if isinstance(run_ids, str):
            run_ids = [run_ids]
        if max_points is not None and max_points < 2:
            raise ValueError("max_points must be at least 2 (each bucket keeps its min and max)")
        parts_step: list[np.ndarray] = []
        parts_wall: list[np.ndarray] = []
        parts_value: list[np.ndarray] = []
        labels: list[tuple[str, str, int]] = []
        with self._connect() as conn, gc_paused():
            series = self._series(conn, list(run_ids), keys)
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                for uid, key, s in series:
                    p = downsample.plan(s, max_points, step_range)
                    if p is None:
                        continue
                    st, wa, va = self._read_series(cur, s, p)
                    parts_step.append(st)
                    parts_wall.append(wa)
                    parts_value.append(va)
                    labels.append((uid, key, len(st)))
            finally:
                cur.close()
        if not labels:
            return pd.DataFrame({"run_id": pd.Series(dtype=object),
                                 "key": pd.Series(dtype=object),
                                 "step": pd.Series(dtype=np.int64),
                                 "wall_time": pd.Series(dtype=np.float64),
                                 "value": pd.Series(dtype=np.float64)})
        counts = [n for _, _, n in labels]
        return pd.DataFrame({
            "run_id": _label_column([u for u, _, _ in labels], counts),
            "key": _label_column([k for _, k, _ in labels], counts),
            "step": np.concatenate(parts_step).astype(np.int64),
            "wall_time": np.concatenate(parts_wall).astype(np.float64),
            "value": np.concatenate(parts_value).astype(np.float64),
        })

    def _series(self, conn: Connection, uids: list[str], keys: Sequence[str] | None
                ) -> list[tuple[str, str, downsample.Series]]:
        if not uids:
            return []
        sql = ("SELECT r.uid, k.name, s.run_id, s.key_id, s.count, s.first_step, s.last_step "
               "FROM metric_summaries s JOIN runs r ON r.id = s.run_id "
               "JOIN metric_keys k ON k.id = s.key_id WHERE r.uid IN :u")
        params: dict[str, Any] = {"u": uids}
        if keys is not None:
            sql += " AND k.name IN :k"
            params["k"] = list(keys) or [""]
        stmt = text(sql).bindparams(bindparam("u", expanding=True))
        if keys is not None:
            stmt = stmt.bindparams(bindparam("k", expanding=True))
        rows = conn.execute(stmt, params).all()
        order = {u: i for i, u in enumerate(uids)}
        key_order = {k: i for i, k in enumerate(keys)} if keys is not None else None
        rows.sort(key=lambda r: (order[r[0]], key_order[r[1]] if key_order else r[1]))
        return [(r[0], r[1], downsample.Series(r[2], r[3], r[4], r[5], r[6])) for r in rows]

    def _read_series(self, cur: Any, s: downsample.Series, p: downsample.Plan
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = self._mark
        if p.how == "level":
            shift = downsample.BUCKET_SHIFTS[p.level - 1]
            cur.execute("SELECT min_step, min_wall, min_value, max_step, max_wall, max_value "
                        f"FROM point_buckets WHERE run_id = {m} AND key_id = {m} AND level = {m} "
                        f"AND bucket BETWEEN {m} AND {m} ORDER BY bucket",
                        (s.run_id, s.key_id, p.level, p.lo >> shift, p.hi >> shift))
            return downsample.level_points(cur.fetchall(), p.lo, p.hi)
        cur.execute(f"SELECT step, wall_time, value FROM points WHERE run_id = {m} AND "
                    f"key_id = {m} AND step BETWEEN {m} AND {m} ORDER BY step",
                    (s.run_id, s.key_id, p.lo, p.hi))
        rows = cur.fetchall()
        # One flat float64 pass over the row tuples: the cheapest conversion measured
        # (bench/foundation.py, history_read). NULL (SQLite's NaN) becomes NaN; steps
        # are exact in float64 (at most 2**53 - 1, see loggers/values.py).
        flat = np.fromiter(chain.from_iterable(rows), np.float64, 3 * len(rows)).reshape(-1, 3)
        step, wall, value = flat[:, 0].astype(np.int64), flat[:, 1], flat[:, 2]
        if p.how == "reduce":
            return downsample.reduce_points(step, wall, value, p.lo, p.hi, p.buckets)
        return step, wall, value

    # -- administration ------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(f"{self.display_url} is open read-only")

    def rename_run(self, run_id: str, name: str) -> None:
        self._writable()
        check_key(name)
        uid = self.resolve_run_id(run_id)
        with self._connect(begin=True) as conn:
            conn.execute(text("UPDATE runs SET name = :n WHERE uid = :u"), {"n": name, "u": uid})

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._writable()
        uid = self.resolve_run_id(run_id)
        with self._connect(begin=True) as conn:
            rid = conn.execute(text("SELECT id FROM runs WHERE uid = :u"), {"u": uid}).scalar_one()
            for k, v in tags.items():
                conn.execute(text("INSERT INTO tags (run_id, key, value) VALUES (:r, :k, :v) "
                                  "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"),
                             {"r": rid, "k": str(k), "v": str(v)})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._writable()
        uid = self.resolve_run_id(run_id)
        with self._connect(begin=True) as conn:
            conn.execute(text("DELETE FROM tags WHERE key = :k AND run_id = "
                              "(SELECT id FROM runs WHERE uid = :u)"), {"k": key, "u": uid})

    def delete_run(self, run_id: str) -> None:
        """Remove a run and everything logged to it."""
        self._writable()
        uid = self.resolve_run_id(run_id)
        with self._connect(begin=True) as conn:
            rid = conn.execute(text("SELECT id FROM runs WHERE uid = :u"), {"u": uid}).scalar_one()
            for table in ("points", "point_buckets", "metric_summaries", "params", "tags"):
                conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": rid})
            conn.execute(text("DELETE FROM runs WHERE id = :r"), {"r": rid})

    def param_keys(self, run_ids: Iterable[str] | None = None) -> list[str]:
        """Param keys used by these runs (all runs when None), sorted."""
        with self._connect() as conn:
            if run_ids is None:
                return list(conn.execute(text(
                    "SELECT DISTINCT key FROM params ORDER BY key")).scalars())
            uids = list(run_ids)
            if not uids:
                return []
            stmt = text("SELECT DISTINCT p.key FROM params p JOIN runs r ON r.id = p.run_id "
                        "WHERE r.uid IN :u ORDER BY p.key").bindparams(
                bindparam("u", expanding=True))
            return list(conn.execute(stmt, {"u": uids}).scalars())



@contextmanager
def opened_store(store: str | URL | Store | None, *, read_only: bool = True) -> Iterator[Store]:
    """The Store to use for `store`: a Store is used as it is (and left open), a URL or
    None ($TRACKBOARD_STORE, else the default file) is opened here and closed after.
    Every exporter and importer takes its store this way.

    >>> with opened_store("sqlite://") as db:  # doctest: +SKIP
    ...     db.runs()
    """
    if isinstance(store, Store):
        yield store
        return
    db = Store(store, read_only=read_only)
    try:
        yield db
    finally:
        db.close()


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


def _label_column(labels: list[str], counts: list[int]) -> pd.Series:
    """Each label repeated for its series' points, as an object column (as in the
    empty frame): inferring pandas' string dtype would copy every repeated label
    into Arrow, a fifth of a 100k-point read."""
    return pd.Series(np.repeat(np.array(labels, dtype=object), counts), dtype=object, copy=False)
