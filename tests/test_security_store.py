"""Read-only stores refuse writes at the connection; passwords never leak into logs."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from trackboard.loggers import Run
from trackboard.storage import ReadOnlyStoreError, Store
from trackboard.storage.writer import Writer


def test_read_only_store_cannot_write(store_url: str) -> None:
    with Run(name="keep-me", store=store_url) as run:
        run.log({"loss": 1.0})
    ro = Store(store_url, read_only=True)
    assert ro.runs()["name"].tolist() == ["keep-me"]
    with pytest.raises(ReadOnlyStoreError):
        ro.rename_run(run.id, "changed")
    with pytest.raises(ReadOnlyStoreError):
        ro.delete_run(run.id)
    # Even SQL that bypasses the API is refused by the connection itself.
    with pytest.raises(DBAPIError, match="(?i)read.?only"):
        with ro.engine.begin() as conn:
            conn.execute(text("UPDATE runs SET name = 'hacked'"))
    assert Store(store_url).runs()["name"].tolist() == ["keep-me"]


def test_read_only_store_of_a_missing_file_is_a_clear_error(tmp_path) -> None:
    from trackboard.storage import StoreUnavailableError

    with pytest.raises(StoreUnavailableError, match="cannot open the store"):
        Store(f"sqlite:///{tmp_path / 'nope.db'}", read_only=True)


def test_writer_reports_outages_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    url = "postgresql+psycopg://alice:pa55w0rd-xyz@127.0.0.1:9/team"
    with caplog.at_level(logging.INFO, logger="trackboard"):
        writer = Writer(url, max_backoff=0.2)
        run = Run(store=url, writer=writer)
        run.log({"loss": 1.0})
        run.finish(timeout=5)
        writer.close(timeout=5)
    assert "unavailable" in caplog.text and "alice:***@" in caplog.text
    assert "pa55w0rd-xyz" not in caplog.text + repr(writer.last_error)


def test_store_repr_and_display_url_mask_passwords(pg_server) -> None:
    url = pg_server.create_database().replace("postgres@", "postgres:topsecret@")
    store = Store(url)  # trust auth accepts any password
    assert "topsecret" not in repr(store) and "topsecret" not in store.display_url
    assert "postgres:***@" in store.display_url
