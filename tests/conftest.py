"""Shared fixtures: real SQLite files and a real PostgreSQL server for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres


@pytest.fixture(autouse=True)
def _isolated_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Spool files of one test must never be delivered into another test's store.
    monkeypatch.setenv("TRACKBOARD_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("TRACKBOARD_STORE", raising=False)


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


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store contract runs against both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trackboard.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database()


def pytest_report_header(config: pytest.Config) -> str:
    return f"trackboard tests; TRACKBOARD_SPOOL_DIR isolated per test; pid {os.getpid()}"
