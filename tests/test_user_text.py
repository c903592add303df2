"""User text is data on every page: names, projects, frameworks, metric, param and tag
keys and values, notes and statuses show as typed (never as Markdown or HTML), odd
metric keys are charted, and a link that carries text no store holds is refused in
one line. Streamlit's AppTest runs each page on a store of hostile texts; the
browser half (no request leaves the machine) is tests/test_user_text_browser.py."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest
from trackboard.dashboard import plain_text
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run

from tests.support.dashboard import APP
from tests.support.hostile_text import HOSTILE, ODD_KEYS, seed_hostile
from tests.test_dashboard_pages import _decode  # typed arrays in figure JSON to lists

# Fragments of the hostile texts that only a text shown unescaped could leave in a
# Markdown source (looked for once its escaped characters are taken out).
RAW = ("](http", "<img", "**bold**", "_it_", "$x^2$", ":red[", ":material/", "[link]")
# Where Streamlit renders Markdown: these elements' values, and every label and help.
MARKDOWN_ELEMENTS = ("markdown", "caption", "info", "warning", "error", "success", "title",
                     "header", "subheader")
WIDGETS = ("button", "checkbox", "toggle", "radio", "selectbox", "multiselect", "text_input",
           "number_input", "slider", "expander", "tabs", "metric", "popover")
# What an escape leaves of a character: the character (mdast after CommonMark escapes).
_ESCAPED = re.compile(f"\\\\([{re.escape(string.punctuation)}])")
# GitHub's autolink literals, found in the text after escapes are read.
_AUTOLINK = re.compile(r"(?i)https?://|www\.|[-.\w+]@[-\w]")


def shown(source: str) -> str:
    """What a reader sees of a Markdown source that `plain_text.markdown` made."""
    return _ESCAPED.sub(r"\1", source).replace(plain_text.ZERO_WIDTH_SPACE, "")


# -- the rule itself (pure) -----------------------------------------------------------

ODD_TEXTS = [*HOSTILE.values(), *ODD_KEYS, "x\n===", "    indented", "1. item", "# head",
             "www.example.org", "bob@example.org", "HTTPS://example.org", "&amp; &lt;",
             "a\\*b\\", ":smile:", "`code` ``", "| a | b |", "~~s~~", "<b>b</b>", "tab\there"]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_markdown_leaves_nothing_for_a_renderer_to_read(text: str) -> None:
    source = plain_text.markdown(text)
    # Every character that can start markup is escaped, the text is one line, no
    # `:material/` survives for Streamlit's icon replacement, and no autolink literal
    # can be found once the escapes are read.
    assert not set(_ESCAPED.sub("", source)) & set(plain_text.MARKUP)
    assert "\n" not in source and ":material/" not in source
    assert _AUTOLINK.search(_ESCAPED.sub(r"\1", source)) is None
    # ... and what the reader sees is the text as typed (line breaks as spaces).
    assert shown(source) == " ".join(text.replace("\t", " ").split("\n")).strip()


def test_html_escapes_every_tag_for_plotly() -> None:
    assert plain_text.html(HOSTILE["html"]) == "&lt;img src=http://198.51.100.7/html.png&gt;"
    assert plain_text.html("<a href='http://x'>y</a> & <b>") == (
        "&lt;a href='http://x'&gt;y&lt;/a&gt; &amp; &lt;b&gt;")


# -- every page, under AppTest ----------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    path = tmp_path_factory.mktemp("hostile") / "trackboard.db"
    url = f"sqlite:///{path}"
    mp = pytest.MonkeyPatch()
    mp.setenv("TRACKBOARD_SPOOL_DIR", str(path.parent / "spool"))
    ids = seed_hostile(url)
    mp.undo()
    yield url, ids


@pytest.fixture
def ui(hostile_store: tuple[str, dict], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    url, ids = hostile_store
    monkeypatch.setenv("TRACKBOARD_UI_STORE", url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "0")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    return ids


def _open(page: str, **query: str) -> AppTest:
    """The page as a link opens it: the query in the page's first run."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    if page != "runs":
        at.run()
        at.switch_page(f"views/{page}.py")
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _markdown_sources(at: AppTest) -> list[str]:
    sources = []
    for kind in MARKDOWN_ELEMENTS:
        sources += [str(e.value) for e in at.get(kind)]
    for kind in WIDGETS:
        for e in at.get(kind):
            sources += [str(getattr(e, a)) for a in ("label", "help")
                        if getattr(e, a, None)]
            if kind == "radio":  # radio options are Markdown too
                sources += [str(o) for o in e.options]
    return sources


def _figures(at: AppTest) -> list[dict[str, Any]]:
    return [_decode(json.loads(c.proto.spec)) for c in at.get("plotly_chart")]


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _shown_parts(obj: Any) -> Any:
    """A figure without what Plotly never shows: ids and data it carries along."""
    if isinstance(obj, dict):
        return {k: _shown_parts(v) for k, v in obj.items()
                if k not in ("meta", "customdata", "config", "legendgroup", "uirevision")}
    if isinstance(obj, list):
        return [_shown_parts(v) for v in obj]
    return obj


def _assert_literal(at: AppTest) -> None:
    """No hostile text reached Markdown or Plotly unescaped on this page."""
    for source in _markdown_sources(at):
        unescaped = _ESCAPED.sub("", source)
        assert not [r for r in RAW if r in unescaped], source
    for fig in _figures(at):
        for text in _strings(_shown_parts(fig)):
            assert "<img" not in text and "<a " not in text and "<b>" not in text, text


@pytest.mark.slow  # the core suite opens Compare, the page with most user text
def test_runs_page_shows_user_text_as_typed(ui: dict[str, str]) -> None:
    at = _open("runs")
    _assert_literal(at)
    table = at.dataframe[0].value
    assert set(table["name"]) == set(HOSTILE.values())
    by_name = table.set_index("name")
    for i, text in enumerate(HOSTILE.values()):
        assert by_name.loc[text, "framework"] == ("" if i == 0 else text)
        assert by_name.loc[text, "project"] == text
        assert by_name.loc[text, "tags"] == f"{text}={text}"
    # The metric columns are the keys as typed (st.dataframe headers are plain text).
    at.multiselect(key="runs_metrics").set_value([HOSTILE["image"], "top,5"]).run()
    assert {f"{HOSTILE['image']}.last", "top,5.last"} <= set(at.dataframe[0].value.columns)
    assert at.query_params["m"] == f"{HOSTILE['image']},`top,5`"  # a link keeps the comma key


def test_runs_search_finds_text_when_a_run_has_no_framework(ui: dict[str, str]) -> None:
    # The first hostile run has no framework: the search raised TypeError on pandas 3.
    at = _open("runs", q="**BOLD**")
    assert at.dataframe[0].value["name"].tolist() == [HOSTILE["bold"]]
    at.text_input(key="runs_search").set_value("198.51.100.7/image").run()
    assert not at.exception
    assert at.dataframe[0].value["name"].tolist() == [HOSTILE["image"]]


def test_compare_page_shows_user_text_as_typed(ui: dict[str, str]) -> None:
    ids = ui
    at = _open("compare", runs=",".join(ids.values()), group="framework")
    _assert_literal(at)
    run_list = next(d for d in at.dataframe if str(d.key).startswith("cmp_runlist_")).value
    labels = run_list["run"].tolist()
    for text in HOSTILE.values():
        assert any(label.startswith(text) for label in labels), (text, labels)
    assert set(run_list["framework"]) == {"", *list(HOSTILE.values())[1:]}
    # One chart per metric key, titled with the key as Plotly shows it (escaped HTML).
    titles = [f["layout"]["title"]["text"] for f in _figures(at)
              if f["data"] and (f["data"][0].get("meta") or {}).get("group") is not None]
    for key in [*HOSTILE.values(), *ODD_KEYS]:
        assert plain_text.html(key) in titles, key
    # Frameworks name the param groups (expander labels are Markdown): escaped.
    expanders = {shown(e.label) for e in at.expander}
    for text in list(HOSTILE.values())[1:]:
        assert f"{text}-only params · 0 of 1 differ" in expanders


def test_odd_metric_keys_are_charted_from_a_link(ui: dict[str, str]) -> None:
    """Keys holding [...] were read as glob patterns and never charted; a key with a
    comma is written in backticks in the `metrics` list."""
    ids = ui
    at = _open("compare", runs=ids["html"], cols="1",
               metrics="acc[0], f1[*], `top,5`, a|b, loss[t*")
    figs = [f for f in _figures(at) if f["data"] and f["data"][0].get("meta", {}).get("run_id")]
    titles = [f["layout"]["title"]["text"] for f in figs]
    assert titles == ["acc[0]", "f1[*]", "top,5", "a|b", "loss[train]"]
    for fig in figs:
        smoothed = [t for t in fig["data"] if t["meta"]["role"] != "raw"] or fig["data"]
        assert smoothed[-1]["meta"]["run_id"] == ids["html"]
        assert [t for t in fig["data"] if t["meta"]["role"] == "raw"][0]["y"] == [
            0.5, 1.5, 2.5]


@pytest.mark.slow
def test_run_page_shows_user_text_as_typed(ui: dict[str, str]) -> None:
    ids = ui
    at = _open("run", run=ids["link"])
    _assert_literal(at)
    assert [t.value for t in at.text] == [HOSTILE["link"], HOSTILE["link"]]  # name, notes
    params = at.dataframe[1].value
    assert params.loc[HOSTILE["link"], "value"] == HOSTILE["link"]


@pytest.mark.slow
def test_export_page_shows_user_text_as_typed(ui: dict[str, str]) -> None:
    ids = ui
    at = _open("export", runs=",".join(ids.values()))
    _assert_literal(at)
    assert all(text in at.text[0].value for text in HOSTILE.values())


@pytest.mark.parametrize("prefix, message", [
    ("tb-", "no run with id 'tb-'; a prefix needs at least 4 characters (`trackboard runs` "
            "lists the ids)"),
    pytest.param("zzzz", "no run with id 'zzzz' or an id starting with it; `trackboard runs` "
                 "lists them", marks=pytest.mark.slow),
])
def test_run_page_id_errors_are_one_balanced_line(ui: dict[str, str], prefix: str,
                                                   message: str) -> None:
    at = _open("run", run=prefix)
    assert [shown(e.value) for e in at.error] == [message]


@pytest.mark.parametrize("page, param", [
    ("runs", "filter"), ("compare", "runs"),
    *(pytest.param(page, param, marks=pytest.mark.slow) for page, param in [
        ("runs", "q"), ("compare", "metrics"), ("compare", "group"), ("run", "run"),
        ("export", "runs")]),
])
def test_a_link_with_a_nul_is_refused_in_one_line(ui: dict[str, str], page: str,
                                                  param: str) -> None:
    at = _open(page, **{param: "lo\x00ss"})
    warnings = [shown(w.value) for w in at.warning]
    assert f"Ignored the link's {param} parameter(s): they hold a character no store can " \
           "hold (a NUL, %00, or a lone surrogate)." in warnings
    assert param not in at.query_params


def test_the_cli_refuses_text_no_store_holds_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trackboard.db'}"
    with Run(project="p", store=url, system_metrics=False) as run:
        run.log({"loss": 1.0}, step=0)
    for args, says in [(["show", "ab\x00cd"], "run id 'ab\\x00cd' contains a NUL"),
                       (["show", "ab\udce9cd"], "run id 'ab\\udce9cd' cannot be stored as UTF-8"),
                       (["runs", "--project", "p\x00"], "project 'p\\x00' contains a NUL")]:
        result = CliRunner().invoke(cli, [*args, "--store", url])
        assert result.exit_code == 1, result.output
        assert len(result.output.strip().splitlines()) == 1 and says in result.output


@pytest.mark.postgres
def test_nul_in_links_and_filters_on_postgresql(pg_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's driver refuses a NUL in a bound value: a link with %00 gave a
    traceback. Every page refuses it in one line, and a typed filter says where."""
    with Run(project="p", name="one", store=pg_url, system_metrics=False) as run:
        run.log({"loss": 1.0}, step=0)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", pg_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "0")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    for page, param in [("runs", "filter"), ("compare", "runs"), ("compare", "metrics"),
                        ("run", "run"), ("export", "runs")]:
        value = f"{run.id}\x00" if param in ("runs", "run") else 'name = "one\x00"'
        at = _open(page, **{param: value}, **({} if param == "runs" else {"runs": run.id}))
        assert any(shown(w.value).startswith(f"Ignored the link's {param} parameter")
                   for w in at.warning), (page, param)
    at = _open("runs")
    at.text_input(key="runs_filter").set_value('name = "one\x00"').run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "Bad filter at position 11: a NUL character cannot be in a filter; remove it"]
