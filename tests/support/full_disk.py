"""A spool folder on a filesystem that really runs out of space, for the disk-full tests.

Where the test runs as root with mount rights (CI: root on Debian), the folder is a
small tmpfs: `fill` leaves only a few KiB free with a filler file and `free` deletes it,
so the kernel refuses writes with ENOSPC, part-way through a frame. Elsewhere (no mount
rights) the child process that logs lowers its own RLIMIT_FSIZE instead: the kernel then
refuses writes past that size with EFBIG, also part-way (a short write). Either way the
writer meets a real kernel refusal, never a simulated one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class FullDisk:
    """How the child makes the disk full (`mode`) and frees it again.

    mode "tmpfs": `folder` is a tmpfs of its own; `filler` is the file that fills it.
    mode "rlimit": the child sets RLIMIT_FSIZE to `limit` bytes and raises it to free.
    """

    folder: Path
    mode: str
    filler: Path | None = None
    limit: int = 0

    def child_args(self) -> list[str]:
        return [str(self.folder), self.mode, str(self.filler or ""), str(self.limit)]


def _can_mount(target: Path) -> bool:
    # FULL_DISK_BY_RLIMIT=1 tries the fallback where mounting would work too.
    if os.geteuid() != 0 or shutil.which("mount") is None or os.environ.get("FULL_DISK_BY_RLIMIT"):
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)],
                          capture_output=True)
    if done.returncode != 0:
        return False
    subprocess.run(["umount", str(target)], check=True)
    return True


@contextmanager
def spool_on_a_full_disk(tmp: Path, size_mib: int = 32, free_kib: int = 96,
                         limit: int = 96 * 1024) -> Iterator[FullDisk]:
    """A spool folder that the child can make full and free again (see module doc)."""
    folder = tmp / "small-disk"
    folder.mkdir()
    if not _can_mount(folder):
        yield FullDisk(folder / "spool", "rlimit", limit=limit)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(folder)],
                   check=True)
    try:
        filler = folder / "filler"
        total = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
        with open(filler, "wb") as fh:
            fh.truncate(0)
            chunk = b"\0" * (1 << 20)
            left = total - free_kib * 1024
            while left > 0:
                left -= fh.write(chunk[:min(left, len(chunk))])
        yield FullDisk(folder / "spool", "tmpfs", filler=filler)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# The child: logs phase A while the disk is full, frees it, logs phase B, finishes.
# Points go to an unreachable store, so everything must pass through the spool.
CHILD = r"""
import json, logging, os, resource, signal, sys, time
from pathlib import Path
from trackboard.loggers import Run
from trackboard.storage.write.writer import Writer

dead, folder, mode, filler, limit = sys.argv[1], Path(sys.argv[2]), *sys.argv[3:6]
steps_a, steps_b, max_pending = (int(x) for x in sys.argv[6:9])
if mode == "rlimit":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), hard))
said = []
class Said(logging.Handler):
    def emit(self, record):
        said.append(record.getMessage())
        print(record.getMessage(), file=sys.stderr)  # as Python's last-resort handler
logging.getLogger("trackboard").addHandler(Said())
writer = Writer(dead, spool_directory=folder, max_backoff=60, max_pending_points=max_pending,
                batch_points=min(100_000, max_pending))
run = Run(name="full-disk", store=dead, writer=writer, system_metrics=False)
for step in range(steps_a):
    run.log({"a": float(step), "b": 1.0, "c": 2.0}, step=step)
deadline = time.time() + 30
while not any("cannot write the spool" in m for m in said) and time.time() < deadline:
    time.sleep(0.05)
refused = next((m for m in said if "cannot write the spool" in m), None)
time.sleep(1.0)  # the guard keeps trying while the disk stays full
if mode == "rlimit":
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
else:
    os.unlink(filler)
for step in range(steps_a, steps_a + steps_b):
    run.log({"a": float(step), "b": 1.0, "c": 2.0}, step=step)
run.finish(timeout=60)
writer.close(timeout=60)
print(json.dumps({"refused": refused, "id": run.id, "lost": writer.points_lost,
                  "spooled": writer.points_spooled}))
"""
