"""The runs filter language: user text -> a SQLAlchemy Core condition on `runs`.

    framework = "keras" and params.lr < 0.01 and val_loss.min < 0.3
    (status = "crashed" or status = "failed") and tags.seed != "3"
    name ~ "bert" and not project = "scratch"

A hand-written tokenizer and recursive-descent parser (filter_syntax.py) build a
syntax tree; filter_sql.py turns it into a condition from Core constructs only:
every value AND every key (param, tag, metric names) the user typed travels as a
bound parameter, so no user text can ever become SQL text. This module is the
language's public face; import from here. Grammar:

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

from trackboard.storage.errors import FilterError
from trackboard.storage.read.filter_sql import (
    filter_condition,
    filtered_run_ids,
    json_number,
)
from trackboard.storage.read.filter_syntax import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    RUN_FIELDS,
    STATS,
    BoolOp,
    Compare,
    Not,
    Token,
    parse_filter,
    tokenize,
)

__all__ = [
    "MAX_COMPARISONS", "MAX_DEPTH", "MAX_FILTER_LENGTH", "RUN_FIELDS", "STATS", "BoolOp",
    "Compare", "FilterError", "Not", "Token", "filter_condition", "filtered_run_ids",
    "json_number", "parse_filter", "tokenize",
]
