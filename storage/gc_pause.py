"""Pausing Python's cyclic garbage collector around bulk work.

Building hundreds of thousands of fresh tuples (rows of a big frame, points held by
the TensorBoard importer) triggers repeated full collections, though none of those
objects is cyclic. The collections then cost more than the work itself: 10,000-run
frames in Store.runs, and 2.6 s instead of 3.9-5.6 s for the mixed logdir of
bench/tensorboard_io.py.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic GC inside the block (restored as it was, also on errors).

    >>> with gc_paused():
    ...     gc.isenabled()
    False
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
