"""The runs filter language: parsing, errors, semantics on both backends, and a
fuzz test that user text never becomes SQL text."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.filters import FilterError, filtered_run_ids, parse_filter


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
    # A run left "running" with an old heartbeat shows as crashed.
    run = Run(project="p1", name="delta", store=url, config={"lr": "fast"})
    run._writer.flush()  # type: ignore[attr-defined]
    ids["delta"] = run.id
    return ids


def _names(store: Store, text: str) -> set[str]:
    return set(store.runs(filter=text)["name"])


def test_filters_select_the_right_runs_on_both_backends(store_url: str) -> None:
    _seed(store_url)
    store = Store(store_url, crash_after=0.0)
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


@pytest.mark.parametrize("text, position, expected", [
    ("params.lr <", 11, "expected a value"),
    ('name = "x" and', 14, "expected a field"),
    ("val_loss < 3", 8, "expected .last, .min or .max"),
    ('name = "open', 7, "unterminated string"),
    ("(name = 'a'", 11, "expected ')'"),
    ("params.lr < 'x'", 12, "< compares numbers"),
    ("name # 'a'", 5, "unexpected character"),
    ("name = 'a' 'b'", 11, "'and', 'or' or the end"),
    ("loss.min ~ 'a'", 9, "metrics compare with"),
])
def test_bad_filters_say_where_and_what_was_expected(text: str, position: int,
                                                     expected: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert info.value.position == position
    assert expected in str(info.value)
    assert isinstance(info.value, ValueError)
    assert info.value.pointer().splitlines()[1] == " " * position + "^"


def test_store_runs_raises_filter_error(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    with pytest.raises(FilterError, match="position 6: expected a value"):
        store.runs(filter="name ~")


_MARK = "ZqX"
_words = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=12)
_payload = st.text(max_size=30).filter(lambda s: "\\" not in s and '"' not in s)


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
