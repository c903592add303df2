"""Commands that print the store URL (`demo`, `ui`) print it masked, also when the
password holds reserved characters typed raw; and the URL still works."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from trackboard.storage import Store

from tests.support.dashboard import ui_server

TRACKBOARD = Path(sys.executable).with_name("trackboard")
PASSWORD = "p@ss:w/rd%40x"
LEAKS = ("p@ss", "w/rd", "%40x", "ss:w")


def _url_with_password(pg_server: object) -> str:
    # The test server trusts local logins: the password is not checked, but a URL cut
    # at the wrong '@' would name the host "ss:w/rd%40x@127.0.0.1" and fail to connect.
    url = pg_server.create_database()  # type: ignore[attr-defined]
    return url.replace("postgres@", f"postgres:{PASSWORD}@")


def _assert_masked(output: str) -> None:
    for leak in LEAKS:
        assert leak not in output, output
    assert "postgres:***@127.0.0.1" in output, output


@pytest.mark.slow
@pytest.mark.postgres
def test_demo_prints_the_store_masked(pg_server: object, tmp_path: Path) -> None:
    url = _url_with_password(pg_server)
    result = subprocess.run([str(TRACKBOARD), "demo", "--fast", "--store", url], cwd=tmp_path,
                            capture_output=True, text=True, timeout=900,
                            env={**os.environ, "KERAS_BACKEND": "torch"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    _assert_masked(output)
    masked = url.replace(PASSWORD, "***")
    assert f"Training the insurance-claims demo into {masked}" in output
    assert (f"Open the dashboard:  trackboard ui --store '{masked}'  "
            "(your password in place of ***)") in output
    with Store(url) as store:
        assert len(store.runs()) == 8


@pytest.mark.slow
@pytest.mark.postgres
def test_ui_prints_the_store_masked(pg_server: object) -> None:
    url = _url_with_password(pg_server)
    Store(url).close()  # a read-only dashboard needs an existing store
    with ui_server(url, "--read-only") as (base, proc):
        with urllib.request.urlopen(base + "/_stcore/health", timeout=10) as resp:
            assert resp.read() == b"ok"
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    _assert_masked(out)
    assert f"trackboard ui: {url.replace(PASSWORD, '***')} (read-only)" in out
