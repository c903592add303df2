"""Wait until a store accepts connections: the first step of the container entrypoint
(docker/entrypoint.sh runs it from beside itself; it is a container tool, not part of
the package, and has nothing to do with `Writer.wait_ready`).

A database container reports "healthy" a moment before it takes TCP connections
from other containers (and restarts once while it initialises a new volume), so
whatever starts beside it retries the connection for a while instead of failing
on the first refusal.

    $ python docker/wait_ready.py --timeout 60     # $TRACKBOARD_STORE
    postgresql+psycopg://trackboard:***@db:5432/trackboard accepts connections (1.4 s)
"""

from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.urls import mask_text, mask_url, parse_url
from trackboard.storage.errors import StoreUnavailableError, TrackboardError

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_INTERVAL_S = 1.0


def wait_ready(store: str | URL | None = None, *, timeout: float = DEFAULT_TIMEOUT_S,
               interval: float = DEFAULT_INTERVAL_S) -> float:
    """Block until the store answers `SELECT 1`; return the seconds it took.

    Every connection failure (refused, unknown host, the server still starting,
    the database not created yet) is retried every `interval` seconds; after
    `timeout` seconds StoreUnavailableError says which store (password masked)
    and the last error. It only connects: it never creates or upgrades a schema.

    >>> wait_ready("sqlite:///:memory:") < 1.0
    True
    """
    if timeout < 0 or interval <= 0:
        raise ValueError("timeout must be >= 0 and interval > 0 (seconds)")
    engine = build_engine(store)
    started = time.monotonic()
    deadline = started + timeout
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return time.monotonic() - started
            except DBAPIError as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreUnavailableError(
                        f"{mask_url(engine.url)} did not accept connections within "
                        f"{timeout:g} s; last error: {mask_text(_first_line(exc.orig))}"
                    ) from None
                time.sleep(min(interval, left))
    finally:
        engine.dispose()


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """`python docker/wait_ready.py`: exit 0 once ready, 1 on timeout."""
    parser = argparse.ArgumentParser(
        prog="wait_ready.py",
        description="Wait until the store accepts connections. The URL comes from "
                    "$TRACKBOARD_STORE (keep passwords off command lines, where ps shows them).")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds to keep trying (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S,
                        help="seconds between tries (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        took = wait_ready(timeout=args.timeout, interval=args.interval)
    except (TrackboardError, ValueError) as exc:
        print(f"error: {mask_text(str(exc))}", file=sys.stderr)
        return 1
    print(f"{mask_url(parse_url(None))} accepts connections ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
