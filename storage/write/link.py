"""The writer's link to its store: connecting, the outage state machine, heartbeats,
and the replay of spool files once the store is back.

An outage starts at the first failure that waiting can fix (server gone, database
locked: delivery.is_outage); records then go to the spool only, and the store is
retried with a backoff that doubles up to `max_backoff`. It is not reset while the
episode lasts, so a store that flaps is retried less and less. The episode ends once
the store has stayed healthy for `settle_s` seconds: trouble is said once when it
starts and once when it is over, however often the store flaps in between (`report`
says each kind of trouble once per episode, once per writer for most).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import check_schema
from trackboard.storage.db.urls import mask_text, mask_url
from trackboard.storage.errors import TrackboardError, one_line
from trackboard.storage.write import spool
from trackboard.storage.write.delivery import Delivery, Interrupted, is_outage
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import Batch, Record, describe_count

log = logging.getLogger("trackboard")

HEARTBEAT_INTERVAL = 10.0  # seconds between heartbeats of runs that log nothing
SETTLE_S = 5.0  # seconds the store must stay healthy before an outage is over
_EPISODE_KINDS = ("outage", "spool-error", "spill", "replay", "shed")  # said once per episode
_FIRST_BACKOFF = 0.25


class StoreLink:
    """One writer's connection to one store and the episodes of trouble on it. Used
    by the writer thread only (`report` also by the spool guard: a set is enough)."""

    def __init__(self, url: str, spool_directory: Path, header: Callable[[], list[Record]],
                 *, engine_options: dict[str, Any], max_backoff: float,
                 settle_s: float = SETTLE_S,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL,
                 gate: threading.Lock | None = None) -> None:
        self.url = url
        # Held while connecting and while each batch is applied (see fork.py).
        self._gate = gate or threading.Lock()
        self.spool_directory = spool_directory
        self._header = header  # run records for rejected/ files
        self._engine_options = engine_options
        self.max_backoff = max_backoff
        self.settle_s = settle_s
        self.heartbeat_interval = heartbeat_interval
        self.engine: Engine | None = None
        self.ingestor: Ingestor | None = None
        self.delivery: Delivery | None = None
        self.last_error: str | None = None
        self._outage_since: float | None = None  # the store fails now
        self._episode_since: float | None = None  # first failure of the current episode
        self._healthy_since: float | None = None
        self._episode_delivered = 0
        self._episode_media: dict[str, int] = {}
        self._retry_at = 0.0
        self._backoff = _FIRST_BACKOFF
        self._reported: set[str] = set()
        self._last_beat = 0.0

    @property
    def healthy(self) -> bool:
        return self._outage_since is None

    @property
    def ready(self) -> bool:
        """Connected once (schema checked) and not in an outage: records can go in."""
        return self.delivery is not None and self._outage_since is None

    @property
    def points_written(self) -> int:
        return self.delivery.delivered if self.delivery is not None else 0

    # -- connecting ---------------------------------------------------------------------

    def connect(self) -> None:
        """Connect (first time: check the schema), or probe the store during an outage;
        failure starts or continues the outage."""
        try:
            with self._gate:
                self._connect()
        except Exception as exc:
            if isinstance(exc, TrackboardError) and not is_outage(exc):
                self.report("schema", f"trackboard: {exc}")
            self.failed(exc)
            return
        if self._outage_since is not None:
            self._outage_since = None
            self._healthy_since = time.monotonic()

    def _connect(self) -> None:
        if self.engine is None:
            self.engine = build_engine(self.url, **self._engine_options)
        if self.ingestor is None:
            check_schema(self.engine)
            self.ingestor = Ingestor(self.engine, gate=self._gate)
            self.delivery = Delivery(self.ingestor, self.spool_directory, self.report,
                                     self._header)
        else:
            self._probe()

    def retry_due(self) -> bool:
        return self._outage_since is not None and time.monotonic() >= self._retry_at

    def _probe(self) -> None:
        """Raise unless the store takes writes again (on SQLite a read would succeed
        while another process still holds the write lock)."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                with conn.execution_options(sqlite_begin="IMMEDIATE").begin():
                    pass
            else:
                conn.execute(text("SELECT 1"))

    # -- delivering -------------------------------------------------------------------

    def deliver(self, records: list[Record], runs: dict[str, dict[str, Any]]) -> bool:
        """Store `records` (poison set aside by Delivery). False on an outage, which
        then starts: none of them is known to be stored."""
        assert self.delivery is not None
        now = time.time()
        try:
            self.delivery.deliver(records, runs, heartbeat=now)
        except Interrupted as exc:
            self.failed(exc.cause)
            return False
        self._last_beat = now
        return True

    def heartbeat(self, runs: dict[str, dict[str, Any]], live: set[str]) -> None:
        """Keep quiet runs from looking crashed: a heartbeat at least every
        `heartbeat_interval` seconds (10 s)."""
        now = time.time()
        if (now - self._last_beat < self.heartbeat_interval or not live
                or self.ingestor is None or self._outage_since is not None):
            return
        poisoned = self.delivery.poisoned_runs if self.delivery is not None else set()
        batch = Batch(runs={u: runs[u] for u in list(live) if u in runs and u not in poisoned})
        try:
            self.ingestor.apply(batch, heartbeat=now)
            self._last_beat = now
        except Exception as exc:
            if is_outage(exc):
                self.failed(exc)
            else:
                self._last_beat = now  # not worth retrying every cycle
                self.report("heartbeat", f"trackboard: heartbeat refused: {one_line(exc)}")

    def replay_spool(self, batch_points: int) -> None:
        """Deliver every spool file of this store that no live writer holds."""
        assert self.delivery is not None
        for path, why in spool.odd_entries(self.spool_directory):  # never opened
            if spool.set_aside(path, why) is not None:
                log.warning("trackboard: %s in the spool folder is %s; moved to %s",
                            path.name, why, path.parent / spool.REJECTED)
        for path, fh in spool.claimable(self.spool_directory):
            try:
                result = self.delivery.deliver_file(path, batch_points)
            finally:
                fh.close()
            if result.outcome == "rejected":
                log.warning("trackboard: spool file %s: %s; moved to %s", path.name,
                            result.reason, path.parent / spool.REJECTED)
            if result.outcome == "waiting":
                if isinstance(result.cause, BaseException):
                    self.failed(result.cause)
                else:
                    self.report("replay", f"trackboard: spool file {path}: {result.reason}")
                return

    def forget_inherited_files(self) -> None:
        """In a forked child: the rejected/ file being written is the parent's."""
        if self.delivery is not None:
            self.delivery.forget_inherited_files()

    # -- outages and their episodes -------------------------------------------------

    def failed(self, exc: BaseException) -> None:
        """The store failed in a way waiting can fix: an outage starts (or goes on)."""
        self.last_error = one_line(exc)
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
        self._healthy_since = None
        if self._episode_since is None:
            self._episode_since = now
            self._episode_delivered = self.points_written
            self._episode_media = dict(self.delivery.delivered_media) if self.delivery else {}
            self.report("outage", f"trackboard: {mask_url(self.url)} is unavailable "
                        f"({self.last_error}); logging continues into the local spool "
                        f"{self.spool_directory} and is delivered when it is back")
        self._retry_at = now + self._backoff
        # Not reset while the episode lasts: a store that flaps is retried less and less.
        self._backoff = min(self._backoff * 2, self.max_backoff)

    def settle(self) -> None:
        """End the episode once the store has stayed healthy for `settle_s` seconds:
        say once that it is back, and let the next episode's trouble be said again."""
        if (self._episode_since is None or self._healthy_since is None
                or time.monotonic() - self._healthy_since < self.settle_s):
            return
        media = self.delivery.delivered_media if self.delivery is not None else {}
        since = {k: n - self._episode_media.get(k, 0) for k, n in media.items()}
        log.warning("trackboard: %s is back (unavailable for %.1f s, stable since); %s "
                    "delivered since the trouble began", mask_url(self.url),
                    self._healthy_since - self._episode_since,
                    describe_count(self.points_written - self._episode_delivered, since))
        self._episode_since = None
        self._backoff = _FIRST_BACKOFF
        self._reported.difference_update(_EPISODE_KINDS)

    def report(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        """Say each kind of trouble once per episode (once per writer for most), not
        once per point or per retry."""
        if kind in self._reported:
            return
        self._reported.add(kind)
        log.log(level, mask_text(message))

    def close(self, lost: str | None) -> None:
        """Close the rejected/ file and the engine, saying how much was set aside and
        what was lost (`lost`: e.g. "5 points and 1 image were lost", None when
        nothing was)."""
        if self.delivery is not None:
            rejected = self.delivery.close()
            if rejected is not None and self.delivery.rejections > 1:
                self.report("rejected-total", f"trackboard: {self.delivery.rejected_records} "
                            f"record(s) ({self.delivery.rejected_points} points) the store "
                            f"refused are set aside in {rejected}")
        if lost:
            self.report("lost", f"trackboard: {lost} ({self.last_error})")
        if self.engine is not None:
            self.engine.dispose()
