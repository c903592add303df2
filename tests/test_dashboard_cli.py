"""`trackboard ui`: flags, errors, and the store password never printed."""

from __future__ import annotations

import os
import signal
import time
import urllib.request

import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.dashboard.cli_ui import streamlit_command

from tests.support.dashboard import seed, ui_server


def _group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)  # do not leave it running after the test
    return False


def test_ui_help_lists_its_options() -> None:
    out = CliRunner().invoke(cli, ["ui", "--help"]).output
    for flag in ("--store", "--port", "--read-only", "--host"):
        assert flag in out


def test_streamlit_command_binds_loopback_headless() -> None:
    cmd = streamlit_command(8600, "127.0.0.1")
    assert "--server.address=127.0.0.1" in cmd and "--server.port=8600" in cmd
    assert "--server.headless=true" in cmd and cmd[3] == "run" and cmd[4].endswith("app.py")


def test_ui_with_unreachable_store_fails_in_one_masked_line() -> None:
    result = CliRunner().invoke(
        cli, ["ui", "--store", "postgresql+psycopg://bob:hunter2@127.0.0.1:9/none"])
    assert result.exit_code == 1
    assert "hunter2" not in result.output and "cannot open the store" in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
@pytest.mark.slow
def test_ui_serves_the_app_and_masks_the_password(sqlite_url: str, pg_server: object) -> None:
    url = pg_server.create_database()  # type: ignore[attr-defined]
    from sqlalchemy.engine import make_url

    seed(url)
    with_password = make_url(url).set(password="hunter2").render_as_string(hide_password=False)
    with ui_server(with_password, "--read-only") as (base, proc):
        with urllib.request.urlopen(base + "/_stcore/health", timeout=10) as resp:
            assert resp.read() == b"ok"
        proc.terminate()  # only `trackboard ui`: it must stop its Streamlit child
        out, _ = proc.communicate(timeout=30)
        # The child shares the process group (start_new_session): once `trackboard ui`
        # has exited, nothing may be left in that group, and nothing serves the port.
        assert _group_gone(proc.pid, timeout=15), "the Streamlit child outlived `trackboard ui`"
        with pytest.raises(OSError):
            urllib.request.urlopen(base + "/_stcore/health", timeout=5)
    assert "trackboard ui:" in out and "(read-only)" in out and "***" in out
    assert "hunter2" not in out
