"""Several processes write one SQLite file at once: nothing lost, no errors."""

from __future__ import annotations

import pytest
from trackboard.storage import Store

from tests.support.children import run_writers

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
    outputs = run_writers(WRITER, sqlite_url, count=8, steps=10_000, timeout=300)
    assert [out.split() for out in outputs] == [["10000", "0"]] * 8  # written, lost
    store = Store(sqlite_url)
    runs = store.runs(project="multi")
    assert len(runs) == 8 and set(runs["status"]) == {"finished"}
    assert (runs["metrics.loss.last"] == 4999.5).all()
    hist = store.history(runs["id"].tolist())
    assert len(hist) == 80_000
    assert not hist.duplicated(["run_id", "step"]).any()


def test_processes_racing_to_create_a_new_database(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    run_writers(WRITER, url, count=4, steps=100, timeout=120)
    assert len(Store(url).history(Store(url).runs()["id"].tolist())) == 400
