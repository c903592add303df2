"""Which runs an export covers: explicit ids (or unique prefixes), else a project, else all."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from trackboard.storage.read.store import Store


def select_runs(store: Store, run_ids: Sequence[str] | None = None,
                project: str | None = None) -> pd.DataFrame:
    """The runs table restricted to the selection, in the order given (else newest first).

    Raises ValueError when nothing matches, so an export never silently writes nothing.
    """
    if run_ids:
        uids = list(dict.fromkeys(store.resolve_run_id(r) for r in run_ids))
        frame = store.runs(project=project, run_ids=uids)
        frame = frame.set_index("id").reindex([u for u in uids if u in set(frame["id"])])
        frame = frame.reset_index()
        if frame.empty:
            raise ValueError(f"none of the runs {list(run_ids)} is in project {project!r}")
        return frame
    frame = store.runs(project=project)
    if frame.empty:
        where = f"in project {project!r}" if project else "in the store"
        raise ValueError(f"no runs {where} ({store.display_url}); `trackboard runs` lists them")
    return frame


def run_labels(frame: pd.DataFrame) -> dict[str, str]:
    """A readable, unique label per run id: its name, plus a short id where names repeat."""
    counts = frame["name"].value_counts()
    return {rid: (name if counts[name] == 1 else f"{name} ({rid[:6]})")
            for rid, name in zip(frame["id"], frame["name"])}
