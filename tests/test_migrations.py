"""A database made by the first released schema upgrades with `trackboard db upgrade`,
data intact; until then trackboard refuses it with a message naming that command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect, text
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run
from trackboard.storage import NotATrackboardStoreError, SchemaOutdatedError, Store
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import HEAD_REVISION, _config, head_revision
from trackboard.storage.write.writer import Writer

from tests.support.old_layout import write_old_run
from tests.support.schema import newer_schema


def _first_release_db(url: str) -> None:
    engine = build_engine(url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0001")
    write_old_run(engine, "old-run", "legacy", "v1",
                  {"loss": [(s, 1.0 / (s + 1)) for s in range(100)]}, {"lr": 0.01})
    engine.dispose()


def test_outdated_database_is_refused_then_upgraded(store_url: str) -> None:
    _first_release_db(store_url)
    with pytest.raises(SchemaOutdatedError, match="trackboard db upgrade"):
        Store(store_url)
    runs_cli = CliRunner().invoke(cli, ["runs", "--store", store_url])
    assert runs_cli.exit_code == 1 and "trackboard db upgrade" in runs_cli.output
    assert "Traceback" not in runs_cli.output

    # Training against the old database keeps going: points wait in the spool.
    writer = Writer(store_url)
    with Run(name="during-upgrade", store=store_url, writer=writer,
             system_metrics=False) as run:
        run.log({"acc": 0.5})
    writer.close()
    assert writer.points_spooled == 1 and writer.points_written == 0

    result = CliRunner().invoke(cli, ["db", "upgrade", "--store", store_url])
    assert result.exit_code == 0, result.output
    assert f"from schema 0001 to {head_revision()}" in result.output
    engine = build_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        indexes = {i["name"] for i in inspect(conn).get_indexes("runs")}
    engine.dispose()
    assert "ix_runs_status_heartbeat" in indexes

    store = Store(store_url)
    old = store.runs(project="legacy").iloc[0]
    assert old["params.lr"] == 0.01 and old["metrics.loss.last"] == 1.0 / 100
    assert len(store.history(["old-run"])) == 100
    assert CliRunner().invoke(cli, ["sync", "--store", store_url]).exit_code == 0
    assert store.runs().set_index("name").loc["during-upgrade", "metrics.acc.last"] == 0.5
    again = CliRunner().invoke(cli, ["db", "upgrade", "--store", store_url])
    assert "up to date" in again.output


def test_head_revision_constant_is_alembics_head() -> None:
    # check_schema trusts HEAD_REVISION to skip Alembic: a new migration must bump it.
    assert HEAD_REVISION == head_revision()


@pytest.mark.slow
def test_current_database_is_checked_without_importing_alembic(store_url: str) -> None:
    Store(store_url).close()  # creates the schema (through Alembic)
    probe = ("import sys; from trackboard.storage.db.engine import build_engine; "
             "from trackboard.storage.db.migrate import check_schema; "
             "check_schema(build_engine(sys.argv[1])); print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, store_url], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# -- a database of another application --------------------------------------------

def _add_foreign_table(url: str) -> None:
    engine = build_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(text("INSERT INTO customers (id, name) VALUES (1, 'ada')"))
    engine.dispose()


def _tables(url: str) -> set[str]:
    engine = build_engine(url)
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    engine.dispose()
    return names


def test_tables_are_added_beside_foreign_ones_only_when_told(store_url: str) -> None:
    _add_foreign_table(store_url)
    with pytest.raises(NotATrackboardStoreError, match=r"other tables \(customers\)"):
        Store(store_url)
    refused = CliRunner().invoke(cli, ["db", "upgrade", "--store", store_url])
    assert refused.exit_code == 1 and "--allow-foreign-tables" in refused.output
    assert _tables(store_url) == {"customers"}  # nothing added

    allowed = CliRunner().invoke(cli, ["db", "upgrade", "--allow-foreign-tables",
                                       "--store", store_url])
    assert allowed.exit_code == 0, allowed.output
    assert {"customers", "runs", "points_head", "point_chunks",
            "alembic_version"} <= _tables(store_url)
    # From now on it is a trackboard store (with a neighbour): logging works.
    with Run(name="beside", store=store_url) as run:
        run.log({"loss": 0.5})
    assert Store(store_url).runs()["name"].tolist() == ["beside"]
    engine = build_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM customers")).scalars().all() == ["ada"]
    engine.dispose()


def test_another_applications_alembic_history_is_refused_even_when_told(store_url: str) -> None:
    engine = build_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('ae1027a6acf')"))
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(NotATrackboardStoreError, match="another application's schema history"):
        Store(store_url, read_only=True)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--allow-foreign-tables",
                                      "--store", store_url])
    assert result.exit_code == 1 and "another application's schema history" in result.output
    assert _tables(store_url) == {"alembic_version", "invoices"}


def test_newer_schema_is_refused_by_upgrade(store_url: str) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade", "--store", newer_schema(store_url)])
    assert result.exit_code == 1 and "newer trackboard (schema 9999)" in result.output
