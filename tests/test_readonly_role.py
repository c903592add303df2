"""The dashboard's PostgreSQL role reads everything and can write nothing (for real).

docker/initdb/10-readonly-role.sh runs as the postgres image would run it on a new
volume (before any table exists); docker/sql/readonly-role.sql also runs by hand on a
database that already has tables, as README.team.md shows.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tests.support import postgres
from tests.support.compose import INITDB_SCRIPT, READONLY_SQL
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.engine import build_engine
from trackboard.storage.migrate import upgrade

pytestmark = pytest.mark.postgres

# Quotes and a semicolon: psql's :'var' quoting must keep it one literal.
RO_PASSWORD = "ro'pa\"ss;word"


def _psql_env(server: postgres.PostgresServer, db: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PATH=f"{server.bindir}{os.pathsep}{env.get('PATH', '')}", PGHOST="127.0.0.1",
               PGPORT=str(server.port), POSTGRES_USER="postgres", POSTGRES_DB=db, **extra)
    return env


def _run_initdb_script(server: postgres.PostgresServer, db: str,
                       role: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(INITDB_SCRIPT)], capture_output=True, text=True, timeout=60,
        env=_psql_env(server, db, TRACKBOARD_RO_USER=role, TRACKBOARD_RO_PASSWORD=RO_PASSWORD,
                      TRACKBOARD_RO_SQL=str(READONLY_SQL)))


def _log_a_run(url: str) -> str:
    with Run(project="team", name="baseline", config={"lr": 0.1}, store=url) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
    return run.id


def _role_url(owner_url: str, role: str) -> str:
    return make_url(owner_url).set(username=role).render_as_string(hide_password=False)


def _assert_cannot_write(ro_url: str, run_id: str) -> None:
    engine = build_engine(ro_url)
    try:
        # Lift the role's read-only default: the missing grants must still refuse.
        for statement in ("UPDATE runs SET name = 'hacked'", "DELETE FROM points",
                          "CREATE TABLE evil (x int)"):
            with pytest.raises(DBAPIError, match="permission denied"):
                with engine.begin() as conn:
                    conn.execute(text("SET TRANSACTION READ WRITE"))
                    conn.execute(text(statement))
        # And through the store API the role's default refuses first.
        with Store(ro_url) as store, pytest.raises(Exception, match="read-only transaction"):
            store.rename_run(run_id, "hacked")
    finally:
        engine.dispose()


def test_initdb_role_reads_tables_created_later_and_writes_nothing(
        pg_server: postgres.PostgresServer, pg_url: str) -> None:
    db = make_url(pg_url).database
    role = "ro_" + uuid.uuid4().hex[:8]
    done = _run_initdb_script(pg_server, db, role)  # new volume: no tables yet
    assert done.returncode == 0, done.stderr
    engine = build_engine(pg_url)
    try:
        upgrade(engine)  # what the dashboard's entrypoint does next, as the owner
    finally:
        engine.dispose()
    run_id = _log_a_run(pg_url)  # a training machine, as the owner
    ro_url = _role_url(pg_url, role)
    with Store(ro_url, read_only=True) as store:
        runs = store.runs()
        assert list(runs["id"]) == [run_id]
        assert runs.loc[0, "metrics.loss.last"] == pytest.approx(0.2)
        assert len(store.history([run_id], keys=["loss"])) == 5
    _assert_cannot_write(ro_url, run_id)
    assert pg_server.psql(
        f"SELECT rolpassword IS NOT NULL AND NOT rolsuper AND NOT rolcreaterole "
        f"FROM pg_authid WHERE rolname = '{role}'") == "t"


def test_readonly_sql_by_hand_on_an_existing_database_is_rerunnable(
        pg_server: postgres.PostgresServer, pg_url: str) -> None:
    run_id = _log_a_run(pg_url)  # tables and data exist before the role does
    db = make_url(pg_url).database
    role = "ro_" + uuid.uuid4().hex[:8]
    cmd = ["psql", "--no-psqlrc", "-d", db, "-U", "postgres", "-v", f"ro_user={role}",
           "-v", f"ro_password={RO_PASSWORD}", "-f", str(READONLY_SQL)]
    for _ in range(2):
        done = subprocess.run(cmd, env=_psql_env(pg_server, db), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
    ro_url = _role_url(pg_url, role)
    with Store(ro_url, read_only=True) as store:
        assert store.run(run_id)["params"] == {"lr": 0.1}
    _assert_cannot_write(ro_url, run_id)


def test_readonly_sql_without_a_password_fails_clearly(pg_server: postgres.PostgresServer,
                                                       pg_url: str) -> None:
    db = make_url(pg_url).database
    done = subprocess.run(
        ["psql", "--no-psqlrc", "-d", db, "-U", "postgres", "-v", "ro_user=nobody_ro",
         "-f", str(READONLY_SQL)],
        env=_psql_env(pg_server, db), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "set its password" in done.stderr
    assert pg_server.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'nobody_ro'") == "0"
    init = subprocess.run(["sh", str(INITDB_SCRIPT)], env=_psql_env(pg_server, db),
                          capture_output=True, text=True, timeout=60)
    assert init.returncode != 0 and "set TRACKBOARD_RO_USER in .env" in init.stderr
