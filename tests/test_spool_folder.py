"""Odd entries in the spool folder (issue 18, item 3): a FIFO, a directory or a symlink
named *.spool never hangs or aborts `trackboard sync` or a new Run; each is reported
and moved aside, and the real spool files beside it are delivered."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from array import array
from pathlib import Path

from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.write.records import POINTS, RUN
from trackboard.storage.write.spool import REJECTED, SpoolWriter, pending_files, spool_dir

SYNC = "from trackboard.dashboard.cli import main; main()"


def _good_file(directory: Path, uid: str, steps: int) -> Path:
    w = SpoolWriter(directory, lambda: [(RUN, {
        "uid": uid, "project": "odd", "name": uid, "framework": None, "host": "h",
        "git_commit": None, "command": "c", "created_at": time.time(), "status": "running"})])
    w.append([(POINTS, uid, s, 1e9 + s, ("x",), array("d", [float(s)])) for s in range(steps)])
    path = w.close()
    assert path is not None
    return path


def _odd_entries(directory: Path, elsewhere: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    fifo = directory / "0-fifo.spool"
    os.mkfifo(fifo)
    folder = directory / "1-folder.spool"
    folder.mkdir()
    (folder / "inside").write_text("x")
    target = _good_file(elsewhere, "elsewhere", 3)  # a real spool file, but not ours
    link = directory / "2-link.spool"
    link.symlink_to(target)
    return {"a FIFO": fifo, "a directory": folder, "a symbolic link": link}


def _unblock(fifo: Path) -> None:
    """Open the FIFO for writing once, so that a reader stuck on it (the bug) returns."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def test_sync_skips_and_sets_aside_what_is_not_a_spool_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    Store(url).close()
    directory = spool_dir(url)
    odd = _odd_entries(directory, tmp_path / "elsewhere")
    _good_file(directory, "good", 50)
    try:
        done = subprocess.run([sys.executable, "-c", SYNC, "sync", "--store", url],
                              capture_output=True, text=True, timeout=60, env={**os.environ})
    finally:
        _unblock(odd["a FIFO"])
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "delivered 50 points from 1 spool file(s)" in out, out
    for kind, path in odd.items():
        assert f"rejected {path}: " in out and kind in out, (kind, out)
        assert os.path.lexists(directory / REJECTED / path.name), kind
        assert not os.path.lexists(path)
    assert out.splitlines()[-1] == ("Error: not everything was delivered: 3 spool file(s) set "
                                    "aside in rejected/ (see above)"), out
    assert not pending_files(directory)
    # The symlink's target is left alone: never read, never deleted.
    assert len(list((tmp_path / "elsewhere").glob("*.spool"))) == 1
    assert "elsewhere" not in Store(url).runs()["name"].tolist()


def test_a_new_run_stores_its_points_beside_odd_entries(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    Store(url).close()
    odd = _odd_entries(spool_dir(url), tmp_path / "elsewhere")
    _good_file(spool_dir(url), "left-behind", 20)
    try:
        run = Run(name="beside-a-fifo", store=url, system_metrics=False)
        for step in range(100):
            run.log({"loss": 1.0 / (step + 1)})
        finished = threading.Thread(target=run.finish, kwargs={"timeout": 20})
        finished.start()
        finished.join(30)
    finally:
        _unblock(odd["a FIFO"])
    store = Store(url)
    runs = store.runs().set_index("name")
    assert len(store.history([runs.loc["beside-a-fifo", "id"]])) == 100
    assert len(store.history([runs.loc["left-behind", "id"]])) == 20  # replayed at start
    assert runs.loc["beside-a-fifo", "status"] == "finished"
    for path in odd.values():
        assert os.path.lexists(spool_dir(url) / REJECTED / path.name)
