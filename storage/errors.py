"""The store's own exceptions: callers catch these, never driver errors."""

from __future__ import annotations

# The advice every "not a trackboard store" message ends with.
USE_A_STORE = ("use a trackboard database, or a new file, as the store "
               "(--store, store= or $TRACKBOARD_STORE)")


class TrackboardError(Exception):
    """Base class of every error trackboard raises on purpose."""


class StoreURLError(TrackboardError, ValueError):
    """The store URL is malformed or names a backend we do not support."""


class StoreUnavailableError(TrackboardError):
    """The database cannot be reached (server down, file unreadable, locked too long)."""


class NotATrackboardStoreError(TrackboardError, ValueError):
    """The store URL names something that is not a trackboard database: a file that is
    not a SQLite database, or a database that holds another application's tables."""


class StoreRefusedError(TrackboardError):
    """The database answered but refused the request (permissions, a damaged file, a
    missing table): a problem to fix on the database side, not an outage."""


class SchemaOutdatedError(TrackboardError):
    """The database was created by an older trackboard; it needs `trackboard db upgrade`."""


class SchemaTooNewError(TrackboardError):
    """The database was written by a newer trackboard than this one."""


class RunNotFoundError(TrackboardError, KeyError):
    """No run has this id (or the prefix matches none)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


class AmbiguousRunIdError(TrackboardError, KeyError):
    """A run id prefix matches more than one run."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "ambiguous run id"


class FilterError(TrackboardError, ValueError):
    """A run filter that does not parse, or passes the limits; says where and what was
    expected (storage/read/filters.py):

    >>> from trackboard.storage.read.filters import parse_filter
    >>> try:
    ...     parse_filter("params.lr <")
    ... except FilterError as exc:
    ...     print(exc)
    at position 11: expected a value ("text", a number, true, false or null), got the end
    """

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        self.message = message
        super().__init__(f"at position {position}: {message}")

    def pointer(self) -> str:
        """The filter with a caret under the problem, for a monospace display."""
        return f"{self.text}\n{' ' * self.position}^"


class MissingExtraError(TrackboardError, ImportError):
    """A path needs an optional package that is not installed; says which extra brings it."""


class VisdomUnavailableError(TrackboardError):
    """The Visdom server cannot be reached."""


class ReadOnlyStoreError(TrackboardError):
    """A write was attempted through a store opened read-only."""


# Longer lines are cut (a driver may put a whole statement in one): a report or a
# rejected-record note is read, not parsed; trackboard's own messages stay whole.
ONE_LINE_LIMIT = 1000


def one_line(exc: BaseException, limit: int = ONE_LINE_LIMIT) -> str:
    """An error as one line to print or log, every password in it masked: the one
    rule for the `trackboard` command, the writer's reports and `trackboard sync`.

    trackboard's own errors and ValueErrors (bad input, said for people) read as they
    are; an OSError as its reason and file; any other error keeps its type name, which
    its message often needs (KeyError('x') says only 'x'). Only the first non-blank
    line is kept (a driver's message may go on with DETAIL lines), at most `limit`
    characters.

    >>> one_line(ValueError("bad postgresql://u:pw@h/db\\nDETAIL: more"))
    'bad postgresql://u:***@h/db'
    >>> one_line(KeyError("lr")), one_line(RuntimeError())
    ("KeyError: 'lr'", 'RuntimeError')
    >>> one_line(FileNotFoundError(2, "No such file or directory", "/nope/x.csv"))
    'No such file or directory: /nope/x.csv'
    >>> len(one_line(ValueError("x" * 5000)))
    1000
    """
    # urls.py imports this module (StoreURLError), so masking is imported when used.
    from trackboard.storage.db.urls import mask_text

    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename is not None else "")
    else:
        text = str(exc)
        if not isinstance(exc, (TrackboardError, ValueError)) and text:
            text = f"{type(exc).__name__}: {text}"
    lines = [line.strip() for line in mask_text(text).splitlines() if line.strip()]
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= limit else line[:limit - 1] + "…"
