"""Real TensorBoard and Visdom servers on loopback ports, for the transfer tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_port, wait_http


@contextmanager
def _process(cmd: list[str], ready_url: str, log: Path, timeout: float) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            try:
                wait_http(ready_url, timeout)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{log.read_text(errors='replace')[-3000:]}") from None
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextmanager
def tensorboard_server(logdir: Path, log: Path, *, load_fast: bool = True,
                       timeout: float = 120.0) -> Iterator[str]:
    """TensorBoard on 127.0.0.1 started as the README says; yields its base URL.

    Default flags only: `python -m tensorboard.main --logdir DIR --host 127.0.0.1
    --port P`, so TensorBoard reads the logdir with its default loader, the Rust
    data server (tensorboard-data-server). `load_fast=False` adds `--load_fast=false`,
    TensorBoard's older Python loader. Either keeps 1,000 points per scalar series
    (a sample beyond that) and rereads the logdir every 5 s: poll for data.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
           "--host", "127.0.0.1", "--port", str(port)]
    if not load_fast:
        cmd.append("--load_fast=false")
    with _process(cmd, f"{url}/data/runs", log, timeout):
        yield url


@contextmanager
def visdom_server(env_path: Path, log: Path, *, timeout: float = 60.0) -> Iterator[int]:
    """Visdom's server offline (no CDN downloads) on 127.0.0.1; yields its port."""
    port = free_port()
    cmd = [sys.executable, "-c", "from visdom.server.run_server import main; main()",
           "-port", str(port), "-bind_local", "-env_path", str(env_path)]
    with _process(cmd, f"http://127.0.0.1:{port}/", log, timeout):
        yield port
