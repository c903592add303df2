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
def tensorboard_server(logdir: Path, log: Path, *, timeout: float = 120.0) -> Iterator[str]:
    """`tensorboard --logdir LOGDIR` on 127.0.0.1; yields its base URL.

    Up to 100,000 scalars per series are kept. (scalars=0, "keep all" for the
    reservoir, makes TensorBoard 2.21's scalars API return no rows at all.)
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
           "--host", "127.0.0.1", "--port", str(port), "--samples_per_plugin",
           "scalars=100000", "--reload_interval", "0", "--load_fast", "false"]
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
