"""Every `trackboard` command against a store it cannot use prints ONE line, exits 1,
shows no traceback and never the password.

The real command runs in a subprocess (as a user runs it) against real stores: a
text file named like a database, a SQLite database of another application, a
trackboard database of a newer and of an older schema, a PostgreSQL port nobody
listens on, and on the real PostgreSQL server a database of another application and
one of a newer schema, all reached through a URL whose password holds reserved
characters (a raw '@', ':' and '/', and an encoded %40).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from alembic import command
from sqlalchemy.engine import make_url
from trackboard.dashboard.cli import cli
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import _config

from tests.support.ports import free_port
from tests.support.schema import newer_schema

TRACKBOARD = Path(sys.executable).with_name("trackboard")
PASSWORD = "S3cr@t:pa/ss%40w"
# Pieces of the password that must never appear in any output.
LEAKS = ("S3cr", "pa/ss", "%40w", "t:pa")

# Each command of the CLI, with the arguments it needs besides --store.
COMMANDS: dict[str, list[str]] = {
    "runs": ["runs"],
    "show": ["show", "abcd1234"],
    "db current": ["db", "current"],
    "db upgrade": ["db", "upgrade"],
    "db downgrade": ["db", "downgrade", "0004"],
    "sync": ["sync"],
    "export tensorboard": ["export", "tensorboard", "{tmp}/tb"],
    "export csv": ["export", "csv", "{tmp}/points.csv"],
    "export parquet": ["export", "parquet", "{tmp}/points.parquet"],
    "export visdom": ["export", "visdom", "--port", "{port}"],
    "import tensorboard": ["import", "tensorboard", "{tmp}/logs"],
    "ui": ["ui", "--port", "{port}"],
    "demo": ["demo", "--fast"],
}


# -- the situations: each builds a store and returns its URL -------------------------

def _not_a_database(tmp: Path) -> str:
    (tmp / "x.db").write_text("name,score\nada,3\n")
    return f"sqlite:///{tmp / 'x.db'}"


def _foreign_sqlite(tmp: Path) -> str:
    import sqlite3

    with sqlite3.connect(tmp / "shop.db") as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    return f"sqlite:///{tmp / 'shop.db'}"


def _older_schema(tmp: Path) -> str:
    url = f"sqlite:///{tmp / 'old.db'}"
    engine = build_engine(url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0001")
    engine.dispose()
    return url


def _with_password(url: str) -> str:
    # Written raw on purpose: users paste passwords into URLs without %-encoding them.
    u = make_url(url)
    return (f"{u.drivername}://{u.username}:{PASSWORD}@{u.host}:{u.port}/{u.database}")


def _unreachable(_tmp: Path) -> str:
    return f"postgresql+psycopg://bob:{PASSWORD}@127.0.0.1:{free_port()}/runs"


def _pg_foreign(_tmp: Path, request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("pg_server")
    url = server.create_database()
    server.psql("CREATE TABLE customers (id serial PRIMARY KEY, name text)",
                db=make_url(url).database)
    # The test server trusts local logins, so the password reaches the server and every
    # message without being checked: what matters here is where it shows.
    return _with_password(url)


def _pg_newer(_tmp: Path, request: pytest.FixtureRequest) -> str:
    return _with_password(newer_schema(request.getfixturevalue("pg_server").create_database()))


# name: (builder(tmp_path, request) -> store URL, what the one line must say)
SITUATIONS: dict[str, tuple[Callable[[Path, pytest.FixtureRequest], str], str]] = {
    "not-a-database": (lambda tmp, _: _not_a_database(tmp), "the file is not a SQLite database"),
    "foreign-sqlite": (lambda tmp, _: _foreign_sqlite(tmp), "it holds other tables (customers)"),
    "newer-schema": (lambda tmp, _: newer_schema(f"sqlite:///{tmp / 'new.db'}"),
                     "written by a newer trackboard (schema 9999)"),
    "older-schema": (lambda tmp, _: _older_schema(tmp), "trackboard db upgrade"),
    "unreachable-server": (lambda tmp, _: _unreachable(tmp),
                           "cannot open the store postgresql+psycopg://bob:***@"),
    "pg-foreign": (_pg_foreign, "it holds other tables (customers)"),
    "pg-newer-schema": (_pg_newer, "written by a newer trackboard (schema 9999)"),
}
PG_SITUATIONS = ("pg-foreign", "pg-newer-schema")
USERS_FILES = ("not-a-database", "foreign-sqlite")  # must stay byte for byte as they were


def _run(args: list[str], store: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    port = str(free_port())
    argv = [a.format(tmp=cwd, port=port) for a in args]
    (cwd / "logs").mkdir(exist_ok=True)
    return subprocess.run([str(TRACKBOARD), *argv, "--store", store], cwd=cwd,
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _cases() -> list:  # type: ignore[type-arg]
    out = []
    for situation in SITUATIONS:
        marks = [pytest.mark.slow]
        if situation in PG_SITUATIONS:
            marks.append(pytest.mark.postgres)
        for name in COMMANDS:
            out.append(pytest.param(situation, name, marks=marks, id=f"{situation}:{name}"))
    return out


@pytest.mark.parametrize(("situation", "name"), _cases())
def test_command_fails_in_one_masked_line(situation: str, name: str, tmp_path: Path,
                                          request: pytest.FixtureRequest) -> None:
    store = SITUATIONS[situation][0](tmp_path, request)
    user_file = Path(store.removeprefix("sqlite:///"))
    before = user_file.read_bytes() if situation in USERS_FILES else b""
    started = time.monotonic()
    result = _run(COMMANDS[name], store, tmp_path)
    if situation in USERS_FILES:
        assert user_file.read_bytes() == before, "the user's file was changed"
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    for leak in LEAKS:
        assert leak not in output, output
    assert "Traceback" not in output, output
    if situation == "older-schema" and name == "db upgrade":
        # The one command meant for an older schema: it upgrades it.
        assert result.returncode == 0 and lines == [
            f"upgraded {store} from schema 0001 to {_head()}"], output
        return
    assert result.returncode == 1, output
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ") and SITUATIONS[situation][1] in lines[0], output
    if situation == "older-schema" and name == "db current":
        assert lines[0].startswith(f"Error: database: 0001; this trackboard: {_head()}")
    # One line, and at once: no command trains, serves or retries before it fails.
    assert time.monotonic() - started < 60


def _head() -> str:
    from trackboard.storage.db.migrate import head_revision

    return head_revision()


def _command_paths(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        path = f"{prefix}{name}"
        out.extend(_command_paths(cmd, path + " ") if isinstance(cmd, click.Group) else [path])
    return out


def test_the_matrix_covers_every_command() -> None:
    assert sorted(_command_paths(cli)) == sorted(COMMANDS)


@pytest.mark.postgres
def test_a_login_without_grants_is_refused_in_one_line(pg_server, tmp_path: Path) -> None:
    url = pg_server.create_database()
    Store(url).close()
    role = "nogrants_" + make_url(url).database.removeprefix("tb_")
    pg_server.psql(f"CREATE ROLE {role} LOGIN")
    store = _with_password(url).replace("//postgres:", f"//{role}:")
    result = _run(["runs"], store, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and len(output.strip().splitlines()) == 1, output
    assert f"Error: the store postgresql+psycopg://{role}:***@" in output
    assert "refused the request: permission denied for table alembic_version" in output
    for leak in LEAKS:
        assert leak not in output


@pytest.mark.slow
def test_sync_to_an_unreachable_store_lists_the_files_that_wait(tmp_path: Path) -> None:
    # The one exception to "one line": when points wait in the spool, sync says which
    # files wait and why (still exit 1, still masked).
    from trackboard.loggers import Run
    from trackboard.storage.write.writer import Writer

    store = _unreachable(tmp_path)
    writer = Writer(store, max_backoff=0.2)
    run = Run(name="offline", store=store, writer=writer)
    run.log({"loss": 1.0})
    run.finish(timeout=3)
    writer.close(timeout=3)
    result = _run(["sync"], store, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "still waiting" in output, output
    assert "Traceback" not in output and "bob:***@" in output
    for leak in LEAKS:
        assert leak not in output
