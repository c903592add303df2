"""A run written the way trackboard before chunked points (schema 0001-0004) stored
it: rows in the `points` table, a summary per key. Today's writer no longer writes
that layout, so the migration tests put it in by SQL."""

from __future__ import annotations

import json
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine


def write_old_run(engine: Engine, uid: str, project: str, name: str,
                  points: dict[str, list[tuple[int, float]]],
                  params: dict[str, object] | None = None) -> None:
    now = time.time()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (name, created_at) VALUES (:n, :t) "
                          "ON CONFLICT (name) DO NOTHING"), {"n": project, "t": now})
        pid = conn.execute(text("SELECT id FROM projects WHERE name = :n"),
                           {"n": project}).scalar_one()
        conn.execute(text("INSERT INTO runs (uid, project_id, name, status, created_at, "
                          "ended_at, heartbeat_at) VALUES (:u, :p, :n, 'finished', :t, :t, :t)"),
                     {"u": uid, "p": pid, "n": name, "t": now})
        rid = conn.execute(text("SELECT id FROM runs WHERE uid = :u"), {"u": uid}).scalar_one()
        for key, pts in points.items():
            conn.execute(text("INSERT INTO metric_keys (name) VALUES (:n) "
                              "ON CONFLICT (name) DO NOTHING"), {"n": key})
            kid = conn.execute(text("SELECT id FROM metric_keys WHERE name = :n"),
                               {"n": key}).scalar_one()
            conn.execute(text("INSERT INTO points (run_id, key_id, step, wall_time, value) "
                              "VALUES (:r, :k, :s, :w, :v)"),
                         [{"r": rid, "k": kid, "s": s, "w": now, "v": v} for s, v in pts])
            lo = min(pts, key=lambda p: (p[1], p[0]))
            hi = min(pts, key=lambda p: (-p[1], p[0]))
            conn.execute(text(
                "INSERT INTO metric_summaries (run_id, key_id, count, first_step, last_step, "
                "last_wall, last_value, min_step, min_value, max_step, max_value) VALUES "
                "(:r, :k, :c, :f, :l, :w, :lv, :ms, :mv, :xs, :xv)"),
                {"r": rid, "k": kid, "c": len(pts), "f": pts[0][0], "l": pts[-1][0], "w": now,
                 "lv": pts[-1][1], "ms": lo[0], "mv": lo[1], "xs": hi[0], "xv": hi[1]})
        for key, value in (params or {}).items():
            conn.execute(text("INSERT INTO params (run_id, key, value) VALUES (:r, :k, :v)"),
                         {"r": rid, "k": key, "v": json.dumps(value)})
