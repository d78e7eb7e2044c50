"""Peak memory of a measured region: resident set size on CPU, torch's counters on CUDA.

CPU: a thread samples /proc/self/statm, and the kernel's high-water mark (VmHWM, reset through
/proc/self/clear_refs where allowed) catches spikes between samples; psutil is not needed. Growth
is counted over a baseline (the loaded model). CUDA: the summed peak of `max_memory_allocated` /
`max_memory_reserved` over all devices, reset at the start.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
import threading
from pathlib import Path

import torch

_STATM = Path("/proc/self/statm")
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_SAMPLE_INTERVAL_S = 0.002


# -- memory -----------------------------------------------------------------------------------


def current_rss_bytes() -> int:
    """Resident set size now; without /proc (macOS), the process's lifetime peak instead."""
    if _STATM.exists():
        return int(_STATM.read_text().split()[1]) * _PAGE_SIZE
    import resource  # POSIX only; on Linux /proc is read instead

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _high_water_mark_bytes() -> int | None:
    for line in _STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the OS, so a point's RSS does not carry the last one's."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class RssPeak:
    """Peak resident set size while active: a sampling thread, plus VmHWM where resettable."""

    def __init__(self, baseline_bytes: int) -> None:
        self.baseline = baseline_bytes
        self.peak = 0
        self.method = "statm sampler"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._hwm = False

    def _sample(self) -> None:  # runs in the sampling thread
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss_bytes())
            self._stop.wait(_SAMPLE_INTERVAL_S)

    def start(self) -> None:
        _release_freed_memory()
        # In a long-lived process the RSS at load time can include heap that was freed and
        # trimmed since; growth is counted from the lower of the two baselines.
        self.baseline = min(self.baseline, current_rss_bytes())
        self._hwm = _reset_high_water_mark()
        self.peak = current_rss_bytes()
        self._thread.start()

    def pause(self) -> None:
        if not self._thread.is_alive():
            return
        self._stop.set()
        self._thread.join()
        hwm = _high_water_mark_bytes() if self._hwm else None
        if hwm is not None:
            self.peak = max(self.peak, hwm)
            self.method = "statm sampler + VmHWM"

    def finish(self) -> tuple[dict[str, float], float]:
        growth = max(self.peak - self.baseline, 0)
        memory = {
            "peak_rss_bytes": float(self.peak),
            "baseline_rss_bytes": float(self.baseline),
            "rss_growth_bytes": float(growth),
        }
        return memory, float(growth)


class CudaPeak:
    """Peak allocated/reserved CUDA memory over all devices; the counters cost nothing to keep."""

    def start(self) -> None:
        gc.collect()
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        for index in range(torch.cuda.device_count()):
            torch.cuda.reset_peak_memory_stats(index)

    def pause(self) -> None:
        """Nothing to stop: the timed runs count towards the peak too."""

    def finish(self) -> tuple[dict[str, float], float]:
        torch.cuda.synchronize()
        count = torch.cuda.device_count()
        allocated = sum(torch.cuda.max_memory_allocated(i) for i in range(count))
        reserved = sum(torch.cuda.max_memory_reserved(i) for i in range(count))
        memory = {"peak_allocated_bytes": float(allocated), "peak_reserved_bytes": float(reserved)}
        return memory, float(allocated)
