"""The filter and URL examples of README.md and docs/dashboard.md work on the demo's runs.

A reader's first store is the one `trackboard demo` fills, so every example the docs
give must select some of those runs (and, to show what it does, not all of them), and
every metric, param and group a URL example names must exist there. The store is
filled by the demo's own code (`run_demo`, the `--fast` plan: 2 settings per framework).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from trackboard.dashboard.charts import X_AXES
from trackboard.loggers.demo import PROJECT, run_demo
from trackboard.storage import Store

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "dashboard.md"]
TEXT_BLOCK = re.compile(r"^```text\n(.*?)^```", re.DOTALL | re.MULTILINE)
DASHBOARD_URL = re.compile(r"http://127\.0\.0\.1:8501/[^\s`)]*")


def doc_examples(text: str) -> tuple[list[str], list[str]]:
    """(filters, dashboard URLs) a doc gives: the lines of its ```text blocks, and every
    link to the dashboard with a query string.

    >>> doc_examples("```text\\nparams.x < 1\\nhttp://127.0.0.1:8501/?q=a\\n```\\n")
    (['params.x < 1'], ['http://127.0.0.1:8501/?q=a'])
    """
    lines = [ln.strip() for block in TEXT_BLOCK.findall(text) for ln in block.splitlines()]
    filters = [ln for ln in lines if ln and not ln.startswith("http")]
    urls = sorted({u.rstrip(".,") for u in DASHBOARD_URL.findall(text) if "?" in u})
    return filters, urls


EXAMPLES = {doc.relative_to(ROOT).as_posix(): doc_examples(doc.read_text()) for doc in DOCS}
FILTERS = [(doc, f) for doc, (filters, _) in EXAMPLES.items() for f in filters]
URLS = [(doc, u) for doc, (_, urls) in EXAMPLES.items() for u in urls]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    mp = pytest.MonkeyPatch()
    spool = tmp_path_factory.mktemp("spool")
    mp.setenv("TRACKBOARD_SPOOL_DIR", str(spool))
    mp.setenv("KERAS_BACKEND", "torch")  # the demo's own first choice
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    try:
        made = run_demo(url, fast=True, report=lambda line: None)
        assert {r.framework for r in made} == {"keras", "torch", "lightning", "jax"}
        with Store(url) as store:
            yield store
    finally:
        mp.undo()


def test_the_docs_give_examples() -> None:
    # Guards the extraction: the tests below must have something to check.
    assert len(EXAMPLES["README.md"][0]) >= 2 and EXAMPLES["README.md"][1]
    assert len(EXAMPLES["docs/dashboard.md"][0]) >= 5 and len(EXAMPLES["docs/dashboard.md"][1]) >= 2


def selected(store: Store, text: str) -> tuple[int, int]:
    return len(store.runs(PROJECT, filter=text)), len(store.runs(PROJECT))


@pytest.mark.slow
@pytest.mark.parametrize(("doc", "text"), FILTERS)
def test_filter_example_selects_some_demo_runs(demo_store: Store, doc: str, text: str) -> None:
    n, total = selected(demo_store, text)
    assert 0 < n < total, f"{doc}: {text!r} selects {n} of the demo's {total} runs"


@pytest.mark.slow
@pytest.mark.parametrize(("doc", "url"), URLS)
def test_url_example_names_what_the_demo_has(demo_store: Store, doc: str, url: str) -> None:
    runs = demo_store.runs(PROJECT)
    metrics = {c[len("metrics."):].rsplit(".", 1)[0] for c in runs if c.startswith("metrics.")}
    params = {c[len("params."):] for c in runs if c.startswith("params.")}
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query, url
    if "filter" in query:
        n, total = selected(demo_store, query["filter"])
        assert 0 < n < total, f"{doc}: {url} selects {n} of {total} runs"
    for item in (query.get("metrics", "") + "," + query.get("m", "")).split(","):
        if item.strip():
            choices = [k.strip() for k in item.split("|")]
            assert any(fnmatch.filter(metrics, k) for k in choices), f"{doc}: {item} in {url}"
    for key in filter(None, query.get("p", "").split(",")):
        assert key in params, f"{doc}: param {key!r} of {url} is not in the demo"
    if "group" in query:
        assert query["group"] in runs.columns, f"{doc}: group {query['group']!r} in {url}"
    if "x" in query:
        assert query["x"] in X_AXES or query["x"] in metrics, f"{doc}: x={query['x']} in {url}"
