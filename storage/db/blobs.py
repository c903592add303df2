"""The one seam the bytes of images go through: a BlobStore keyed by content hash.

Today the bytes sit in the store's own database (`SqlBlobStore`, the `blobs` table), so
a team's PostgreSQL needs nothing new and a backup is one database. A team whose
images outgrow it (docs/deployment.md says when) can put them in an S3-compatible
object store by implementing these four methods; nothing else reads or writes
image bytes.

The rules an implementation keeps, because the image rows that name a hash live in
the database and commit with its transaction:

- `put` before the rows that name the hash are committed (the ingest does so), and
  putting bytes that are there already is harmless: an object without a row is
  garbage, a row without its object would be a lost image;
- `delete` only hashes no row names any more (`delete_unreferenced` below decides
  which, in the same transaction that removed the rows);
- every method gets the transaction's connection; an object store ignores it.

Hashes are the lowercase hex SHA-256 of the bytes (`blob_hash`), so anyone can check
what they get.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Protocol

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

# Hashes per IN (...) list: far below SQLite's 32,766 bound parameters.
_IN_CHUNK = 500
# An advisory lock (PostgreSQL) between writers that add image rows (shared) and the
# deletion of unreferenced blobs (exclusive): a blob a writer is about to reference,
# in a transaction not yet committed, is never deleted under it. SQLite writes one
# transaction at a time, so there is nothing to take there.
BLOB_LOCK = 0x7B100000


def blob_hash(data: bytes) -> str:
    """The content hash that names `data`: lowercase hex SHA-256.

    >>> blob_hash(b"")
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    """Where the bytes behind image rows live, by content hash (the rules above)."""

    def has(self, conn: Connection, hashes: Iterable[str]) -> set[str]:
        """The hashes among `hashes` that are stored."""
        ...

    def put(self, conn: Connection, blobs: Mapping[str, bytes]) -> None:
        """Store bytes under their hashes (already stored ones are left as they are)."""
        ...

    def get(self, conn: Connection, hash_: str) -> bytes | None:
        """The bytes stored under `hash_`, or None."""
        ...

    def delete(self, conn: Connection, hashes: Iterable[str]) -> None:
        """Remove these hashes' bytes (only ever called for unreferenced ones)."""
        ...


class SqlBlobStore:
    """BlobStore in the store's own database: the `blobs` table."""

    def has(self, conn: Connection, hashes: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(hashes))
        found: set[str] = set()
        stmt = text("SELECT hash FROM blobs WHERE hash IN :h").bindparams(
            bindparam("h", expanding=True))
        for i in range(0, len(wanted), _IN_CHUNK):
            found.update(conn.execute(stmt, {"h": wanted[i:i + _IN_CHUNK]}).scalars())
        return found

    def put(self, conn: Connection, blobs: Mapping[str, bytes]) -> None:
        if blobs:
            conn.execute(text("INSERT INTO blobs (hash, size, data) VALUES (:h, :s, :d) "
                              "ON CONFLICT (hash) DO NOTHING"),
                         [{"h": h, "s": len(d), "d": d} for h, d in blobs.items()])

    def get(self, conn: Connection, hash_: str) -> bytes | None:
        data = conn.execute(text("SELECT data FROM blobs WHERE hash = :h"),
                            {"h": hash_}).scalar()
        return None if data is None else bytes(data)

    def delete(self, conn: Connection, hashes: Iterable[str]) -> None:
        gone = list(hashes)
        stmt = text("DELETE FROM blobs WHERE hash IN :h").bindparams(
            bindparam("h", expanding=True))
        for i in range(0, len(gone), _IN_CHUNK):
            conn.execute(stmt, {"h": gone[i:i + _IN_CHUNK]})


def lock_for_put(conn: Connection) -> None:
    """Called by a writer before it adds image rows (see BLOB_LOCK)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": BLOB_LOCK})


def delete_unreferenced(conn: Connection, blob_store: BlobStore, candidates: Iterable[str]) -> int:
    """Delete the blobs among `candidates` that no image row names any more (call it in
    the transaction that removed rows); returns how many went."""
    wanted = list(dict.fromkeys(candidates))
    if not wanted:
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": BLOB_LOCK})
    stmt = text("SELECT DISTINCT blob FROM images WHERE blob IN :h").bindparams(
        bindparam("h", expanding=True))
    used: set[str] = set()
    for i in range(0, len(wanted), _IN_CHUNK):
        used.update(conn.execute(stmt, {"h": wanted[i:i + _IN_CHUNK]}).scalars())
    gone = [h for h in wanted if h not in used]
    if gone:
        blob_store.delete(conn, gone)
    return len(gone)
