"""Several processes write one SQLite file at once: nothing lost, no errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from trackboard.storage import Store

pytestmark = pytest.mark.slow  # several processes write one file

WRITER = """
import sys
from trackboard.loggers import Run
run = Run(project="multi", name=f"proc-{sys.argv[2]}", store=sys.argv[1], system_metrics=False)
for step in range(int(sys.argv[3])):
    run.log({"loss": step * 0.5}, step=step)
run.finish()
w = run._writer
print(w.points_written, w.points_lost)
"""


@pytest.mark.slow
def test_eight_processes_ten_thousand_points_each(sqlite_url: str) -> None:
    Store(sqlite_url)  # create the schema once, as a user's first run would
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, sqlite_url, str(i), "10000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert "trackboard:" not in err, err  # no outage, no loss reported
        assert out.split() == ["10000", "0"]  # written, lost
    store = Store(sqlite_url)
    runs = store.runs(project="multi")
    assert len(runs) == 8 and set(runs["status"]) == {"finished"}
    assert (runs["metrics.loss.last"] == 4999.5).all()
    hist = store.history(runs["id"].tolist())
    assert len(hist) == 80_000
    assert not hist.duplicated(["run_id", "step"]).any()


def test_processes_racing_to_create_a_new_database(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(i), "100"],
                              stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for i in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0 and "trackboard:" not in err, err
    assert len(Store(url).history(Store(url).runs()["id"].tolist())) == 400
