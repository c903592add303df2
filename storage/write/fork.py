"""A writer in a forked child (a DataLoader worker, multiprocessing's fork and its
Pool): its points are stored like the parent's.

A forked child inherits the parent's writers without their threads. Left as they are,
what the child logs would wait forever in a queue nobody reads. So right after the
fork (os.register_at_fork, in writer.py) each inherited writer forgets what is the
parent's: its pending records (the parent delivers those: delivering them here too
would write them twice), its spool files (locked by the parent: the child closes its
copies of their descriptors without unlocking them, and never writes them), its
store connections (kept referenced and never closed here: closing a connection the
parent still uses ends it for the parent too) and its dead threads. The child's
first record starts new threads, a new connection and spool files of its own.

A fork copies locks in the state other threads held them: had the parent's writer
thread been inside SQLite, its driver or an import at that moment, the child's writer
would wait forever for a lock nobody will release. So a fork waits (at most
FORK_WAIT_S) until each writer thread is outside the store (`fork_gate`, held while
it connects and while it applies a batch; idle writers hold nothing): a DataLoader
starting its workers waits at most for the transaction in flight.

Children of multiprocessing leave with os._exit, which skips atexit: a writer there
delivers what it holds from multiprocessing's own exit finalizers instead. A plain
os.fork() child that ends with os._exit must flush its runs itself.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trackboard.storage.write.link import StoreLink
    from trackboard.storage.write.records import Record
    from trackboard.storage.write.staging import Staging

FORK_WAIT_S = 10.0  # the longest a fork waits for a writer thread to leave the store

# What forked children inherited from their parents' writers: kept, never closed here.
_parents_parts: list[tuple[Any, Any]] = []
_gates_held: list[threading.Lock] = []  # taken before a fork, given back after it


def before_fork(writers: Iterable[Any]) -> None:
    """In the parent, just before a fork: wait until no writer thread is in the store."""
    for w in list(writers):
        gate = w.fork_gate
        if gate.acquire(timeout=FORK_WAIT_S):
            _gates_held.append(gate)


def after_fork_in_parent() -> None:
    while _gates_held:
        _gates_held.pop().release()


class InheritedByFork:
    """Writer's behaviour in a forked child (see the module docstring)."""

    if TYPE_CHECKING:  # what Writer provides
        _link: StoreLink
        _staging: Staging
        _live: set[str]
        _thread: threading.Thread
        _guard: threading.Thread

        def _fresh(self) -> None: ...
        def _adopt(self) -> None: ...
        def submit(self, record: Record, weight: int = 0) -> None: ...
        def register_run(self, record: dict[str, Any]) -> None: ...

    def _inherited_by_fork(self) -> None:
        """In the child, right after the fork, before anything else runs there: no
        I/O, no threads; forget the parent's parts and start afresh on first use."""
        _gates_held.clear()  # the child's copies; its writers get new gates
        _parents_parts.append((self._link, self._staging))
        self._staging.forget_inherited_files()
        self._link.forget_inherited_files()
        self._live = set()  # the parent keeps its runs alive
        self._fresh()
        self._start_lock = threading.Lock()
        cls = type(self)
        self.submit = self._first_submit_in_child  # type: ignore[method-assign]
        self.register_run = self._first_register_in_child  # type: ignore[method-assign]
        self._class_submit, self._class_register = cls.submit, cls.register_run

    def _start_in_child(self) -> None:
        with self._start_lock:
            if "submit" not in self.__dict__:
                return  # another thread of the child started it
            self._thread.start()
            self._guard.start()
            close_at_process_exit(self)  # type: ignore[arg-type]
            self._adopt()
            del self.submit, self.register_run  # the class's methods from now on

    def _first_submit_in_child(self, record: Record, weight: int = 0) -> None:
        self._start_in_child()
        self._class_submit(self, record, weight)

    def _first_register_in_child(self, record: dict[str, Any]) -> None:
        self._start_in_child()
        self._class_register(self, record)


def close_at_process_exit(writer: Any) -> None:
    """In a child process of multiprocessing (any start method: fork, forkserver,
    spawn), deliver what `writer` holds when the child ends."""
    mp = sys.modules.get("multiprocessing")
    if mp is not None and mp.parent_process() is not None:
        from multiprocessing import util

        util.Finalize(None, writer.close, exitpriority=10)
