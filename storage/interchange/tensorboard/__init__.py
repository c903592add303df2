"""TensorBoard paths: export runs to event files, import logdirs into the store.

Export: exporter.py (runs, files, manifest), scalar_events.py (points -> events,
in bulk) and run_summaries.py (HParams and text). Import: importer.py (walks the
logdir), run_reader.py (one run's event files -> store records) and
imported_run.py (one run's points, params, texts, restarts). What both share:
format.py and wire.py. This module is the import point for callers:

>>> from trackboard.storage.interchange.tensorboard import export_tensorboard, import_tensorboard  # doctest: +SKIP
>>> export_tensorboard("sqlite:///trackboard.db", "tb-out", project="churn")        # doctest: +SKIP
>>> import_tensorboard("old-logs", "sqlite:///trackboard.db")                       # doctest: +SKIP
"""

from __future__ import annotations

from trackboard.storage.interchange.tensorboard.exporter import (
    ExportResult,
    export_tensorboard,
)
from trackboard.storage.interchange.tensorboard.importer import (
    ImportResult,
    import_tensorboard,
)

__all__ = ["ExportResult", "ImportResult", "export_tensorboard", "import_tensorboard"]
