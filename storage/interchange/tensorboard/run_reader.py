"""The events of one run after another -> store records, in big batches.

RunReader reads a run's event files in order with TensorBoard's record iterator
(TensorFlow's C++ reader when TensorFlow is installed, TensorBoard's pure-Python
one otherwise), skips the records it leaves out (audio, other plugins' tensors) by a
wire-format peek (wire.py), decodes the rest with Event.FromString and keeps what
they hold in an ImportedRun (imported_run.py) until the run is read (or its held
points or media bytes reach their bound). importer.py walks the logdir.

Records go to the store through the writer's Delivery (storage/write/delivery.py), the
one door every way into the store takes: the store's rules are checked there, and a
record they (or the database) refuse is set aside in the store's spool folder's
rejected/ and reported, while everything else is imported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from trackboard.storage.interchange.tensorboard.imported_run import ImportedRun
from trackboard.storage.interchange.tensorboard.wire import WireError, peek_summary
from trackboard.storage.rules import check_key
from trackboard.storage.write.delivery import Delivery, Interrupted
from trackboard.storage.write.records import HISTOGRAM, IMAGE, PURGE, RUN, TEXT, Batch, Record

# Records longer than this are peeked at first: scalar events are tens of bytes,
# images and histograms kilobytes.
_PEEK_MIN_BYTES = 256
# Bytes of media a run holds before handing them over, and a batch carries before it
# goes to the store: images are up to 16 MiB each, and a logdir may hold gigabytes.
HOLD_MEDIA_BYTES = 64 * 2**20


class RunReader:
    """Turns the events of one run after another into store records, in big batches.

    A run's points stay in memory until the run is read (up to `hold_points`), so
    that a restart later in the run can still remove the points it supersedes.
    """

    def __init__(self, delivery: Delivery, project: str, batch_points: int, bar: Any,
                 warn: Callable[[str], None], hold_points: int) -> None:
        self.delivery = delivery
        self.project = project
        self.batch_points = batch_points
        self.hold_points = hold_points
        self.bar = bar
        self.warn = warn
        self.batch = Batch()
        self.runs: dict[str, dict[str, Any]] = {}  # run records, for batches split up
        self.pending = 0
        self.pending_bytes = 0
        self.points = 0  # stored
        # Media records handed to the store, by kind (HISTOGRAM, IMAGE, TEXT).
        self.media = {HISTOGRAM: 0, IMAGE: 0, TEXT: 0}
        self._bad_keys: dict[str, str] = {}  # tag -> why the store refuses it

    def flush(self) -> None:
        if self.batch:
            self._deliver(self.batch.records())
        self.batch = Batch()
        self.pending = 0
        self.pending_bytes = 0

    def _deliver(self, records: list[Record]) -> None:
        try:
            self.points += self.delivery.deliver(records, self.runs)
        except Interrupted as exc:  # the store went away: the import stops, as before
            raise exc.cause from None

    def _hand_over(self, state: ImportedRun) -> None:
        """Move the run's held points and media into the batch (and the batch to the
        store when full); the values of tags the store refuses go to rejected/ instead."""
        kept = [rec for rec in state.held if rec is not None]
        count = sum(len(rec[4]) for rec in kept)
        self.batch.points.extend(kept)
        self.pending += count
        for tag, records in state.refused.items():
            self.delivery.set_aside(records, f"tag {tag[:60]!r}: {self._bad_keys[tag]}")
        self.batch.media.extend(state.media.records)
        self.pending_bytes += state.media.bytes
        for rec in state.media.records:
            self.media[rec[0]] += 1
        state.handed_over()
        if self.pending >= self.batch_points or self.pending_bytes >= HOLD_MEDIA_BYTES:
            self.flush()

    def _purge_written(self, state: ImportedRun, step: int) -> None:
        """A restart reaching points already written: remove them from the store too.

        Everything of this run in the store was logged before the restart (file
        order), and delivered in that order the purge removes all of it at steps >=
        `step`. Its stamp is below every wall time, so the points that follow the
        restart, which the store judges by their stamps (their wall times here),
        are all kept.
        """
        self._hand_over(state)
        self.flush()
        self._deliver([(PURGE, state.uid, step, -math.inf)])
        state.written_step = {tag: min(last, step - 1)
                              for tag, last in state.written_step.items()}

    def read(self, uid: str, name: str, files: list[Path]) -> bool:
        """Read one run; False when none of its files held a single event."""
        from google.protobuf.message import DecodeError
        from tensorboard.compat.proto import event_pb2

        parse = event_pb2.Event.FromString
        start = event_pb2.SessionLog.START
        state = ImportedRun(uid, name, self._check_key, self.warn, self.hold_points)
        for path in files:
            done = 0
            try:
                for raw in _records(path):
                    size = len(raw)
                    done += size + 16  # payload + TFRecord framing
                    if done > 1 << 20:
                        self.bar.update(done)
                        done = 0
                    if size > _PEEK_MIN_BYTES and state.created is not None:
                        try:
                            wall, values = peek_summary(raw)
                        except WireError:
                            pass  # the parser below reports it
                        else:
                            if values is not None and state.bulky_only(values):
                                if wall > state.last_wall:
                                    state.last_wall = wall
                                continue
                    try:
                        event = parse(raw)
                    except DecodeError:
                        self.warn(f"{path}: skipped a record that is not a TensorBoard event")
                        continue
                    wall = event.wall_time
                    if state.created is None:
                        state.created = wall
                        self.runs[uid] = {
                            "uid": uid, "project": self.project, "name": name,
                            "framework": "tensorboard", "host": None, "git_commit": None,
                            "command": None, "created_at": wall, "status": "running"}
                        self.batch.add((RUN, self.runs[uid]))
                    if wall > state.last_wall:
                        state.last_wall = wall
                    if event.HasField("summary"):
                        state.summary(event)
                        if state.held_points >= self.hold_points \
                                or state.media.bytes >= HOLD_MEDIA_BYTES:
                            self._hand_over(state)
                    elif event.HasField("session_log") and event.session_log.status == start:
                        # A (re)start at this step: what was logged before at this
                        # step or later is superseded (TensorBoard's purge_step).
                        if state.restart(event.step):
                            self._purge_written(state, event.step)
            except _CorruptFile as exc:
                self.warn(f"{path} is truncated or corrupt ({exc}); imported the events "
                          "before that point")
            self.bar.update(done)
        if state.created is None:
            self.warn(f"run {name!r}: no readable events in {', '.join(map(str, files))}")
            return False
        self._hand_over(state)
        for rec in state.records(uid):
            self.batch.add(rec)
        return True

    def _check_key(self, tag: str) -> bool:
        """Whether the store takes `tag` as a metric name (storage.rules.check_key);
        the values of a tag it refuses are set aside (see _hand_over)."""
        try:
            check_key(tag)
            return True
        except ValueError as exc:
            self._bad_keys.setdefault(tag, str(exc))
            return False


class _CorruptFile(Exception):
    """An event file that reading had to stop in (truncated or corrupt)."""


def _records(path: Path) -> Iterator[bytes]:
    """Serialized events of one file, raising _CorruptFile where reading had to stop."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat import tf

    # RawEventFileLoader.Load() would stop silently at a truncated record (it waits
    # for the file to grow); an import must say which file was cut short, so this
    # iterates TensorBoard's record iterator itself.
    iterator = event_file_loader._make_tf_record_iterator(str(path))
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except tf.errors.DataLossError as exc:
            raise _CorruptFile(str(exc).strip().splitlines()[0] if str(exc) else "data loss") \
                from None
