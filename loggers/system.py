"""System metrics: CPU, memory and GPUs, sampled on a thread of their own.

Every run starts a sampler unless told not to (`Run(system_metrics=False)`). It
takes a sample just after the run starts, one every `interval` seconds, and a
last one when the run finishes, so even a run of a second has a start and an end
reading (the demo's runs last 1-6 s). It logs under `system/...` keys with its own step counter (the sample index) through
`Run.log_aside`, so it never moves the training step sequence; plot these keys
against wall time. The training loop pays nothing: the sampler only wakes every
`interval` seconds, and psutil's CPU figure is the average since the previous
sample (no blocking measurement window).

GPUs are read through NVIDIA's NVML (`pip install 'trackboard[gpu]'`, module
`pynvml`) when it imports and finds a device; otherwise only CPU and memory.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from trackboard.loggers.run import Run

log = logging.getLogger("trackboard")

DEFAULT_INTERVAL = 10.0  # seconds between samples
# The start sample comes this long after the thread starts: psutil's CPU figures
# compare with the previous call, and a window of ~0 s reads 0 % or 100 %. It is
# waited for on the sampler's thread, so Run() does not pay it.
START_WINDOW = 0.1
_GIB = float(1 << 30)


class SystemSampler:
    """Logs `system/...` metrics of this machine and process every `interval` seconds.

    >>> sampler = SystemSampler(run, interval=10.0)  # doctest: +SKIP
    >>> sampler.start(); ...; sampler.stop()         # doctest: +SKIP

    Run starts one itself and stops it in finish(). Samples: one START_WINDOW
    after start, one every `interval`, one at stop() (sample indices 0, 1, 2, ...).
    """

    def __init__(self, run: Run, *, interval: float = DEFAULT_INTERVAL) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                or not interval > 0:
            raise ValueError(f"system metrics interval {interval!r}: pass a number of seconds "
                             "> 0 (e.g. system_metrics=10.0), True for the default or False "
                             "to switch system metrics off")
        self.run = run
        self.interval = float(interval)
        self.samples = 0
        self._stop = threading.Event()
        self._final = False  # stop() asked for a last sample
        self._process = psutil.Process()
        self._gpus: list[Any] = []
        self._nvml: Any = None
        self._thread = threading.Thread(target=self._loop, name="trackboard-system",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0, *, last_sample: bool = True) -> None:
        """End the thread, which takes a last sample on its way out (unless
        `last_sample=False`), and wait for it. Idempotent: the last sample is taken once.

        The last sample is taken on the sampler's thread, not the caller's: the GPU
        handles live there, and the run's finish() waits here anyway."""
        self._final = last_sample
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        try:
            # psutil's CPU percentages compare with the previous call: prime them now.
            psutil.cpu_percent(None)
            self._process.cpu_percent(None)
            self._open_gpus()
            if not self._stop.wait(START_WINDOW):
                self._sample()  # the start sample: short runs get one too
            while not self._stop.wait(self.interval):
                self._sample()
            if self._final:
                self._sample()  # the finish sample, before the run's final status
        except Exception as exc:  # a broken sensor must never touch training
            log.warning("trackboard: system metrics stopped (%s: %s)", type(exc).__name__, exc)
        finally:
            self._close_gpus()

    def sample_values(self) -> dict[str, float]:
        """One reading of every system metric, keyed as stored."""
        mem = psutil.virtual_memory()
        values = {
            "system/cpu_percent": psutil.cpu_percent(None),
            "system/memory_percent": mem.percent,
            "system/memory_used_gib": (mem.total - mem.available) / _GIB,
            "system/process_cpu_percent": self._process.cpu_percent(None),
            "system/process_memory_gib": self._process.memory_info().rss / _GIB,
        }
        for index, handle in enumerate(self._gpus):
            nvml = self._nvml
            util = nvml.nvmlDeviceGetUtilizationRates(handle)
            gmem = nvml.nvmlDeviceGetMemoryInfo(handle)
            values[f"system/gpu{index}/utilization_percent"] = float(util.gpu)
            values[f"system/gpu{index}/memory_percent"] = 100.0 * gmem.used / max(gmem.total, 1)
            values[f"system/gpu{index}/memory_used_gib"] = gmem.used / _GIB
        return values

    def _sample(self) -> None:
        self.run.log_aside(self.sample_values(), step=self.samples)
        self.samples += 1

    def _open_gpus(self) -> None:
        try:
            import pynvml
        except ImportError:
            return  # no nvidia-ml-py: CPU and memory only
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError:
            return  # no NVIDIA driver or device on this machine
        self._nvml = pynvml
        self._gpus = [pynvml.nvmlDeviceGetHandleByIndex(i)
                      for i in range(pynvml.nvmlDeviceGetCount())]

    def _close_gpus(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass  # already shut down by someone else sharing NVML in this process
            self._nvml = None
            self._gpus = []
