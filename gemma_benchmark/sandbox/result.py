"""Public value types of the sandbox: the policy that shapes a run and the result it yields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gemma_benchmark.exceptions import GemmaBenchmarkError

SandboxStatus = Literal["passed", "failed", "timeout", "memory_exceeded", "crashed"]

MIB = 1 << 20


class SandboxError(GemmaBenchmarkError):
    """The sandbox itself failed (could not start, or broke before the program ran).

    Never raised for anything the program does: that always becomes a status.
    """


@dataclass(frozen=True)
class SandboxPolicy:
    """Limits that rarely change between runs; `timeout_s` and `memory_mb` are per call.

    `audit_hook=False` exists so the tests can show that the OS layers hold on their own; every
    other caller should keep the default.
    """

    output_limit_bytes: int = 1 * MIB  # per stream; past it the child's writes fail with EPIPE
    tail_bytes: int = 2048
    file_size_mb: int = 16  # RLIMIT_FSIZE: the largest single file the program may write
    disk_mb: int = 64  # size of the per-run tmpfs, when one can be mounted
    disk_inodes: int = 4096
    max_processes: int = 64  # RLIMIT_NPROC, counted per sandbox uid (threads included)
    max_open_files: int = 64
    audit_hook: bool = True

    def __post_init__(self) -> None:
        for name in ("output_limit_bytes", "tail_bytes", "file_size_mb", "disk_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxPolicy.{name} must be positive")
        if self.max_processes < 2 or self.max_open_files < 16 or self.disk_inodes < 16:
            raise ValueError("SandboxPolicy limits are too small for a Python interpreter")


DEFAULT_POLICY = SandboxPolicy()


@dataclass(frozen=True)
class SandboxResult:
    """What one program did.

    `status` is `passed` only when the program ran to its end, the per-run token came back
    through the trailer, and the interpreter then exited 0. `returncode` is the exit code, or
    minus the signal number (-9 when the harness killed it at the deadline). The tails are the
    last `SandboxPolicy.tail_bytes` of each stream. `layers` names the isolation layers that were
    active for this run (see `gemma_benchmark.sandbox`); `duration_s` is wall-clock, start to
    reap.
    """

    status: SandboxStatus
    returncode: int
    stdout_tail: str
    stderr_tail: str
    layers: tuple[str, ...]
    duration_s: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"
