"""The runs filter language: parsing, errors, semantics on both backends, and a
fuzz test that user text never becomes SQL text."""

from __future__ import annotations

import json
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine
from trackboard.storage.read.filters import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    FilterError,
    filtered_run_ids,
    parse_filter,
)


def _seed(url: str) -> dict[str, str]:
    ids = {}
    rows = [("alpha", "keras", {"lr": 0.001, "opt": "adam", "deep": True}, {"seed": "3"},
             [0.5, 0.25]),
            ("beta", "torch", {"lr": 0.1, "opt": "sgd", "deep": False}, {"seed": "4"},
             [0.9, 0.6]),
            ("gamma-bert", "keras", {"lr": 0.005, "opt": "adam"}, {}, [0.4, 0.35])]
    for name, fw, config, tags, losses in rows:
        with Run(project="p1" if name != "beta" else "p2", name=name, framework=fw,
                 config=config, tags=tags, store=url) as run:
            for step, v in enumerate(losses):
                run.log({"val_loss": v, "system/cpu": 10.0}, step=step)
        ids[name] = run.id
    # A run whose process died an hour ago: still "running", its heartbeat an hour old.
    ids["delta"] = _silent_run(url, "delta", seconds=3600, config={"lr": "fast"})
    return ids


def _silent_run(url: str, name: str, *, seconds: float, **kwargs: object) -> str:
    """A run left "running" whose last heartbeat was `seconds` ago, set explicitly (no
    wall-clock luck): its writer sends no more heartbeats, as if its process was killed."""
    run = Run(project="p1", name=name, store=url, system_metrics=False, **kwargs)  # type: ignore[arg-type]
    writer = run._writer  # type: ignore[attr-defined]
    writer.run_ended(run.id)  # no more heartbeats for it
    assert writer.flush()
    engine = build_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE runs SET heartbeat_at = :h WHERE uid = :u"),
                     {"h": time.time() - seconds, "u": run.id})
    engine.dispose()
    return run.id


def _names(store: Store, text: str) -> set[str]:
    return set(store.runs(filter=text)["name"])


def test_filters_select_the_right_runs_on_both_backends(store_url: str) -> None:
    _seed(store_url)
    store = Store(store_url)
    assert _names(store, 'framework = "keras" and params.lr < 0.01') == {"alpha", "gamma-bert"}
    assert _names(store, "params.lr < 0.01 and val_loss.min < 0.3") == {"alpha"}
    assert _names(store, 'metrics.val_loss.last >= 0.6 or name ~ "BERT"') == {"beta",
                                                                              "gamma-bert"}
    assert _names(store, 'tags.seed = "3"') == {"alpha"}
    assert _names(store, "tags.seed = 4") == {"beta"}
    assert _names(store, 'tags.seed != "3"') == {"beta", "gamma-bert", "delta"}
    assert _names(store, 'params.opt = "adam" and not project = "p2"') == {"alpha", "gamma-bert"}
    assert _names(store, "params.deep = true") == {"alpha"}
    assert _names(store, 'status = "crashed"') == {"delta"}
    assert _names(store, 'status = "finished" and (name = "beta" or name contains "amm")') == {
        "beta", "gamma-bert"}
    # A text param never matches a numeric comparison (and never errors on PostgreSQL).
    assert _names(store, "params.lr > 0") == {"alpha", "beta", "gamma-bert"}
    assert _names(store, "`system/cpu`.max = 10") == {"alpha", "beta", "gamma-bert"}
    assert _names(store, 'name ~ "%"') == set()  # LIKE wildcards are escaped
    # `not` keeps the runs where the field is missing (NULL): delta has no framework.
    assert _names(store, 'not framework = "keras"') == {"beta", "delta"}
    assert _names(store, 'not (framework = "keras" or framework = "torch")') == {"delta"}
    assert _names(store, 'not framework ~ "ker"') == {"beta", "delta"}


def test_a_silent_run_shows_as_crashed(sqlite_url: str) -> None:
    # Heartbeats set explicitly on both sides of the minute: the answer cannot depend
    # on when the writer's heartbeat lands or how long the test takes (under 30 s).
    silent = _silent_run(sqlite_url, "silent", seconds=90)
    quiet = _silent_run(sqlite_url, "quiet", seconds=30)
    store = Store(sqlite_url)  # crash_after: a minute
    assert _names(store, 'status = "crashed"') == {"silent"}
    assert _names(store, 'status = "running"') == {"quiet"}
    assert _names(store, 'status != "running"') == {"silent"}
    runs = store.runs().set_index("id")
    assert runs.loc[silent, "status"] == "crashed" and runs.loc[quiet, "status"] == "running"
    assert store.run(silent)["status"] == "crashed"


# `rest` is the text from the caret on, counted by hand: the pointer must put its caret
# under the part of the user's text the message is about.
@pytest.mark.parametrize("text, position, expected, rest", [
    ("params.lr <", 11, "expected a value", ""),
    ('name = "x" and', 14, "expected a field", ""),
    ("val_loss < 3", 8, "expected .last, .min or .max", " < 3"),
    ('name = "open', 7, "unterminated string", '"open'),
    ("(name = 'a'", 11, "expected ')'", ""),
    ("params.lr < 'x'", 12, "< compares numbers", "'x'"),
    ("name # 'a'", 5, "unexpected character", "# 'a'"),
    ("name = 'a' 'b'", 11, "'and', 'or' or the end", "'b'"),
    ("loss.min ~ 'a'", 9, "metrics compare with", "~ 'a'"),
])
def test_bad_filters_say_where_and_what_was_expected(text: str, position: int,
                                                     expected: str, rest: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert info.value.position == position
    assert f"at position {position}: " in str(info.value) and expected in str(info.value)
    shown, caret = info.value.pointer().splitlines()
    assert shown == text and caret.strip() == "^"
    assert text[caret.index("^"):] == rest


def test_store_runs_raises_filter_error(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    # A user's `except ValueError` catches it: bad input from a direct call.
    with pytest.raises(ValueError, match="position 6: expected a value") as info:
        store.runs(filter="name ~")
    assert info.type is FilterError


_MARK = "ZqX"
_words = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=12)
# Any text a filter may hold: a NUL is refused before any SQL is built (no store holds
# it; test_user_text.py checks that refusal).
_payload = st.text(max_size=30).filter(lambda s: "\\" not in s and '"' not in s
                                       and "\x00" not in s)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_filter_error(text: str) -> None:
    try:
        stmt = filtered_run_ids(text)
    except FilterError:
        return
    stmt.compile(dialect=sqlite.dialect())
    stmt.compile(dialect=postgresql.dialect())


@settings(max_examples=200, deadline=None)
@given(key=_words, value=_payload, field=st.sampled_from(["params", "tags", "metric", "name"]),
       op=st.sampled_from(["=", "!=", "~", "!~", "<"]))
def test_user_text_only_reaches_sql_as_bound_parameters(key: str, value: str, field: str,
                                                        op: str) -> None:
    key = _MARK + key
    value = _MARK + value
    if field == "metric":
        text, expect = f"`{key}`.min {op if op in ('=', '!=', '<') else '='} 1.5", [key]
    elif field == "name":
        text, expect = f'name {op if op != "<" else "="} "{value}"', [value]
    else:
        op = "=" if op == "<" else op
        text, expect = f'{field}.`{key}` {op} "{value}"', [key, value]
    stmt = filtered_run_ids(text)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled = stmt.compile(dialect=dialect)
        assert _MARK not in str(compiled)
        # LIKE patterns carry autoescape slashes ("%" -> "/%"): compare without them.
        bound = " ".join(str(v) for v in compiled.params.values()).replace("/", "")
        for part in expect:
            # Param values travel as their JSON text ("a\u001f"), others as typed.
            part = part.replace("/", "")
            assert (part.lower() in bound.lower()
                    or json.dumps(part, ensure_ascii=False)[1:-1].lower() in bound.lower())


def test_filter_runs_against_real_database_with_hostile_text(sqlite_url: str) -> None:
    _seed(sqlite_url)
    store = Store(sqlite_url)
    hostile = "x'; DROP TABLE runs; --"
    assert _names(store, f'name = "{hostile}"') == set()
    assert _names(store, f'params.`{hostile}` = 1') == set()
    assert len(store.runs()) == 4


# -- limits: length, comparisons, nesting ------------------------------------------

def _nested(layers: list[str], depth: int) -> str:
    """A filter nested `depth` levels deep, cycling through `layers` ({} = the inside)."""
    text, used = 'params.lr < 1', 0
    while used < depth:
        layer = layers[used % len(layers)]
        text = layer.format(text)
        used += layer.count("(") + layer.count("not ")
    return text


@pytest.mark.parametrize("text, position, expected", [
    ("(" * 1500 + 'name = "a"' + ")" * 1500, MAX_DEPTH, "nested deeper than"),
    ("not " * 500 + 'name = "a"', 4 * MAX_DEPTH, "nested deeper than"),
    (" and ".join(['id = "a"'] * (MAX_COMPARISONS + 1)),
     len(' and '.join(['id = "a"'] * MAX_COMPARISONS)) + 5, "more than 100 comparisons"),
    ('name ~ "' + "x" * MAX_FILTER_LENGTH + '"', MAX_FILTER_LENGTH, "at most 4000 characters"),
])
def test_filters_beyond_the_limits_say_where(text: str, position: int, expected: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert info.value.position == position and expected in str(info.value)
    assert info.value.pointer().splitlines()[1] == " " * position + "^"


@pytest.mark.parametrize("layers", [["not {}"], ["not ({})"], ["({} or name = 'x')"],
                                    ["(status = 'x' or not ({}))", "(h.min > 2 and {})"]])
def test_filters_at_the_limits_run_on_both_backends(store_url: str, layers: list[str]) -> None:
    # The limits must leave every filter they let through runnable: SQLite's parser
    # stack and expression depth are smaller than Python's recursion limit.
    _seed(store_url)
    store = Store(store_url)
    deepest = _nested(layers, MAX_DEPTH)
    parse_filter(deepest)
    store.runs(filter=deepest)
    with pytest.raises(FilterError, match="nested deeper than"):
        parse_filter(_nested(layers, MAX_DEPTH + 1))
    widest = " or ".join(["(val_loss.min < 0.3 and not params.opt = 'sgd')"] *
                         (MAX_COMPARISONS // 2))
    assert _names(store, widest) == {"alpha"}
    assert len(widest) <= MAX_FILTER_LENGTH


@pytest.mark.slow
def test_runs_page_shows_the_position_of_a_too_deep_filter(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.support.dashboard import APP

    _seed(sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "0")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.text_input(key="runs_filter").set_value("(" * 1500 + 'name = "a"' + ")" * 1500).run()
    assert not at.exception, at.exception
    assert (f"Bad filter at position {MAX_DEPTH}: nested deeper than {MAX_DEPTH} levels"
            in at.error[0].value.replace("\\", ""))  # as shown: Markdown escapes out
    assert at.code[0].value.splitlines()[1] == " " * MAX_DEPTH + "^"
