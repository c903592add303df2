"""Deliver spool files left behind by runs that ended while the store was away."""

from __future__ import annotations

from dataclasses import dataclass

from trackboard.storage import spool
from trackboard.storage.urls import mask_url
from trackboard.storage.writer import Writer


@dataclass
class SyncResult:
    url: str
    delivered_points: int
    remaining: list[str]

    def summary(self) -> str:
        text = f"delivered {self.delivered_points} points to {mask_url(self.url)}"
        if self.remaining:
            text += (f"; {len(self.remaining)} spool file(s) still waiting (store unreachable "
                     "or files in use by a running process): " + ", ".join(self.remaining))
        return text


def deliver_spool(store: str | None = None) -> SyncResult:
    """Deliver every claimable spool file of `store`; what stays is reported."""
    writer = Writer(store, flush_interval=0.05)
    try:
        writer.flush(60)  # the writer delivers claimable spool files when it starts
    finally:
        writer.close()
    left = [str(p) for p in spool.pending_files(writer.spool_directory)]
    return SyncResult(writer.url, writer.points_written, left)
