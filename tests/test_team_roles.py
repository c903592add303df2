"""The team setup's three PostgreSQL roles, for real (docker/roles.sh + docker/sql/roles.sql).

Least privilege: the owner migrates but is no superuser; a training login (the writer)
logs runs but cannot create tables, read server files or run programs; the dashboard's
role reads and writes nothing. The script runs as compose runs it: on a new volume
(before any table exists) and again at every `up`, on databases that already hold data.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine

from tests.support import postgres
from tests.support.compose import ROLES_SCRIPT

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TRACKBOARD = str(Path(os.sys.executable).with_name("trackboard"))


@dataclass
class Roles:
    server: postgres.PostgresServer
    db: str
    owner: str
    writer: str
    ro: str
    passwords: dict[str, str]

    def url(self, role: str) -> str:
        name = getattr(self, role)
        return (make_url(self.server.url(self.db))
                .set(username=name, password=self.passwords[role])
                .render_as_string(hide_password=False))

    def setup(self, **override: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env.update(PATH=f"{self.server.bindir}{os.pathsep}{env.get('PATH', '')}",
                   PGHOST="127.0.0.1", PGPORT=str(self.server.port), PGUSER="postgres",
                   PGDATABASE=self.db, TRACKBOARD_OWNER_USER=self.owner,
                   TRACKBOARD_WRITER_USER=self.writer, TRACKBOARD_RO_USER=self.ro,
                   TRACKBOARD_OWNER_PASSWORD=self.passwords["owner"],
                   TRACKBOARD_WRITER_PASSWORD=self.passwords["writer"],
                   TRACKBOARD_RO_PASSWORD=self.passwords["ro"])
        env.update(override)
        env = {k: v for k, v in env.items() if v != "<unset>"}
        return subprocess.run(["sh", str(ROLES_SCRIPT)], env=env, capture_output=True,
                              text=True, timeout=60)


@pytest.fixture
def roles(pg_server: postgres.PostgresServer, pg_url: str) -> Iterator[Roles]:
    db = make_url(pg_url).database
    assert db is not None
    tag = uuid.uuid4().hex[:8]
    # Quotes and a semicolon: psql's :'var' quoting must keep each one literal.
    found = Roles(pg_server, db, f"own_{tag}", f"wr_{tag}", f"ro_{tag}",
                  {"owner": f"o'{tag};x", "writer": f'w"{tag}', "ro": f"r {tag}\\"})
    # The test server trusts every login; make these three prove their passwords, as
    # the postgres image does (scram-sha-256), so rotation is tested for real.
    hba = pg_server.datadir / "pg_hba.conf"
    line = f"host {db} {found.owner},{found.writer},{found.ro} 127.0.0.1/32 scram-sha-256\n"
    hba.write_text(line + hba.read_text())
    pg_server.psql("SELECT pg_reload_conf()")
    yield found
    hba.write_text(hba.read_text().replace(line, ""))
    pg_server.psql("SELECT pg_reload_conf()")


def _upgrade_as(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRACKBOARD, "db", "upgrade"], env={**os.environ, "TRACKBOARD_STORE": url},
                          capture_output=True, text=True, timeout=120)


def _log_a_run(url: str) -> str:
    with Run(project="team", name="baseline", config={"lr": 0.1}, store=url,
             system_metrics=False) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
    return run.id


def _refused(url: str, statements: list[str]) -> list[str]:
    """The statements the server refused for lack of privilege (each in its own transaction)."""
    refused = []
    engine = build_engine(url)
    try:
        for statement in statements:
            try:
                with engine.begin() as conn:
                    conn.execute(text("SET TRANSACTION READ WRITE"))
                    conn.execute(text(statement))
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
                    raise
                refused.append(statement)
    finally:
        engine.dispose()
    return refused


# What a training login must never do: create or change tables, read server files, run
# programs on the database server (COPY ... TO PROGRAM is a shell), manage roles.
FORBIDDEN_FOR_WRITER = [
    "CREATE TABLE evil (x int)",
    "ALTER TABLE runs ADD COLUMN evil int",
    "DROP TABLE points_head",
    "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "COPY (SELECT 1) TO PROGRAM 'id > /tmp/trackboard-pwned'",
    "COPY runs (notes) FROM PROGRAM 'id'",
    "COPY runs (notes) FROM '/etc/passwd'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT lo_import('/etc/passwd')",
    "CREATE ROLE evil LOGIN SUPERUSER",
]


def test_new_volume_owner_migrates_writer_logs_reader_reads(roles: Roles) -> None:
    done = roles.setup()  # a new volume: no table exists yet
    assert done.returncode == 0, done.stderr
    upgraded = _upgrade_as(roles.url("owner"))  # the one-shot migrate service
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded" in upgraded.stdout and roles.passwords["owner"] not in upgraded.stdout
    run_id = _log_a_run(roles.url("writer"))  # a training machine
    with Store(roles.url("ro"), read_only=True) as store:
        runs = store.runs()
        assert list(runs["id"]) == [run_id]
        assert runs.loc[0, "metrics.loss.last"] == pytest.approx(0.2)
        assert len(store.history([run_id], keys=["loss"])) == 5
    assert roles.server.psql(
        "SELECT bool_or(rolsuper OR rolcreaterole OR rolcreatedb) FROM pg_roles "
        f"WHERE rolname IN ('{roles.owner}', '{roles.writer}', '{roles.ro}')") == "f"
    assert roles.server.psql(
        f"SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
        f"AND tableowner <> '{roles.owner}'", roles.db) == "0"


def test_training_login_cannot_create_tables_read_files_or_run_programs(roles: Roles) -> None:
    assert roles.setup().returncode == 0
    assert _upgrade_as(roles.url("owner")).returncode == 0
    _log_a_run(roles.url("writer"))
    assert _refused(roles.url("writer"), FORBIDDEN_FOR_WRITER) == FORBIDDEN_FOR_WRITER
    assert not Path("/tmp/trackboard-pwned").exists()
    # The owner migrates, but is no superuser either: no files, no programs.
    server_side = FORBIDDEN_FOR_WRITER[4:]
    assert _refused(roles.url("owner"), server_side) == server_side
    # The dashboard's role writes nothing at all, even with its read-only default lifted.
    reader_writes = ["UPDATE runs SET name = 'hacked'", "DELETE FROM points_head",
                     "INSERT INTO tags VALUES (1, 'k', 'v')", "CREATE TABLE evil (x int)"]
    assert _refused(roles.url("ro"), reader_writes) == reader_writes


def test_rerun_rotates_passwords_and_repairs_a_legacy_database(roles: Roles) -> None:
    # An older deployment: the tables were made by the superuser, and data exists.
    legacy_url = roles.server.url(roles.db)
    run_id = _log_a_run(legacy_url)
    assert roles.setup().returncode == 0
    assert roles.server.psql(
        f"SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
        f"AND tableowner <> '{roles.owner}'", roles.db) == "0", "tables move to the owner"
    old_writer = roles.url("writer")
    roles.passwords["writer"] = "rotated-" + uuid.uuid4().hex[:6]
    again = roles.setup()  # `docker compose up -d` after editing .env
    assert again.returncode == 0, again.stderr
    with pytest.raises(DBAPIError, match="password authentication failed"):
        with build_engine(old_writer).connect():
            pass
    second = _log_a_run(roles.url("writer"))
    with Store(roles.url("ro"), read_only=True) as store:
        assert set(store.runs()["id"]) == {run_id, second}
    assert _upgrade_as(roles.url("owner")).returncode == 0  # owner can alter legacy tables


@pytest.mark.parametrize("override, message", [
    ({"TRACKBOARD_WRITER_PASSWORD": "<unset>"}, "set TRACKBOARD_WRITER_PASSWORD in .env"),
    ({"TRACKBOARD_OWNER_USER": "postgres"}, "must be three different roles"),
    ({"TRACKBOARD_RO_USER": "samename", "TRACKBOARD_WRITER_USER": "samename"},
     "must be three different roles"),
])
def test_bad_setup_fails_loudly_and_changes_nothing(roles: Roles, override: dict[str, str],
                                                   message: str) -> None:
    done = roles.setup(**override)
    assert done.returncode != 0
    assert message in done.stderr
    assert roles.server.psql(
        f"SELECT count(*) FROM pg_roles WHERE rolname IN "
        f"('{roles.owner}', '{roles.writer}', '{roles.ro}', 'samename')") == "0"
    assert roles.server.psql("SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'") == "t"


def test_writer_logs_media_and_the_reader_sees_them(roles: Roles) -> None:
    import numpy as np
    from trackboard.loggers import Histogram, Image, Text
    from trackboard.storage.media.images import decode_image

    assert roles.setup().returncode == 0
    assert _upgrade_as(roles.url("owner")).returncode == 0
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    with Run(project="team", name="media", store=roles.url("writer"),
             system_metrics=False) as run:
        run.log({"w": Histogram([1.0, 2.0, 3.0], bins=3), "img": Image(pixels),
                 "notes": Text("hi")}, step=0)
    with Store(roles.url("ro"), read_only=True) as store:
        assert store.histograms(run.id)["count"].tolist() == [3.0]
        image = store.images(run.id).iloc[0]
        assert (decode_image(store.image_bytes(image["hash"]), 3) == pixels).all()
        assert store.texts(run.id)["text"].tolist() == ["hi"]
