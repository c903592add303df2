"""`trackboard` commands: demo (registered on the main group when imported)."""

from __future__ import annotations

from trackboard.dashboard.cli import cli  # noqa: F401
