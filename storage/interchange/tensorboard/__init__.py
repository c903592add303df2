"""TensorBoard paths: export runs to event files, import logdirs into the store.

The two directions live in tb_export.py and tb_import.py (what both share is in
tb_format.py); this module is the import point for callers:

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
