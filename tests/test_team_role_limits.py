"""What the team roles may not do beyond their tables: change the schema version (after
which every client refuses the store) or connect to any other database of the server.
Real roles from docker/roles.sh on the test PostgreSQL server, set up as compose does:
on a new volume, before the first migration (tests/test_team_roles.py has the rest)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import HEAD_REVISION

from tests.test_team_roles import Roles, _log_a_run, _refused, _upgrade_as, roles  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

VERSION_WRITES = ["UPDATE alembic_version SET version_num = '9999'",
                  "DELETE FROM alembic_version",
                  "INSERT INTO alembic_version VALUES ('9999')",
                  "TRUNCATE alembic_version"]


def _new_volume(roles: Roles) -> str:
    """roles.sh on an empty database, then the migration as the owner, then a run."""
    done = roles.setup()
    assert done.returncode == 0, done.stderr
    upgraded = _upgrade_as(roles.url("owner"))
    assert upgraded.returncode == 0, upgraded.stderr
    return _log_a_run(roles.url("writer"))


def test_only_the_owner_changes_the_schema_version(roles: Roles) -> None:
    run_id = _new_volume(roles)
    # The default privileges for the owner's new tables gave the writer every write
    # on alembic_version, made by the first migration.
    assert _refused(roles.url("writer"), VERSION_WRITES) == VERSION_WRITES
    assert _refused(roles.url("ro"), VERSION_WRITES) == VERSION_WRITES
    assert roles.server.psql("SELECT version_num FROM alembic_version", roles.db) == HEAD_REVISION
    # Reading it is what every client does first: training and the dashboard still work.
    second = _log_a_run(roles.url("writer"))
    with Store(roles.url("ro"), read_only=True) as store:
        assert set(store.runs()["id"]) == {run_id, second}
    # The owner still migrates (and re-running the setup keeps all of this).
    assert roles.setup().returncode == 0
    assert _upgrade_as(roles.url("owner")).returncode == 0
    assert _refused(roles.url("writer"), VERSION_WRITES) == VERSION_WRITES


@pytest.mark.parametrize("database", ["postgres", "template1"])
def test_no_team_role_connects_to_another_database(roles: Roles, database: str) -> None:
    _new_volume(roles)
    for role in ("owner", "writer", "ro"):
        url = make_url(roles.url(role)).set(database=database).render_as_string(
            hide_password=False)
        engine = build_engine(url)
        try:
            with pytest.raises(DBAPIError, match=f'permission denied for database "{database}"'):
                with engine.connect():
                    pass
        finally:
            engine.dispose()
    # The superuser (the image's POSTGRES_USER) keeps its maintenance database.
    assert roles.server.psql("SELECT current_database()", database) == database
