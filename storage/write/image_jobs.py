"""The images of a batch on their way to blobs: each distinct image encoded once, on a
thread of its own where the machine has a core to spare (ENCODER_THREAD), and not at
all when this process stored the same pixels lately (RecentImages).

An image is known by the SHA-256 of its pixels and shape (`image_key`, 0.11 ms for 256
x 256 x 3 on this project's machine, where lossless WebP takes 1.5-2 ms): the same
image twice in a batch is encoded once, and one logged again later (the same sample
every epoch, one figure in many runs of a sweep) takes its blob's hash from
RecentImages instead of being encoded again. That is exact: equal keys are equal
pixels. A remembered blob may have left the store since (its runs deleted by another
process), so the ingest checks that it is still there before writing rows that name
it, and encodes the image then if not (media_ingest.py).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict

import numpy as np
from trackboard.storage.db.blobs import blob_hash
from trackboard.storage.media import images as codec
from trackboard.storage.media.limits import check_image_size

# (format, width, height, channels, data) as an IMAGE record holds them
Job = tuple[str, int, int, int, bytes]
# (blob hash, encoded bytes (None: known to be stored), format, width, height, channels)
Done = tuple[str, "bytes | None", str, int, int, int]

# Encode a batch's images on a thread of their own only where a core is left for it
# beside the training loop and the writer thread. On this project's 2-core machine the
# thread bought nothing (30,000 steps of 10 scalars and an image every 100 steps, 7
# interleaved rounds: median 5.8 s threaded, 5.1 s on the writer thread): its every
# hand-over of the interpreter lock waits for one of the two busy threads.
ENCODER_THREAD = (os.cpu_count() or 1) > 2


def image_key(job: Job) -> bytes:
    """What identifies an image's content: SHA-256 of its format, shape and data."""
    fmt, width, height, channels, data = job
    digest = hashlib.sha256(f"{fmt}:{width}x{height}x{channels}:".encode())
    digest.update(data)  # hashlib lets go of the interpreter lock for large data
    return digest.digest()


def encode(job: Job) -> Done:
    """(hash, bytes, format, width, height, channels) of one image as stored."""
    fmt, width, height, channels, data = job
    if fmt == "raw":
        pixels = np.frombuffer(data, np.uint8).reshape(height, width, channels)
        fmt, data = codec.encode_pixels(pixels)
    else:
        width, height, channels = codec.encoded_size(data)
        check_image_size(height, width, channels)
    return blob_hash(data), data, fmt, width, height, channels


class RecentImages:
    """The blobs of the images this process stored lately, by image_key: at most
    `size` of them (about 150 bytes each), the least recently used forgotten first."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._blobs: OrderedDict[bytes, Done] = OrderedDict()

    def get(self, key: bytes) -> Done | None:
        done = self._blobs.get(key)
        if done is not None:
            self._blobs.move_to_end(key)
        return done

    def put(self, key: bytes, done: Done) -> None:
        self._blobs[key] = (done[0], None, *done[2:])
        self._blobs.move_to_end(key)
        while len(self._blobs) > self.size:
            self._blobs.popitem(last=False)

    def clear(self) -> None:
        self._blobs.clear()


class Encoding:
    """The images of a batch, encoded (with ENCODER_THREAD) on a thread of their own
    while the writer thread stores the batch's points: Pillow's encoders and hashlib
    let go of the interpreter lock. Else, or where no thread can be started
    (interpreter shutdown), they are encoded here, before the transaction."""

    def __init__(self, jobs: list[Job]) -> None:
        self._jobs = jobs
        self._result: list[Done] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if ENCODER_THREAD:
            self._thread = threading.Thread(target=self._run, name="trackboard-encoder",
                                            daemon=True)
            try:
                self._thread.start()
                return
            except RuntimeError:
                self._thread = None
        self._run()

    def _run(self) -> None:
        try:
            self._result = [encode(job) for job in self._jobs]
        except BaseException as exc:  # noqa: BLE001 - re-raised by wait(), in the writer
            self._error = exc

    def wait(self) -> list[Done]:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


