"""`Run()` on a SQLite file that can never be a trackboard store raises ValueError at
once, in the caller, instead of spooling for ever; a new, empty or existing
trackboard file is fine, also while another run writes to it."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest
from trackboard.loggers import Run
from trackboard.storage import NotATrackboardStoreError, Store
from trackboard.storage.db.migrate import check_sqlite_file


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _not_a_database(tmp: Path) -> Path:
    path = tmp / "notes.db"
    path.write_text("these are my notes, not a database\n" * 50)
    return path


def _foreign(tmp: Path) -> Path:
    path = tmp / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    return path


def _damaged(tmp: Path) -> Path:
    # A real SQLite header followed by garbage: sqlite3 opens it, then cannot read it.
    path = tmp / "damaged.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    return path


@pytest.mark.parametrize(("make", "says"), [
    (_not_a_database, "the file is not a SQLite database"),
    (_foreign, r"other tables \(customers\).*--allow-foreign-tables"),
    (_damaged, "not a trackboard store"),
])
def test_run_on_a_file_that_is_not_a_store_raises_at_once(tmp_path: Path, make, says) -> None:
    path = make(tmp_path)
    before = _digest(path)
    started = time.monotonic()
    with pytest.raises(ValueError, match=says) as info:
        Run(store=f"sqlite:///{path}")
    assert isinstance(info.value, NotATrackboardStoreError)
    assert time.monotonic() - started < 2
    assert _digest(path) == before  # the user's file is untouched
    spool = tmp_path / "spool"
    assert not spool.exists() or not any(spool.rglob("*.spool"))


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a directory"):
        Run(store=f"sqlite:///{tmp_path}")


@pytest.mark.parametrize("state", ["missing", "empty", "trackboard"])
def test_new_empty_and_trackboard_files_are_stores(tmp_path: Path, state: str) -> None:
    path = tmp_path / "sub" / "tb.db"
    if state == "empty":
        path.parent.mkdir()
        path.touch()
    elif state == "trackboard":
        Store(f"sqlite:///{path}").close()
    with Run(name=state, store=f"sqlite:///{path}") as run:
        run.log({"loss": 1.0})
    assert Store(f"sqlite:///{path}").runs()["name"].tolist() == [state]


def test_a_store_in_use_by_another_run_passes_the_check(sqlite_url: str) -> None:
    with Run(name="first", store=sqlite_url) as first:
        first.log({"loss": 1.0})
        first.flush()
        # The first run's writer holds the database open in WAL mode.
        check_sqlite_file(sqlite_url)
        with Run(name="second", store=sqlite_url) as second:
            second.log({"loss": 2.0})
    assert sorted(Store(sqlite_url).runs()["name"]) == ["first", "second"]


def test_store_calls_raise_trackboard_errors_not_driver_errors(sqlite_url: str) -> None:
    from trackboard.storage import StoreRefusedError, TrackboardError

    with Run(name="r", store=sqlite_url) as run:
        run.log({"loss": 1.0})
    store = Store(sqlite_url)
    # Someone damages the store behind trackboard's back.
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        conn.execute("DROP TABLE tags")
    with pytest.raises(StoreRefusedError, match="refused the request: no such table: tags"):
        store.runs()
    with pytest.raises(TrackboardError):
        store.set_tags(run.id, {"a": "b"})
    assert store.runs(tags=False)["name"].tolist() == ["r"]  # the rest still works


def test_the_check_keeps_sqlites_locks_held_in_this_process(tmp_path: Path) -> None:
    # Closing any descriptor of a SQLite file drops every POSIX lock this process holds
    # on it, so the check must never open the file itself, only through SQLite.
    import subprocess
    import sys

    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA user_version = 1")  # a database with no tables yet
    holder.execute("BEGIN IMMEDIATE")  # this process holds the write lock
    try:
        check_sqlite_file(f"sqlite:///{path}")
        probe = ("import sqlite3, sys\n"
                 "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
                 "try:\n    c.execute('BEGIN IMMEDIATE'); print('got the lock')\n"
                 "except sqlite3.OperationalError as e:\n    print(e)\n")
        out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True,
                             text=True, timeout=60)
        assert out.stdout.strip() == "database is locked", out
    finally:
        holder.execute("ROLLBACK")
        holder.close()
