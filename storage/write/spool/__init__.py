"""Local spool files: where records wait while the store is unreachable or slow, and
the writer's journal of records that have waited in memory longer than a moment.

frames.py: the bytes (magic, checksummed frames, records as msgpack with points in
columns); writer.py: SpoolWriter, appending straight to the OS under an flock;
reader.py: SpoolReader, which survives torn tails and damage; folder.py: one folder per
store, rejected/, and which files are free to deliver. Callers use the names below.
"""

from trackboard.storage.write.spool.folder import (
    REJECTED,
    SPOOL_ENV,
    SUFFIX,
    claimable,
    odd_entries,
    pending_files,
    set_aside,
    spool_dir,
    spool_root,
)
from trackboard.storage.write.spool.frames import (
    MAGIC,
    VERSION,
    decode_frame,
    decode_records,
    encode_records,
)
from trackboard.storage.write.spool.reader import (
    LegacySpoolError,
    SpoolReader,
    read_spool,
)
from trackboard.storage.write.spool.writer import SpoolWriter, mark_stored

__all__ = [
    "MAGIC", "REJECTED", "SPOOL_ENV", "SUFFIX", "VERSION", "LegacySpoolError", "SpoolReader",
    "SpoolWriter", "claimable", "decode_frame", "decode_records", "encode_records",
    "mark_stored", "odd_entries", "pending_files", "read_spool", "set_aside", "spool_dir", "spool_root",
]
