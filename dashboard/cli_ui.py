"""`trackboard ui`: start the Streamlit dashboard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click
from trackboard.dashboard.cli_store import friendly, store_option

# The same defaults as .streamlit/config.toml, passed as flags so an installed
# trackboard (which has no .streamlit folder beside it) looks and binds the same.
THEME = {"theme.base": "light", "theme.primaryColor": "#4C6EF5"}
# The port from the environment, for a service manager (and tests) that start the
# command as written and choose the port elsewhere.
PORT_ENV = "TRACKBOARD_UI_PORT"


def streamlit_command(port: int, host: str) -> list[str]:
    """The streamlit command line `trackboard ui` runs (no secrets in it).

    >>> streamlit_command(8501, "127.0.0.1")[:4]  # doctest: +ELLIPSIS
    ['...', '-m', 'trackboard.dashboard.serve', 'run']
    """
    app = Path(__file__).with_name("app.py")
    flags = {"server.port": str(port), "server.address": host, "server.headless": "true",
             "server.fileWatcherType": "none", "browser.gatherUsageStats": "false",
             "client.toolbarMode": "minimal", **THEME}
    return [sys.executable, "-m", "trackboard.dashboard.serve", "run", str(app),
            *[f"--{k}={v}" for k, v in flags.items()]]


@click.command("ui")
@store_option
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535),
              envvar=PORT_ENV, help=f"Port to listen on (or ${PORT_ENV}).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 serves other machines (set "
                   "TRACKBOARD_PASSWORD then).")
@click.option("--read-only", is_flag=True, help="Open the store read-only; hide all edits.")
@click.option("--export-dir", default=None, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, resolve_path=True),
              help="The Export page writes TensorBoard folders only under DIR (default: "
                   "$TRACKBOARD_EXPORT_DIR). Read-only or beyond 127.0.0.1, without it "
                   "the page writes nothing on this machine.")
@click.option("--visdom-url", default=None, metavar="URL",
              help="The only Visdom server the Export page pushes to, e.g. "
                   "http://127.0.0.1:8097 (default: $TRACKBOARD_VISDOM_URL). Read-only or "
                   "beyond 127.0.0.1, without it the page pushes nowhere.")
@friendly
def ui_cmd(store: str | None, port: int, host: str, read_only: bool,
           export_dir: str | None, visdom_url: str | None) -> None:
    """Start the dashboard in a browser tab's reach: http://HOST:PORT."""
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "the dashboard needs Streamlit: pip install 'trackboard[dashboard]'") from None
    from trackboard.dashboard.auth import PASSWORD_ENV
    from trackboard.dashboard.export_policy import (
        EXPORT_DIR_ENV,
        VISDOM_URL_ENV,
        ExportPolicy,
    )
    from trackboard.storage import Store

    # Open once here so a bad URL or old schema fails now, in one line, not in the page.
    with Store(store, read_only=read_only) as s:
        shown = s.display_url
        url = s.url
    env = dict(os.environ)
    # The URL (password included) travels in the environment, never on a command
    # line that `ps` would show, and is printed only masked.
    env["TRACKBOARD_UI_STORE"] = url
    env["TRACKBOARD_UI_READ_ONLY"] = "1" if read_only else "0"
    if export_dir is not None:
        env[EXPORT_DIR_ENV] = export_dir
    if visdom_url is not None:
        env[VISDOM_URL_ENV] = visdom_url
    # A bad export directory or Visdom URL (flag or environment) fails now, in one line.
    policy = ExportPolicy.from_environment(read_only=read_only, address=host, environ=env)
    if policy.export_dir is not None and not policy.export_dir.is_dir():
        raise click.ClickException(f"export directory {policy.export_dir} does not exist")
    if policy.fenced and not env.get(PASSWORD_ENV) and not read_only:
        click.echo(f"trackboard ui: warning: listening on {host} without {PASSWORD_ENV}: "
                   "anyone who reaches this port can rename and delete runs", err=True)
    click.echo(f"trackboard ui: {shown}{' (read-only)' if read_only else ''} "
               f"at http://{host}:{port}")
    proc = subprocess.Popen(streamlit_command(port, host), env=env)
    # Stopping `trackboard ui` (Ctrl-C, SIGTERM from a service manager) stops the server.
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        sys.exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        sys.exit(proc.wait())
