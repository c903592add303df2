"""Which process logs: only rank 0, unless told otherwise.

In data-parallel training every process runs the same script, so every adapter
asks `process_rank()` before it opens a run; ranks other than 0 get a `NullRun`
that accepts every call and does nothing. The rank comes from, in order:
torch.distributed (when the user's code has initialised it), the RANK /
LOCAL_RANK environment variables that torchrun, Lightning, Accelerate and
DeepSpeed set, and jax.process_index() (when the user's code imported JAX).
No framework is imported here that the user has not imported already.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any

from trackboard.loggers.run import Run


def process_rank() -> int:
    """This process's global rank in distributed training; 0 when not distributed.

    >>> import os; os.environ["RANK"] = "3"; process_rank()
    3
    >>> del os.environ["RANK"]; process_rank()
    0
    """
    torch = sys.modules.get("torch")
    dist = getattr(torch, "distributed", None) if torch is not None else None
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    for name in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"environment variable {name}={value!r} is not an integer "
                                 "rank; unset it or set it to this process's rank") from None
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "process_index"):
        return int(jax.process_index())
    return 0


class NullRun:
    """Stands in for a Run on ranks that do not log: every call is accepted and ignored."""

    id = ""
    name = ""
    project = ""
    framework: str | None = None
    step = 0
    finished = False
    resumed = False

    def log(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_params(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_tags(self, *args: Any, **kwargs: Any) -> None:
        pass

    def purge(self, *args: Any, **kwargs: Any) -> None:
        pass

    def flush(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def finish(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        # Anything else a newer Run grows (or a user calls) is a no-op too.
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None

    def __enter__(self) -> NullRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pass

    def __repr__(self) -> str:
        return "NullRun()"


def start_run(*, framework: str, rank_zero_only: bool = True, **kwargs: Any) -> Run | NullRun:
    """A Run on rank 0 (or on every rank with rank_zero_only=False), else a NullRun.
    Every Run argument passes on, `id=` and `resume=` included (a resumed job
    continues its run on rank 0).

    >>> run = start_run(framework="torch", project="churn", store=url)  # doctest: +SKIP
    >>> run = start_run(framework="torch", id="job-7", resume="allow")  # doctest: +SKIP
    """
    if rank_zero_only and process_rank() != 0:
        return NullRun()
    return Run(framework=framework, **kwargs)
