"""Server-side exports of a read-only or network-facing dashboard stay fenced.

TensorBoard folders only under the export directory, Visdom pushes only to the
configured server; CSV/Parquet downloads to the browser are never fenced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest
from trackboard.dashboard.cli import cli
from trackboard.dashboard.export_policy import (
    ExportPolicy,
    ExportRefused,
    is_loopback,
    parse_visdom_url,
)
from trackboard.loggers import Run

from tests.support.dashboard import APP
from tests.support.ports import free_port
from tests.support.servers import visdom_server

PAGE = str(APP.parent / "views" / "export.py")


# --- the policy (pure) -------------------------------------------------------------------

@pytest.fixture
def fenced(tmp_path: Path) -> ExportPolicy:
    (tmp_path / "exports").mkdir()
    return ExportPolicy(fenced=True, export_dir=tmp_path / "exports", visdom_url=None)


def test_folders_inside_the_export_directory_are_allowed(fenced: ExportPolicy) -> None:
    base = fenced.export_dir.resolve()  # type: ignore[union-attr]
    assert fenced.tensorboard_dir("tb") == base / "tb"
    assert fenced.tensorboard_dir("a/../b/c") == base / "b" / "c"
    assert fenced.tensorboard_dir(str(base / "abs")) == base / "abs"


@pytest.mark.parametrize("typed", ["..", "../escape", "tb/../../escape", "/tmp/elsewhere",
                                   "/", "~/x"])
def test_folders_escaping_the_export_directory_are_refused(fenced: ExportPolicy,
                                                           typed: str) -> None:
    if typed == "~/x" and Path("~/x").expanduser() == Path("~/x"):
        pytest.skip("no home directory")
    with pytest.raises(ExportRefused, match="outside the export directory") as err:
        fenced.tensorboard_dir(typed if typed != "~/x" else str(Path(typed).expanduser()))
    assert "no '..', no absolute path elsewhere, no symlink leading out" in str(err.value)


def test_symlinks_leading_out_are_refused(fenced: ExportPolicy, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    base = fenced.export_dir
    assert base is not None
    (base / "link").symlink_to(outside, target_is_directory=True)
    (base / "inner").mkdir()
    (base / "link_in").symlink_to(base / "inner", target_is_directory=True)
    with pytest.raises(ExportRefused, match="outside the export directory"):
        fenced.tensorboard_dir("link")
    with pytest.raises(ExportRefused, match="outside the export directory"):
        fenced.tensorboard_dir("link/sub")
    assert fenced.tensorboard_dir("link_in/sub") == base.resolve() / "inner" / "sub"


def test_fenced_without_configuration_exports_nothing_on_the_server() -> None:
    policy = ExportPolicy.from_environment(read_only=False, address="0.0.0.0", environ={})
    assert policy.fenced and not policy.tensorboard_allowed and not policy.visdom_allowed
    with pytest.raises(ExportRefused, match="--export-dir"):
        policy.tensorboard_dir("tb")
    with pytest.raises(ExportRefused, match="--visdom-url"):
        policy.visdom_target("http://evil.example", 80)


@pytest.mark.parametrize(("read_only", "address", "fenced"), [
    (False, "127.0.0.1", False), (False, "localhost", False), (False, "::1", False),
    (True, "127.0.0.1", True), (False, "0.0.0.0", True), (False, "", True),
    (False, None, True), (False, "10.0.0.5", True), (False, "dashboard.example", True)])
def test_fenced_when_read_only_or_beyond_loopback(read_only: bool, address: str | None,
                                                  fenced: bool) -> None:
    policy = ExportPolicy.from_environment(read_only=read_only, address=address, environ={})
    assert policy.fenced is fenced
    assert is_loopback(address) is (address in ("127.0.0.1", "localhost", "::1"))


def test_a_configured_export_directory_fences_a_private_dashboard_too(tmp_path: Path) -> None:
    policy = ExportPolicy.from_environment(
        read_only=False, address="127.0.0.1", environ={"TRACKBOARD_EXPORT_DIR": str(tmp_path)})
    assert not policy.fenced and policy.export_dir == tmp_path
    with pytest.raises(ExportRefused, match="outside the export directory"):
        policy.tensorboard_dir("../elsewhere")
    unconfigured = ExportPolicy.from_environment(read_only=False, address="127.0.0.1",
                                                 environ={})
    assert unconfigured.tensorboard_dir("../elsewhere") == Path("../elsewhere")


def test_configured_visdom_server_is_the_only_target() -> None:
    env = {"TRACKBOARD_VISDOM_URL": "http://visdom:8097"}
    for address in ("127.0.0.1", "0.0.0.0"):
        policy = ExportPolicy.from_environment(read_only=True, address=address, environ=env)
        assert policy.visdom_target("http://evil.example", 80) == ("http://visdom", 8097)


@pytest.mark.parametrize("bad", ["visdom:8097", "ftp://h:1", "http://:80", "http://h:99999",
                                 "http://h:8097/path"])
def test_bad_visdom_urls_are_refused_with_the_expected_form(bad: str) -> None:
    with pytest.raises(ValueError, match="give it as http://HOST:PORT"):
        parse_visdom_url(bad)


# --- the Export page -----------------------------------------------------------------------

@pytest.fixture
def page_env(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
             ) -> Iterator[tuple[list[str], Path]]:
    ids = []
    for i in range(2):
        with Run(project="page", name=f"run{i}", store=sqlite_url) as run:
            for step in range(5):
                run.log({"loss": 1.0 / (step + 1)})
        ids.append(run.id)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    for name in ("TRACKBOARD_PASSWORD", "TRACKBOARD_EXPORT_DIR", "TRACKBOARD_VISDOM_URL"):
        monkeypatch.delenv(name, raising=False)
    exports = tmp_path / "exports"
    exports.mkdir()
    # AppTest runs the page in this process: the listen address is this process's option.
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    yield ids, exports
    st_config.set_option("server.address", before)


def _page(ids: list[str]) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = ",".join(ids)
    return at.run()


@pytest.mark.slow
def test_read_only_without_configuration_offers_downloads_only(
        page_env: tuple[list[str], Path]) -> None:
    ids, _ = page_env
    at = _page(ids)
    assert not at.exception
    assert [b.key for b in at.button] == []  # no TensorBoard or Visdom button
    infos = " ".join(i.value for i in at.info)
    assert "--export-dir" in infos and "--visdom-url" in infos
    assert len(at.get("download_button")) == 1  # downloads to the browser stay


@pytest.mark.slow
def test_read_only_writes_only_inside_the_export_directory(
        page_env: tuple[list[str], Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
        ) -> None:
    ids, exports = page_env
    monkeypatch.setenv("TRACKBOARD_EXPORT_DIR", str(exports))
    outside = tmp_path / "outside"
    outside.mkdir()
    (exports / "sneaky").symlink_to(outside, target_is_directory=True)
    at = _page(ids)
    for typed in ("../escaped", str(outside / "abs"), "sneaky/tb"):
        at.text_input(key="export_tb_dir").set_value(typed)
        at.button(key="export_tb").click().run()
        assert not at.exception and not at.success
        assert "outside the export directory" in at.error[0].value.replace("\\", "")
    assert list(outside.iterdir()) == [] and not (tmp_path / "escaped").exists()
    at.text_input(key="export_tb_dir").set_value("team/tb")
    at.button(key="export_tb").click().run()
    assert "exported 2 run" in at.success[0].value
    assert len(list((exports / "team" / "tb").rglob("*tfevents*"))) == 2


@pytest.mark.slow
def test_listening_beyond_loopback_fences_a_writable_dashboard(
        page_env: tuple[list[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    ids, _ = page_env
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "0")
    assert [b.key for b in _page(ids).button] == ["export_tb", "export_vis"]  # loopback
    st_config.set_option("server.address", "0.0.0.0")
    at = _page(ids)
    assert [b.key for b in at.button] == [] and len(at.get("download_button")) == 1


@pytest.mark.slow
def test_fenced_visdom_push_goes_to_the_configured_server_only(
        page_env: tuple[list[str], Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
        ) -> None:
    ids, _ = page_env
    with visdom_server(tmp_path / "visdom", tmp_path / "visdom.log") as port:
        monkeypatch.setenv("TRACKBOARD_VISDOM_URL", f"http://127.0.0.1:{port}")
        at = _page(ids)
        # Server and port are shown, not editable: only the environment can be typed.
        assert at.text_input(key="export_vis_server_fixed").disabled
        assert at.number_input(key="export_vis_port_fixed").value == port
        assert "export_vis_server" not in [t.key for t in at.text_input]
        at.text_input(key="export_vis_env").set_value("fenced")
        at.button(key="export_vis").click().run()
        assert not at.exception and not at.error
        assert f"127.0.0.1:{port}" in at.success[0].value.replace("\\", "")
        import visdom

        vis = visdom.Visdom(server="http://127.0.0.1", port=port, env="fenced",
                            raise_exceptions=True, use_incoming_socket=False)
        assert "fenced" in vis.get_env_list()


# --- `trackboard ui` flags -------------------------------------------------------------------

def test_ui_help_lists_the_export_flags() -> None:
    out = CliRunner().invoke(cli, ["ui", "--help"]).output
    assert "--export-dir" in out and "--visdom-url" in out


def test_ui_refuses_a_bad_visdom_url_or_missing_export_dir_in_one_line(
        sqlite_url: str, tmp_path: Path) -> None:
    Run(project="p", store=sqlite_url).finish()
    bad = CliRunner().invoke(cli, ["ui", "--store", sqlite_url, "--visdom-url", "visdom:8097",
                                   "--port", str(free_port())])
    assert bad.exit_code != 0 and "give it as http://HOST:PORT" in bad.output
    assert "Traceback" not in bad.output
    missing = CliRunner().invoke(cli, ["ui", "--store", sqlite_url, "--export-dir",
                                       str(tmp_path / "nope"), "--port", str(free_port())])
    assert missing.exit_code != 0 and "does not exist" in missing.output
    env_missing = CliRunner().invoke(cli, ["ui", "--store", sqlite_url, "--port",
                                           str(free_port())],
                                     env={**os.environ,
                                          "TRACKBOARD_EXPORT_DIR": str(tmp_path / "gone")})
    assert env_missing.exit_code == 1 and "does not exist" in env_missing.output
