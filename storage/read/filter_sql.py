"""The runs filter language's SQL: a syntax tree -> a SQLAlchemy Core condition.

Built from Core constructs only: every value AND every key (param, tag, metric
names) the user typed travels as a bound parameter, so no user text can ever
become SQL text. Params are JSON text, compared as numbers through json_number
on both backends.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Float,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Float as FloatType
from trackboard.storage.db import schema
from trackboard.storage.read.filter_syntax import (
    BoolOp,
    Compare,
    Not,
    is_number,
    parse_filter,
)

_STAT_COLUMNS = {"last": "last_value", "min": "min_value", "max": "max_value"}


class json_number(FunctionElement):  # noqa: N801 - reads as a SQL function
    """The number a JSON text holds, else NULL (strings, lists, invalid JSON)."""

    type = FloatType()
    inherit_cache = True
    name = "json_number"


@compiles(json_number, "sqlite")
def _json_number_sqlite(element: json_number, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses.clauses[0], **kw)
    return (f"(CASE WHEN json_valid({arg}) AND json_type({arg}) IN ('integer', 'real') "
            f"THEN CAST({arg} AS REAL) END)")


@compiles(json_number)
def _json_number_default(element: json_number, compiler: Any, **kw: Any) -> str:
    # PostgreSQL: a regex guard first, so a non-number is never cast (a cast error
    # would abort the query); the same shape as JSON's number grammar.
    arg = compiler.process(element.clauses.clauses[0], **kw)
    return (f"(CASE WHEN {arg} ~ '^\\s*-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?\\s*$' "
            f"THEN CAST({arg} AS DOUBLE PRECISION) END)")


def filter_condition(text: str, *, now: float | None = None,
                     crash_after: float = 60.0) -> ColumnElement[bool]:
    """A WHERE condition over `runs` joined to `projects` for a filter text.

    `now` and `crash_after` decide "crashed" the way Store.runs does (a running
    run whose heartbeat is older than crash_after seconds).

    >>> str(filter_condition('name = "mlp"'))
    'runs.name = :param_1'
    """
    tree = parse_filter(text)
    ctx = _Context(time.time() if now is None else now, crash_after)
    return ctx.build(tree)


def filtered_run_ids(text: str, *, now: float | None = None, crash_after: float = 60.0) -> Any:
    """SELECT runs.id of the runs the filter keeps (a Core statement, bound values only)."""
    cond = filter_condition(text, now=now, crash_after=crash_after)
    r, p = schema.runs, schema.projects
    return select(r.c.id).select_from(r.join(p, p.c.id == r.c.project_id)).where(cond)


@dataclass
class _Context:
    now: float
    crash_after: float

    def build(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, BoolOp):
            parts = [self.build(i) for i in node.items]
            return and_(*parts) if node.op == "and" else or_(*parts)
        if isinstance(node, Not):
            # NOT over NULL is NULL: coalesce so `not x` keeps runs where x is unknown.
            return not_(func.coalesce(self.build(node.item), false()))
        return self.compare(node)

    def compare(self, c: Compare) -> ColumnElement[bool]:
        if c.kind == "run":
            return self.run_field(c)
        if c.kind in ("param", "tag"):
            table = schema.params if c.kind == "param" else schema.tags
            # != and !~ also keep runs that lack the key ("seed is not 3" holds for
            # a run without a seed), so they are NOT EXISTS of the positive test.
            negate = c.op in ("!=", "!~")
            if negate:
                c = Compare(c.kind, c.key, c.stat, "=" if c.op == "!=" else "~", c.value, c.pos)
            hit = exists().where(table.c.run_id == schema.runs.c.id,
                                 table.c.key == bindparam(None, c.key),
                                 self.kv_value(table.c.value, c, is_json=c.kind == "param"))
            return not_(hit) if negate else hit
        s, k = schema.metric_summaries, schema.metric_keys
        col = getattr(s.c, _STAT_COLUMNS[c.stat or "last"])
        if c.value is None:
            cond = col.is_(None) if c.op == "=" else col.is_not(None)
        else:
            cond = _numeric(col, c.op, float(c.value))
        return exists().where(s.c.run_id == schema.runs.c.id, s.c.key_id == k.c.id,
                              k.c.name == bindparam(None, c.key), cond)

    def run_field(self, c: Compare) -> ColumnElement[bool]:
        r = schema.runs
        if c.key == "status":
            return self.status(c)
        col = {"project": schema.projects.c.name, "id": r.c.uid}.get(c.key)
        if col is None:
            col = getattr(r.c, c.key)
        if c.value is None:
            return col.is_(None) if c.op == "=" else col.is_not(None)
        return _text(col, c.op, str(c.value) if not isinstance(c.value, str) else c.value)

    def status(self, c: Compare) -> ColumnElement[bool]:
        r = schema.runs
        stale = func.coalesce(r.c.heartbeat_at, r.c.created_at) < bindparam(
            None, self.now - self.crash_after)
        # "crashed" is computed, not stored: a running run that went silent.
        shown = case((and_(r.c.status == literal("running"), stale), literal("crashed")),
                     else_=r.c.status)
        return _text(shown, c.op, str(c.value))

    def kv_value(self, col: Any, c: Compare, *, is_json: bool) -> ColumnElement[bool]:
        v = c.value
        if is_number(v):
            return _numeric(json_number(col), c.op, float(v))
        if c.op in ("~", "!~"):
            return _text(col, "~", v)
        if is_json:
            # JSON text of a string is quoted; bools/null are spelled true/false/null.
            return col == bindparam(None, json.dumps(v, ensure_ascii=False))
        return col == bindparam(None, "" if v is None else str(v).lower() if isinstance(
            v, bool) else str(v))


def _numeric(col: Any, op: str, value: float) -> ColumnElement[bool]:
    b = bindparam(None, value, type_=Float())
    return {"=": col == b, "!=": col != b, "<": col < b, "<=": col <= b, ">": col > b,
            ">=": col >= b}[op]


def _text(col: Any, op: str, value: str) -> ColumnElement[bool]:
    if op in ("~", "!~"):
        # Case-insensitive on both backends (SQLite's LIKE is, PostgreSQL's is not).
        hit = func.lower(col).contains(value.lower(), autoescape=True)
        return hit if op == "~" else not_(func.coalesce(hit, false()))
    b = bindparam(None, value)
    if op in ("=", "!="):
        return col == b if op == "=" else func.coalesce(col, "") != b
    return {"<": col < b, "<=": col <= b, ">": col > b, ">=": col >= b}[op]
