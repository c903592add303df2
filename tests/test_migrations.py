"""A database made by the first released schema upgrades with `trackboard db upgrade`,
data intact; until then trackboard refuses it with a message naming that command."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect, text

from trackboard.dashboard.cli import cli
from trackboard.loggers import Run
from trackboard.storage import SchemaOutdatedError, Store
from trackboard.storage.engine import build_engine
from trackboard.storage.ingest import Ingestor
from trackboard.storage.migrate import HEAD_REVISION, _config, head_revision
from trackboard.storage.records import PARAMS, POINTS, Batch
from trackboard.storage.writer import Writer


def _first_release_db(url: str) -> None:
    engine = build_engine(url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0001")
    rec = {"uid": "old-run", "project": "legacy", "name": "v1", "created_at": time.time(),
           "status": "finished"}
    Ingestor(engine).apply(Batch(runs={"old-run": rec},
                                 points=[(POINTS, "old-run", s, time.time(), {"loss": 1.0 / (s + 1)})
                                         for s in range(100)],
                                 params=[(PARAMS, "old-run", {"lr": "0.01"})]))
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
    with Run(name="during-upgrade", store=store_url, writer=writer) as run:
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


def test_current_database_is_checked_without_importing_alembic(store_url: str) -> None:
    Store(store_url).close()  # creates the schema (through Alembic)
    probe = ("import sys; from trackboard.storage.engine import build_engine; "
             "from trackboard.storage.migrate import check_schema; "
             "check_schema(build_engine(sys.argv[1])); print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, store_url], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
