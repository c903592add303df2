"""Shared fixtures: real SQLite files and a real PostgreSQL server for the session."""

from __future__ import annotations

import ast
import itertools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import postgres


@pytest.fixture(autouse=True)
def _isolated_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Spool files of one test must never be delivered into another test's store.
    monkeypatch.setenv("TRACKBOARD_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("TRACKBOARD_STORE", raising=False)


_CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _main_module_kept() -> Iterator[None]:
    # Streamlit's AppTest runs a page as `__main__` and leaves it there; multiprocessing's
    # forkserver and spawn then import that page (the dashboard, opening the default
    # store) in every child they start later in this process.
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _checkout_untouched() -> Iterator[None]:
    # A test that opens the default store (./trackboard.db) from the repository's root
    # leaves a database there, which a later test run (or a newer schema) then trips on:
    # such a test must work in its tmp_path (monkeypatch.chdir) or name its store.
    before = (_CHECKOUT / "trackboard.db").exists()
    yield
    made = [p for p in _CHECKOUT.glob("trackboard.db*") if not before]
    for path in made:
        path.unlink(missing_ok=True)
    if made:
        pytest.fail("the test wrote the default store into the checkout: "
                    + ", ".join(p.name for p in made))


@pytest.fixture(autouse=True)
def _no_leaked_writer() -> Iterator[None]:
    # A test that leaves this process's shared writer (writer_for) on a store it cannot
    # reach leaves its points to the interpreter's exit, which then prints "N points
    # could not reach ..." after the test run: give such a Run its own Writer and
    # close it. Every other writer a test started is closed here too: each keeps two
    # threads that wake 15 times a second, and a whole run of the suite left some 300
    # of them (600 threads) contending for the GIL, which made the later Streamlit
    # AppTests crawl and time out.
    from trackboard.storage.db.urls import mask_url
    from trackboard.storage.write import writer

    before = {id(w) for w in writer._every_writer}
    yield
    started = [w for w in list(writer._every_writer) if id(w) not in before and not w._closing]
    leaked = [w for w in started
              if writer._writers.get(w.url) is w and not w.healthy]
    for w in started:
        w.close(timeout=5)
        with writer._writers_lock:
            if writer._writers.get(w.url) is w:
                del writer._writers[w.url]
    if leaked:
        pytest.fail("the test left the shared writer of an unreachable store open: "
                    + ", ".join(mask_url(w.url) for w in leaked))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.PostgresServer]:
    server = postgres.start_postgres()
    try:
        yield server
    finally:
        # Deliver what runs left open by tests still hold before the server goes.
        from trackboard.storage.write.writer import close_all

        close_all(timeout=10)
        postgres.remove(server)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'trackboard.db'}"


@pytest.fixture
def pg_url(pg_server: postgres.PostgresServer) -> str:
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store contract runs against both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trackboard.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database()


# Fixtures that start or use the session's PostgreSQL server, and the parameter values
# that select it: a test that reaches them must carry the `postgres` marker, so that
# `-m "not postgres"` is a suite that never needs the server.
_PG_FIXTURES = {"pg_server", "pg_url"}
_PG_PARAMS = {"postgres", "postgresql"}


def _uses_postgres(item: pytest.Item) -> bool:
    if _PG_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(
        isinstance(v, str) and v in _PG_PARAMS for v in callspec.params.values())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [i.nodeid for i in items
                if _uses_postgres(i) and i.get_closest_marker("postgres") is None]
    if unmarked:
        raise pytest.UsageError(
            "these tests use PostgreSQL without @pytest.mark.postgres (add it, or put "
            "the postgres value in pytest.param(..., marks=pytest.mark.postgres)):\n  "
            + "\n  ".join(unmarked))


@pytest.fixture(autouse=True)
def _postgres_needs_its_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    # The collection check above cannot see request.getfixturevalue("pg_server"):
    # catch that one when the test has run.
    yield
    if _PG_FIXTURES & set(request.fixturenames) and \
            request.node.get_closest_marker("postgres") is None:
        pytest.fail(f"{request.node.nodeid} used PostgreSQL without @pytest.mark.postgres")


# The markers a run may select on. A file whose module-level `pytestmark` already rules
# it out under -m is not even imported: importing torch, Lightning, TensorFlow or
# Transformers alone takes longer than the whole core suite may.
_SELECTION_MARKERS = ("postgres", "browser", "slow")


def _module_marks(path: Path) -> set[str]:
    """The selection markers in a test file's module-level `pytestmark` (read, not run)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return set()
    marks: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks |= {n.attr for n in ast.walk(node.value)
                      if isinstance(n, ast.Attribute) and n.attr in _SELECTION_MARKERS
                      and isinstance(n.value, ast.Attribute) and n.value.attr == "mark"}
    return marks


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    expression = config.getoption("markexpr")
    if not expression or collection_path.suffix != ".py" \
            or not collection_path.name.startswith("test_"):
        return None
    marks = _module_marks(collection_path)
    if not marks:
        return None
    from _pytest.mark.expression import Expression

    compiled = Expression.compile(expression)
    unknown = False

    def matcher(chosen: set[str]) -> Callable[..., bool]:
        def match(name: str, **kwargs: object) -> bool:
            nonlocal unknown
            unknown |= name not in _SELECTION_MARKERS or bool(kwargs)
            return name in chosen
        return match

    # Ignore the file only when no test in it can be selected, whatever other markers
    # its tests add to the module's own.
    others = [m for m in _SELECTION_MARKERS if m not in marks]
    selectable = any(compiled.evaluate(matcher(marks | set(extra)))
                     for r in range(len(others) + 1)
                     for extra in itertools.combinations(others, r))
    return None if selectable or unknown else True


def pytest_report_header(config: pytest.Config) -> str:
    return f"trackboard tests; TRACKBOARD_SPOOL_DIR isolated per test; pid {os.getpid()}"
