"""The examples in docstrings run and stay true (pure helpers carry doctests)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"storage": "trackboard.storage", "loggers": "trackboard.loggers",
            "dashboard": "trackboard.dashboard"}


def _modules_with_examples() -> list[str]:
    out = []
    for folder, package in PACKAGES.items():
        # Sub-packages too (storage/read/, storage/interchange/tensorboard/...);
        # migrations are Alembic scripts, not modules to import.
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            if (path.name != "__init__.py" and "migrations" not in rel.parts
                    and ">>> " in path.read_text()):
                out.append(".".join((package, *rel.parts)))
    return out


MODULES = _modules_with_examples()
# Adapters whose import loads their framework (seconds each): slow.
FRAMEWORK_MODULES = {f"trackboard.loggers.{m}"
                     for m in ("keras", "lightning", "torch", "jax", "transformers")}


def test_examples_were_found() -> None:
    assert len(MODULES) >= 10


@pytest.mark.parametrize("name", [
    pytest.param(m, marks=pytest.mark.slow) if m in FRAMEWORK_MODULES else m for m in MODULES])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
