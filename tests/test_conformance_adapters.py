"""The one contract every adapter keeps, checked the same way for each: a training that
ends is "finished", one that raises is "failed" with what it logged before; params
and metrics arrive as the framework saw them; a process of rank != 0 logs nothing
through a NullRun; the context manager, where the adapter has one, closes the run.

Each adapter trains for real (a few steps) in its own interpreter, into a real SQLite
store: see tests/support/adapter_cases.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from trackboard.storage import Store

from tests.support.adapter_cases import CONFIG, FAIL_AT, PROJECT
from tests.support.loggers import last_json, run_info, run_python, series

pytestmark = pytest.mark.slow  # six frameworks, each trained in a fresh interpreter

DRIVER = "from tests.support.adapter_cases import main; main()"
# adapter -> the framework name its runs carry
FRAMEWORKS = {"torch": "torch", "keras": "keras", "lightning": "lightning",
              "transformers": "transformers", "jax": "jax", "run": "numpy"}


def _reports(stdout: str) -> dict[str, dict]:
    out = {}
    for line in stdout.splitlines():
        if line.startswith('{"phase"'):
            got = last_json(line)
            out[got["phase"]] = got
    return out


@pytest.mark.parametrize("adapter", list(FRAMEWORKS))
def test_every_adapter_keeps_the_run_contract(adapter: str, sqlite_url: str,
                                              tmp_path: Path) -> None:
    code, out, err = run_python(DRIVER, adapter, sqlite_url, str(tmp_path), expect_ok=False,
                                timeout=600)
    reports = _reports(out)
    assert set(reports) == {"finished", "rank1", "failed"}, err[-3000:]
    # The failing training ended the process with its own error, as it would without us.
    assert code != 0 and "Exploded: loss exploded" in err

    # Rank 1 used a NullRun and stored nothing: only two runs exist.
    assert reports["rank1"]["type"] == "NullRun" and not reports["rank1"]["id"]
    with Store(sqlite_url) as store:
        runs = store.runs(project=PROJECT).set_index("name")
    assert sorted(runs.index) == ["failed", "finished"]

    for phase, status in (("finished", "finished"), ("failed", "failed")):
        report = reports[phase]
        assert report["type"] == "Run"
        info = run_info(sqlite_url, report["id"])
        assert info["status"] == status, phase
        assert info["framework"] == FRAMEWORKS[adapter] and info["project"] == PROJECT
        assert info["params"].items() >= CONFIG.items(), info["params"]
        # Every loss the framework computed or reported, exactly, nothing after a crash.
        stored = [v for _, v in series(sqlite_url, report["id"])["loss"]]
        assert stored == report["losses"] and stored, phase
    assert len(reports["failed"]["losses"]) < len(reports["finished"]["losses"])
    assert len(reports["failed"]["losses"]) >= FAIL_AT
