"""The runs filter language: user text -> a SQLAlchemy Core condition on `runs`.

    framework = "keras" and params.lr < 0.01 and val_loss.min < 0.3
    (status = "crashed" or status = "failed") and tags.seed != "3"
    name ~ "bert" and not project = "scratch"

A hand-written tokenizer and recursive-descent parser build the condition from
Core constructs only: every value AND every key (param, tag, metric names) the
user typed travels as a bound parameter, so no user text can ever become SQL
text. Grammar:

    expr    := and_expr ("or" and_expr)*
    and_expr:= unary ("and" unary)*
    unary   := "not" unary | "(" expr ")" | compare
    compare := field op value
    field   := name | project | status | framework | host | id | notes | command
             | git_commit | params.<key> | tags.<key>
             | <metric>.last|min|max | metrics.<metric>.last|min|max
    op      := = | == | != | < | <= | > | >= | ~ | contains | !~
    value   := "string" | 'string' | number | true | false | null

Keys that hold spaces or an operator character go in backticks: params.`my key`.

A filter is at most MAX_FILTER_LENGTH characters, MAX_COMPARISONS comparisons and
MAX_DEPTH levels of parentheses and `not`; beyond, FilterError says where. (Without
the limits, 1500 nested parentheses overflowed Python's stack, and a few dozen
nested `not`s or a few hundred comparisons overflowed SQLite's parser.)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
from trackboard.storage.errors import FilterError

RUN_FIELDS = ("name", "project", "status", "framework", "host", "id", "notes", "command",
              "git_commit")
STATS = ("last", "min", "max")
_STAT_COLUMNS = {"last": "last_value", "min": "min_value", "max": "max_value"}
# Limits with room to spare for any hand-written filter; each bound keeps the SQL
# within SQLite's parser stack and expression depth (tests/test_filters.py runs the
# worst cases at the limits on both backends).
MAX_FILTER_LENGTH = 4000
MAX_DEPTH = 24
MAX_COMPARISONS = 100
_OPS = ("=", "==", "!=", "<", "<=", ">", ">=", "~", "!~", "contains")
_KEYWORDS = ("and", "or", "not", "contains", "true", "false", "null")
# Characters a bare field or key may hold; anything else needs `backticks`.
_IDENT_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS = _IDENT_START | set("0123456789./-:@[]")


# -- tokens ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str   # "ident", "string", "number", "op", "lparen", "rparen", "keyword", "end"
    value: Any
    pos: int
    text: str


def tokenize(text: str) -> list[Token]:
    """Split filter text into tokens.

    >>> [t.kind for t in tokenize('params.lr <= 1e-3 and name ~ "x"')]
    ['ident', 'op', 'number', 'keyword', 'ident', 'op', 'string', 'end']
    """
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(Token("lparen" if c == "(" else "rparen", c, i, c))
            i += 1
        elif c in "\"'":
            j, chars = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= n:
                raise FilterError(text, i, f"unterminated string: add the closing {c}")
            out.append(Token("string", "".join(chars), i, text[i:j + 1]))
            i = j + 1
        elif c in "=!<>~":
            two = text[i:i + 2]
            op = two if two in ("==", "!=", "<=", ">=", "!~") else c
            if op == "!":
                raise FilterError(text, i, "expected != or !~ after '!'")
            out.append(Token("op", op, i, op))
            i += len(op)
        elif c.isdigit() or (c in "-+." and i + 1 < n and (text[i + 1].isdigit() or
                                                          text[i + 1] == ".")):
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in ".+-") and not (
                    text[j] in "+-" and text[j - 1] not in "eE"):
                j += 1
            word = text[i:j]
            try:
                value: Any = int(word) if word.lstrip("+-").isdigit() else float(word)
            except ValueError:
                raise FilterError(text, i, f"{word!r} is not a number") from None
            if isinstance(value, int) and abs(value) >= 2**63 or not math.isfinite(value):
                raise FilterError(text, i, f"{word!r} is too large; use a finite number")
            out.append(Token("number", value, i, word))
            i = j
        elif c == "`" or c in _IDENT_START:
            start, (parts, i) = i, _read_field(text, i)
            word = text[start:i]
            lower = word.lower()
            if len(parts) == 1 and lower in _KEYWORDS and c != "`":
                kind = "op" if lower == "contains" else "keyword"
                out.append(Token(kind, lower, start, word))
            else:
                out.append(Token("ident", parts, start, word))
        else:
            raise FilterError(text, i, f"unexpected character {c!r}; quote text values "
                                       "(\"...\") and keys with odd characters (`...`)")
    out.append(Token("end", None, n, ""))
    return out


def _read_field(text: str, i: int) -> tuple[list[str], int]:
    """Dotted field parts from text[i:], and where they end; `a.b` in backticks is one part.

    >>> _read_field("params.`my key`.x < 1", 0)
    (['params', 'my key', 'x'], 17)
    """
    parts: list[str] = []
    n = len(text)
    while True:
        if i < n and text[i] == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise FilterError(text, i, "unterminated `quoted key`: add the closing `")
            parts.append(text[i + 1:end])
            i = end + 1
        else:
            j = i
            while j < n and text[j] in _IDENT_CHARS and text[j] != ".":
                j += 1
            if j == i:
                raise FilterError(text, i, "expected a key after '.'")
            parts.append(text[i:j])
            i = j
        if i < n and text[i] == ".":
            i += 1
            continue
        return parts, i


# -- syntax tree ---------------------------------------------------------------------

@dataclass(frozen=True)
class Compare:
    kind: str          # "run", "param", "tag", "metric"
    key: str           # run column, param/tag key or metric key
    stat: str | None   # last/min/max for metrics
    op: str
    value: Any
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str            # "and", "or"
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0        # open parentheses and `not`s around the current token
        self.comparisons = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, tok: Token, expected: str) -> FilterError:
        got = "the end" if tok.kind == "end" else repr(tok.text)
        return FilterError(self.text, tok.pos, f"expected {expected}, got {got}")

    def parse(self) -> Any:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.fail(tok, "'and', 'or' or the end of the filter")
        return node

    def expr(self) -> Any:
        items = [self.and_expr()]
        while self.peek().kind == "keyword" and self.peek().value == "or":
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Any:
        items = [self.unary()]
        while self.peek().kind == "keyword" and self.peek().value == "and":
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self) -> Any:
        tok = self.peek()
        if tok.kind == "keyword" and tok.value == "not":
            self.take()
            with self.nested(tok):
                return Not(self.unary())
        if tok.kind == "lparen":
            self.take()
            with self.nested(tok):
                node = self.expr()
            close = self.take()
            if close.kind != "rparen":
                raise self.fail(close, "')'")
            return node
        return self.compare()

    @contextmanager
    def nested(self, tok: Token) -> Iterator[None]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(self.text, tok.pos, f"nested deeper than {MAX_DEPTH} levels of "
                                                  "parentheses and 'not'; simplify the filter")
        try:
            yield
        finally:
            self.depth -= 1

    def compare(self) -> Compare:
        tok = self.take()
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise FilterError(self.text, tok.pos, f"more than {MAX_COMPARISONS} comparisons; "
                                                  "split the filter or use ~ to match many names")
        if tok.kind != "ident":
            raise self.fail(tok, "a field such as name, status, params.lr or val_loss.min")
        kind, key, stat = self.field(tok)
        op_tok = self.take()
        if op_tok.kind != "op":
            raise self.fail(op_tok, "an operator (=, !=, <, <=, >, >=, ~ or contains)")
        op = "=" if op_tok.value == "==" else op_tok.value
        op = "~" if op == "contains" else op
        if kind == "metric" and op in ("~", "!~"):
            raise FilterError(self.text, op_tok.pos, "metrics compare with =, !=, <, <=, > or >=")
        val = self.take()
        if val.kind in ("string", "number"):
            value = val.value
        elif val.kind == "keyword" and val.value in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[val.value]
        else:
            raise self.fail(val, 'a value ("text", a number, true, false or null)')
        if op in ("<", "<=", ">", ">=") and not _is_number(value):
            raise FilterError(self.text, val.pos, f"{op} compares numbers; got {val.text}")
        if op in ("~", "!~") and not isinstance(value, str):
            raise FilterError(self.text, val.pos, f"{op} looks for text; quote it: \"{val.text}\"")
        if kind == "metric" and not _is_number(value) and value is not None:
            raise FilterError(self.text, val.pos, "metrics compare with numbers, e.g. "
                                                   f"{key}.{stat} < 0.5")
        return Compare(kind, key, stat, op, value, tok.pos)

    def field(self, tok: Token) -> tuple[str, str, str | None]:
        parts: list[str] = tok.value
        head = parts[0].lower() if parts else ""
        if len(parts) == 1 and head in RUN_FIELDS:
            return "run", head, None
        if head in ("params", "param", "tags", "tag") and len(parts) >= 2:
            return ("param" if head.startswith("param") else "tag"), ".".join(parts[1:]), None
        if head in ("params", "param", "tags", "tag"):
            raise FilterError(self.text, tok.pos, f"expected a key after '{parts[0]}.', "
                                                  f"e.g. {head}.lr")
        if head in ("metrics", "metric") and len(parts) >= 2:
            parts = parts[1:]
        if len(parts) >= 2 and parts[-1].lower() in STATS:
            return "metric", ".".join(parts[:-1]), parts[-1].lower()
        raise FilterError(self.text, tok.pos + len(tok.text),
                          f"expected .last, .min or .max after metric {tok.text!r} "
                          f"(fields: {', '.join(RUN_FIELDS)}, params.<key>, tags.<key>)")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_filter(text: str) -> Any:
    """The syntax tree of a filter; raises FilterError for bad text.

    >>> parse_filter('params.lr < 0.01')
    Compare(kind='param', key='lr', stat=None, op='<', value=0.01, pos=0)
    """
    if not isinstance(text, str):
        raise FilterError(str(text), 0, "a filter is text")
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(text, MAX_FILTER_LENGTH, f"a filter is at most {MAX_FILTER_LENGTH} "
                                                   f"characters; this one has {len(text)}")
    return _Parser(text).parse()


# -- SQL ------------------------------------------------------------------------------

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
        if _is_number(v):
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
