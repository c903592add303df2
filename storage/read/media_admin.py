"""Removing a run's media: its histogram, image and text rows, its media series, and
the image bytes no other image names (through the BlobStore seam)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection
from trackboard.storage.db.blobs import BlobStore, delete_unreferenced


def delete_run_media(conn: Connection, run_id: int, blob_store: BlobStore) -> int:
    """Delete run `run_id`'s media in the caller's transaction; returns how many blobs
    went with them (those no other run's images name)."""
    series = "SELECT id FROM media_series WHERE run_id = :r"
    hashes = conn.execute(text(f"SELECT DISTINCT blob FROM images WHERE series_id IN ({series})"),
                          {"r": run_id}).scalars().all()
    for table in ("histograms", "images", "texts"):
        conn.execute(text(f"DELETE FROM {table} WHERE series_id IN ({series})"), {"r": run_id})
    conn.execute(text("DELETE FROM media_series WHERE run_id = :r"), {"r": run_id})
    return delete_unreferenced(conn, blob_store, hashes)
