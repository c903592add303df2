"""What every `trackboard` command shares: the --store option, opening the store
first, and trackboard's own errors (and database driver errors) as one masked line.

Every command takes --store (else $TRACKBOARD_STORE, else ./trackboard.db). The
command modules (cli.py, cli_ui, cli_demo, cli_transfer) import these; this
module imports none of them, so the CLI has no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from trackboard.storage.db.urls import mask_text
from trackboard.storage.errors import TrackboardError

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


def one_line(exc: BaseException) -> str:
    """An error as one masked line (a driver's message may span several).

    >>> one_line(ValueError("bad postgresql://u:pw@h/db\\nDETAIL: more"))
    'bad postgresql://u:***@h/db'
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return mask_text(lines[0] if lines else type(exc).__name__)


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
