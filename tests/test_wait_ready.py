"""The container entrypoint's first steps, for real: wait for PostgreSQL, upgrade, exec.

docker/entrypoint.sh runs here with this venv's `python` and `trackboard` on PATH,
against the session's PostgreSQL server, a port nothing listens on, and a server
that only starts while the wait is under way.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trackboard.storage.db.migrate import head_revision
from trackboard.storage.errors import StoreUnavailableError

from tests.support import postgres
from tests.support.compose import ENTRYPOINT
from tests.support.ports import free_port

# A container tool, not part of the package: it sits beside the entrypoint in docker/.
WAIT_READY = ENTRYPOINT.with_name("wait_ready.py")
wait_ready = runpy.run_path(str(WAIT_READY))["wait_ready"]

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SECRET = "pw-not-to-be-shown"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKBOARD_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TRACKBOARD_SPOOL_DIR"] = os.environ["TRACKBOARD_SPOOL_DIR"]
    env.update(extra)
    return env


def _with_password(url: str) -> str:
    # The test server trusts every login; the password is there to be masked.
    return url.replace("postgres@", f"postgres:{SECRET}@", 1)


def _wait_cli(url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(WAIT_READY), *args],
                          env=_env(TRACKBOARD_STORE=url), capture_output=True, text=True,
                          timeout=timeout)


def test_ready_server_answers_at_once(pg_url: str) -> None:
    assert wait_ready(pg_url, timeout=10) < 5
    done = _wait_cli(_with_password(pg_url), "--timeout", "10")
    assert done.returncode == 0, done.stderr
    assert "accepts connections" in done.stdout and SECRET not in done.stdout


def test_nothing_listening_times_out_with_a_clear_error() -> None:
    url = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{free_port()}/trackboard"
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="did not accept connections within 1.5 s"):
        wait_ready(url, timeout=1.5, interval=0.2)
    assert 1.5 <= time.monotonic() - started < 15
    done = _wait_cli(url, "--timeout", "1", "--interval", "0.2")
    assert done.returncode == 1
    assert done.stderr.startswith("error: postgresql+psycopg://postgres:***@127.0.0.1:")
    assert "refused" in done.stderr.lower()
    assert SECRET not in done.stderr + done.stdout


def test_bad_timeout_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        wait_ready("sqlite:///:memory:", timeout=-1)


@pytest.mark.slow
def test_waits_for_a_server_that_starts_later() -> None:
    port = free_port()
    waiter = subprocess.Popen(
        [sys.executable, str(WAIT_READY), "--timeout", "90",
         "--interval", "0.3"],
        env=_env(TRACKBOARD_STORE=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server = None
    try:
        time.sleep(1.5)
        assert waiter.poll() is None, "gave up before the server started"
        server = postgres.start_postgres(port)
        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, err
        assert "accepts connections" in out
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
        if server is not None:
            postgres.remove(server)


def test_entrypoint_waits_then_runs_the_command(pg_url: str, tmp_path: Path) -> None:
    """As compose's one-shot `migrate` service uses it: wait, then `trackboard db upgrade`."""
    owner = _with_password(pg_url)
    done = subprocess.run(["sh", str(ENTRYPOINT), "trackboard", "db", "upgrade"],
                          env=_env(TRACKBOARD_STORE=owner, TRACKBOARD_DB_WAIT_S="20"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    head = head_revision()
    assert "accepts connections" in lines[0]
    assert lines[1].startswith("upgraded postgresql+psycopg://postgres:***@") \
        and lines[1].endswith(f"from schema (empty) to {head}")
    assert SECRET not in done.stdout + done.stderr
    # The dashboard's start: the entrypoint only waits (no upgrade), then runs the command.
    marker = tmp_path / "ran"
    again = subprocess.run(["sh", str(ENTRYPOINT), "sh", "-c",
                            'touch "$MARKER"; trackboard db current'],
                           env=_env(TRACKBOARD_STORE=owner, MARKER=str(marker)),
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "upgraded" not in again.stdout
    assert again.stdout.splitlines()[-1] == f"database: {head}; this trackboard: {head}"
    assert marker.exists()


def test_entrypoint_stops_when_the_database_never_comes(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    url = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{free_port()}/trackboard"
    done = subprocess.run(["sh", str(ENTRYPOINT), "touch", str(marker)],
                          env=_env(TRACKBOARD_STORE=url, TRACKBOARD_DB_WAIT_S="1"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "did not accept connections within 1 s" in done.stderr
    assert not marker.exists(), "the command must not start without a database"
    assert SECRET not in done.stdout + done.stderr


def test_entrypoint_without_a_command_is_a_usage_error() -> None:
    done = subprocess.run(["sh", str(ENTRYPOINT)], env=_env(), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and "usage: entrypoint.sh COMMAND" in done.stderr
