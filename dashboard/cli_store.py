"""What every `trackboard` command shares: the --store option, opening the store
first, trackboard's own errors (and database driver errors) as one masked line, and
usage errors (a wrong option, a missing argument) as one line too, all with exit
status 1 (`OneLineErrors`, the group class of `trackboard`).

Every command takes --store (else $TRACKBOARD_STORE, else ./trackboard.db). The
command modules (cli.py, cli_ui, cli_demo, cli_transfer) import these; this
module imports none of them, so the CLI has no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from trackboard.storage.errors import TrackboardError, one_line

STORE_HELP = "Store URL (default: $TRACKBOARD_STORE, else sqlite:///trackboard.db)."


def store_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--store", "store", default=None, metavar="URL", help=STORE_HELP)(f)


def friendly(f: Callable[..., Any]) -> Callable[..., Any]:
    """Show trackboard errors (bad URL, unknown run, old schema...) and database
    driver errors (mapped by storage/db/driver_errors.py) as one masked line, exit 1."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from trackboard.storage.db.driver_errors import store_errors
        from trackboard.storage.db.urls import resolve_url

        try:
            with store_errors(resolve_url(kwargs.get("store"))):
                return f(*args, **kwargs)
        except (TrackboardError, ValueError, OSError) as exc:
            # OSError: an output path that cannot be written, a logdir that cannot be
            # read; its message names the file.
            raise click.ClickException(one_line(exc)) from None
    return wrapper


class OneLineErrors(click.Group):
    """The `trackboard` group: a usage error anywhere below it (an unknown option, a
    bad choice, a missing argument or file) is one line with exit status 1, as every
    other error is, instead of Click's usage text with status 2.

    Click raises usage errors while it parses arguments (`make_context`) and while it
    resolves and parses a sub-command (`invoke`); both pass through here. Asking for
    help (a bare `trackboard export`) still prints the help.
    """

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise usage_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise usage_line(exc) from None


def usage_line(exc: click.UsageError) -> click.ClickException:
    """A usage error as one line (exit status 1) that names the help to read;
    asking for help (no arguments to a group) stays as it is."""
    from click.exceptions import NoArgsIsHelpError

    if isinstance(exc, NoArgsIsHelpError):
        return exc
    where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
    message = " ".join(exc.format_message().split()).rstrip(".")  # Click's may span lines
    return click.ClickException(f"{message}{where}")


def checks_store_unless_spooled(f: Callable[..., Any]) -> Callable[..., Any]:
    """checks_store for `sync`: an unusable store fails in one line, except a store that
    is only unreachable while spool files wait: then sync itself lists them and why."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from trackboard.storage.errors import StoreUnavailableError
        from trackboard.storage.write import spool

        try:
            open_store(kwargs.get("store")).close()
        except StoreUnavailableError:
            if not spool.pending_files(spool.spool_dir(kwargs.get("store"))):
                raise
        return f(*args, **kwargs)
    return wrapper


def checks_store(f: Callable[..., Any]) -> Callable[..., Any]:
    """Open the command's --store first (schema checked), so an unusable store fails
    in one line before the command starts its own work. Place it under @friendly."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        open_store(kwargs.get("store")).close()
        return f(*args, **kwargs)
    return wrapper


def open_store(store: str | None, *, read_only: bool = False) -> Any:
    from trackboard.storage import Store

    return Store(store, read_only=read_only)
