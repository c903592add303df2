"""Administration by Store: rename a run, set or delete its tags, delete it.

The only writes that do not come through the writer: a user's own action in the
CLI or the dashboard, refused on a store opened read-only.
"""

from __future__ import annotations

from sqlalchemy import text
from trackboard.storage.db.blobs import BlobStore
from trackboard.storage.read.media_admin import delete_run_media
from trackboard.storage.read.store_base import StoreBase
from trackboard.storage.rules import check_key, check_tags


class StoreAdmin(StoreBase):
    """The administrative writes of Store (see Store for the whole API)."""

    blob_store: BlobStore  # the seam image bytes go through (set by MediaReads)

    def rename_run(self, run_id: str, name: str) -> None:
        self._writable()
        check_key(name)
        uid = self.resolve_run_id(run_id)
        with self._connect(begin=True) as conn:
            conn.execute(text("UPDATE runs SET name = :n WHERE uid = :u"), {"n": name, "u": uid})

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags (numbers become text); the rules of Run.set_tags apply, and a
        refused tag raises ValueError before anything is written."""
        self._writable()
        tags = check_tags(tags)
        uid = self.resolve_run_id(run_id)
        with self._connect(begin=True) as conn:
            rid = conn.execute(text("SELECT id FROM runs WHERE uid = :u"), {"u": uid}).scalar_one()
            for k, v in tags.items():
                conn.execute(text("INSERT INTO tags (run_id, key, value) VALUES (:r, :k, :v) "
                                  "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"),
                             {"r": rid, "k": k, "v": v})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._writable()
        uid = self.resolve_run_id(run_id)
        with self._connect(begin=True) as conn:
            conn.execute(text("DELETE FROM tags WHERE key = :k AND run_id = "
                              "(SELECT id FROM runs WHERE uid = :u)"), {"k": key, "u": uid})

    def delete_run(self, run_id: str) -> None:
        """Remove a run and everything logged to it."""
        self._writable()
        uid = self.resolve_run_id(run_id)
        with self._connect(begin=True) as conn:
            rid = conn.execute(text("SELECT id FROM runs WHERE uid = :u"), {"u": uid}).scalar_one()
            for table in ("points_head", "point_chunks", "point_buckets", "metric_summaries",
                          "params", "tags"):
                conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": rid})
            delete_run_media(conn, rid, self.blob_store)
            conn.execute(text("DELETE FROM runs WHERE id = :r"), {"r": rid})
