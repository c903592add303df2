"""Read-only stores refuse writes at the connection; passwords never leak into logs."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from trackboard.loggers import Run
from trackboard.storage import ReadOnlyStoreError, Store
from trackboard.storage.db.urls import mask_text, mask_url, parse_url
from trackboard.storage.write.writer import Writer

from tests.support.pg_echo import echo_server


def test_read_only_store_cannot_write(store_url: str) -> None:
    with Run(name="keep-me", store=store_url) as run:
        run.log({"loss": 1.0})
    ro = Store(store_url, read_only=True)
    assert ro.runs()["name"].tolist() == ["keep-me"]
    with pytest.raises(ReadOnlyStoreError):
        ro.rename_run(run.id, "changed")
    with pytest.raises(ReadOnlyStoreError):
        ro.delete_run(run.id)
    # Even SQL that bypasses the API is refused by the connection itself.
    with pytest.raises(DBAPIError, match="(?i)read.?only"):
        with ro.engine.begin() as conn:
            conn.execute(text("UPDATE runs SET name = 'hacked'"))
    assert Store(store_url).runs()["name"].tolist() == ["keep-me"]


def test_a_read_only_dashboard_opens_its_store_read_only(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # `trackboard ui --read-only` tells the Streamlit server so through the environment;
    # every page then reads the store data.py opens.
    from trackboard.dashboard import data

    with Run(name="keep-me", store=sqlite_url, system_metrics=False):
        pass
    monkeypatch.setenv(data.STORE_ENV, sqlite_url)
    monkeypatch.setenv(data.READ_ONLY_ENV, "1")
    store = data.current_store()
    assert store.read_only and store.runs()["name"].tolist() == ["keep-me"]
    with pytest.raises(ReadOnlyStoreError):
        store.rename_run(store.runs()["id"][0], "changed")
    with pytest.raises(DBAPIError, match="(?i)read.?only"), store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET name = 'hacked'"))
    monkeypatch.setenv(data.READ_ONLY_ENV, "0")
    assert not data.current_store().read_only
    assert Store(sqlite_url).runs()["name"].tolist() == ["keep-me"]


def test_read_only_store_of_a_missing_file_is_a_clear_error(tmp_path) -> None:
    from trackboard.storage import StoreUnavailableError

    with pytest.raises(StoreUnavailableError, match="cannot open the store"):
        Store(f"sqlite:///{tmp_path / 'nope.db'}", read_only=True)


# Typed raw into URLs, as users paste them: a raw '@', '/' and ':' in the password.
ECHOED = "pa55@w0rd/x:yz"
ECHOED_LEAKS = ("pa55", "w0rd", "x:yz")


def _raw_driver_error(url: str) -> str:
    """What the driver itself says connecting to `url` (no trackboard in between)."""
    engine = create_engine(parse_url(url))
    try:
        with pytest.raises(DBAPIError) as info:
            engine.connect()
    finally:
        engine.dispose()
    return str(info.value)


def _assert_masked(shown: str, user: str) -> None:
    assert f"{user}:***@" in shown, shown
    for leak in ECHOED_LEAKS:
        assert leak not in shown, (leak, shown)


def test_writer_reports_outages_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    # A server (a proxy, say) whose refusal repeats the password: the driver's error
    # really holds it, so the warning and writer.last_error must mask it themselves.
    with echo_server() as server:
        url = server.url("alice", ECHOED)
        assert ECHOED in _raw_driver_error(url)
        with caplog.at_level(logging.INFO, logger="trackboard"):
            writer = Writer(url, max_backoff=0.2)
            run = Run(store=url, writer=writer, system_metrics=False)
            run.log({"loss": 1.0})
            deadline = time.monotonic() + 10
            while len(server.passwords) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)  # the writer retries with backoff
            run.finish(timeout=5)
            writer.close(timeout=5)
    assert len(server.passwords) >= 3 and set(server.passwords) == {ECHOED}
    # Said once for the episode, not once per retry, with the driver's reason masked.
    assert caplog.text.count("is unavailable") == 1, caplog.text
    assert "password authentication failed" in caplog.text and "password=***" in caplog.text
    _assert_masked(caplog.text, "alice")
    assert writer.last_error is not None and "password authentication failed" in writer.last_error
    _assert_masked(writer.last_error, "alice")


def test_a_driver_error_holding_the_password_is_masked_everywhere_it_is_shown(
        sqlite_url: str) -> None:
    from click.testing import CliRunner
    from trackboard.dashboard.cli import cli
    from trackboard.storage import StoreUnavailableError

    with echo_server() as server:
        url = server.url("bob", ECHOED)
        assert ECHOED in _raw_driver_error(url)
        # Store(), as every reader opens it.
        with pytest.raises(StoreUnavailableError) as info:
            Store(url)
        assert "password authentication failed" in str(info.value)
        _assert_masked(str(info.value), "bob")
        # The command line: one line, exit 1.
        result = CliRunner().invoke(cli, ["runs", "--store", url])
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
        assert "password authentication failed" in result.output
        _assert_masked(result.output, "bob")
        # A resuming Run reads the store once; it warns and goes on.
        writer = Writer(url, max_backoff=0.2)
        with pytest.warns(RuntimeWarning, match="cannot check whether run") as warned:
            run = Run(id="resume-me", store=url, writer=writer, system_metrics=False)
        run.finish(timeout=2)
        writer.close(timeout=2)
        message = str(warned[0].message)
        assert "password authentication failed" in message
        _assert_masked(message, "bob")
    assert len(server.passwords) >= 3 and set(server.passwords) == {ECHOED}


@pytest.mark.postgres
def test_store_repr_and_display_url_mask_passwords(pg_server) -> None:
    url = pg_server.create_database().replace("postgres@", "postgres:topsecret@")
    store = Store(url)  # trust auth accepts any password
    assert "topsecret" not in repr(store) and "topsecret" not in store.display_url
    assert "postgres:***@" in store.display_url


# -- masking passwords with reserved characters ------------------------------------

# (password as typed in the URL, the password the driver gets)
RESERVED_PASSWORDS = [
    ("p@ss", "p@ss"),                 # raw '@': SQLAlchemy alone cuts the URL at the first '@'
    ("p@ss@w0rd", "p@ss@w0rd"),
    ("pa:ss", "pa:ss"),
    ("pa/ss", "pa/ss"),
    ("p%40ss", "p@ss"),               # already %-encoded
    ("a@b:c/d%40e?f#g", "a@b:c/d@e?f#g"),
    ("p@ss/w0rd", "p@ss/w0rd"),       # '@' then '/': looks like a host and a path
    ("x@db:5432/y", "x@db:5432/y"),   # looks like a whole authority
    ("hunter2", "hunter2"),
]


@pytest.mark.parametrize(("typed", "real"), RESERVED_PASSWORDS)
@pytest.mark.parametrize(("authority", "host"), [
    ("db.example.org:5432", "db.example.org"), ("127.0.0.1", "127.0.0.1"),
    ("[::1]:5433", "::1"), ("db", "db")])
def test_passwords_with_reserved_characters_are_parsed_and_masked(
        typed: str, real: str, authority: str, host: str) -> None:
    url = f"postgresql+psycopg://bob:{typed}@{authority}/runs"
    parsed = parse_url(url)
    assert (parsed.username, parsed.password, parsed.host, parsed.database) == (
        "bob", real, host, "runs")
    assert mask_url(url) == f"postgresql+psycopg://bob:***@{authority}/runs"
    shown = [mask_url(url), mask_url(parsed), mask_text(f"could not reach {url}: refused"),
             mask_text(f"'{url}'"), mask_text(parsed.render_as_string(hide_password=False))]
    for line in shown:
        assert "bob:***@" in line, line
        rest = line.replace("bob:***@", "")
        for piece in {typed, real, typed[:3], typed[-3:], real[-3:]}:
            assert piece not in rest, (piece, line)


@pytest.mark.parametrize(("text_", "expected"), [
    ("two stores: postgresql://a:x@y@h1/db and postgresql://b:p/q@h2:5/db",
     "two stores: postgresql://a:***@h1/db and postgresql://b:***@h2:5/db"),
    ("host=db user=bob password=s3cr@t dbname=runs", "host=db user=bob password=*** dbname=runs"),
    ("postgresql://bob:pw@h/db?password=zz&sslmode=require",
     "postgresql://bob:***@h/db?password=***&sslmode=require"),
    ("sqlite:////data/team@lab/trackboard.db", "sqlite:////data/team@lab/trackboard.db"),
    ("postgresql://bob@h/db", "postgresql://bob@h/db"),
])
def test_mask_text_hides_every_password_and_nothing_else(text_: str, expected: str) -> None:
    assert mask_text(text_) == expected


@pytest.mark.postgres
def test_raw_at_password_reaches_the_server_and_never_the_log(
        pg_server, caplog: pytest.LogCaptureFixture) -> None:
    # A role with a raw '@' (and ':' and '/') in its password; the test server trusts
    # local logins, so the password's way through parse_url is checked by the host
    # the driver connects to: a wrong cut would make the host "ss:w/rd@127.0.0.1".
    url = pg_server.create_database().replace("postgres@", "postgres:p@ss:w/rd@")
    store = Store(url)
    assert store.runs().empty and "p@ss" not in repr(store)
    # The same URL pointed at a server whose refusal repeats the password: the
    # driver's error holds it, the log and last_error must not.
    with echo_server() as echo, caplog.at_level(logging.INFO, logger="trackboard"):
        writer = Writer(url.replace(f":{pg_server.port}/", f":{echo.port}/"), max_backoff=0.2)
        run = Run(store=writer.url, writer=writer)
        run.log({"loss": 1.0})
        run.finish(timeout=5)
        writer.close(timeout=5)
    assert echo.passwords and set(echo.passwords) == {"p@ss:w/rd"}
    assert "unavailable" in caplog.text and f"postgres:***@127.0.0.1:{echo.port}/" in caplog.text
    assert "password authentication failed" in caplog.text
    assert "p@ss" not in caplog.text and "w/rd" not in caplog.text
    assert "w/rd" not in repr(writer.last_error)
