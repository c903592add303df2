"""Docs that run: every ```python block of README.md, executed as a reader would.

Each block runs in a fresh interpreter (`python -c BLOCK`) in a temporary working
directory, against a temporary store given the way the README says users give it
($TRACKBOARD_STORE). Blocks without a framework run in README order in one directory,
so "Reading it back" reads what the Quickstart logged, as a reader going down the page
would; each framework block runs on its own (and is slow: it trains).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from trackboard.storage import Store

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FRAMEWORKS = ("keras", "torch", "lightning", "transformers", "jax")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fences, in order.

    >>> python_blocks("a\\n```python\\nx = 1\\n```\\n```bash\\nls\\n```\\n")
    ['x = 1\\n']
    """
    return BLOCK.findall(text)


def framework_of(block: str) -> str | None:
    """The framework a block trains with: the trackboard adapter it imports (None: core).

    >>> framework_of("import torch\\nfrom trackboard.loggers.transformers import X")
    'transformers'
    >>> framework_of("from trackboard.loggers import Run") is None
    True
    """
    found = re.search(r"^from trackboard\.loggers\.(\w+) import", block, re.MULTILINE)
    return found.group(1) if found else None


BLOCKS = python_blocks(README.read_text())
CORE = [b for b in BLOCKS if framework_of(b) is None]
BY_FRAMEWORK = {framework_of(b): b for b in BLOCKS if framework_of(b) is not None}


def run_block(block: str, cwd: Path, store: str, timeout: float = 300) -> str:
    env = dict(os.environ, TRACKBOARD_STORE=store, PYTHONWARNINGS="ignore")
    # The Keras block runs on whichever backend is set; torch is installed wherever
    # the tests run and starts far faster than TensorFlow (the demo chooses it too).
    env.setdefault("KERAS_BACKEND", "torch")
    done = subprocess.run([sys.executable, "-c", block], cwd=cwd, env=env, timeout=timeout,
                          check=False, capture_output=True, text=True)
    assert done.returncode == 0, f"README block failed:\n{block}\n--- stderr:\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_readme_has_a_block_per_framework_and_the_quickstart() -> None:
    # Guards the extraction itself: a changed fence style must not make the tests vacuous.
    assert set(BY_FRAMEWORK) == set(FRAMEWORKS)
    assert len(CORE) >= 2 and "Run(" in CORE[0] and "Store(" in CORE[1]


@pytest.mark.slow  # two interpreters start: ~10-20 s
def test_core_blocks_run_in_order(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'readme.db'}"
    outputs = [run_block(block, tmp_path, store) for block in CORE]
    with Store(store) as s:
        runs = s.runs(project="churn")
        assert len(runs) == 2 and set(runs["status"]) == {"finished"}
        first = runs[runs["name"] == "mlp-lr3"].iloc[0]
        assert first["params.dropout"] == 0.1 and first["tags.seed"] == "3"
        assert first["metrics.loss.last"] == pytest.approx(0.01)
    # "Reading it back" found the Quickstart's run by its filter and read its points.
    assert "mlp-lr3" in outputs[1] and "99" in outputs[1]


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_framework_block_runs_and_logs_a_run(framework: str, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'readme.db'}"
    run_block(BY_FRAMEWORK[framework], tmp_path, store, timeout=540)
    with Store(store) as s:
        runs = s.runs(project="churn")
        assert len(runs) == 1, runs
        run = runs.iloc[0]
        assert run["framework"] == framework and run["status"] == "finished"
        history = s.history([run["id"]], keys=["loss"])
    assert len(history) >= 2, f"the {framework} block logged no loss curve"
