"""The runs filter language's syntax: tokenizer, syntax tree and parser.

User text becomes a tree of Compare, BoolOp and Not nodes (the grammar is in
filters.py); filter_sql.py turns the tree into SQL. Every error is a FilterError
that says where in the text it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from trackboard.storage.errors import FilterError
from trackboard.storage.rules import first_unstorable

RUN_FIELDS = ("name", "project", "status", "framework", "host", "id", "notes", "command",
              "git_commit")
STATS = ("last", "min", "max")
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
        return self._chain("or", self.and_expr)

    def and_expr(self) -> Any:
        return self._chain("and", self.unary)

    def _chain(self, word: str, operand: Callable[[], Any]) -> Any:
        """operand (word operand)*: one flat BoolOp for a run of the same keyword."""
        items = [operand()]
        while self.peek().kind == "keyword" and self.peek().value == word:
            self.take()
            items.append(operand())
        return items[0] if len(items) == 1 else BoolOp(word, tuple(items))

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
        if op in ("<", "<=", ">", ">=") and not is_number(value):
            raise FilterError(self.text, val.pos, f"{op} compares numbers; got {val.text}")
        if op in ("~", "!~") and not isinstance(value, str):
            raise FilterError(self.text, val.pos, f"{op} looks for text; quote it: \"{val.text}\"")
        if kind == "metric" and not is_number(value) and value is not None:
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


def is_number(value: Any) -> bool:
    """A number the filter can compare with < or > (a bool is not one)."""
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
    _check_characters(text)
    return _Parser(text).parse()


def _check_characters(text: str) -> None:
    # What no store holds never reaches one: PostgreSQL's driver refuses a NUL in a
    # bound value, and a lone surrogate cannot even be encoded to send.
    at = first_unstorable(text)
    if at is not None:
        what = "a NUL character" if text[at] == "\x00" else f"the lone surrogate {text[at]!r}"
        raise FilterError(text, at, f"{what} cannot be in a filter; remove it")
