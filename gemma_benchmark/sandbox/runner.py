"""Run untrusted programs: one fresh interpreter per program, one thread per worker."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gemma_benchmark.sandbox import _platform
from gemma_benchmark.sandbox._child import MEMORY, READY, TRAILER
from gemma_benchmark.sandbox._supervise import Outcome, ParentEnds, supervise
from gemma_benchmark.sandbox.result import (
    DEFAULT_POLICY,
    MIB,
    SandboxError,
    SandboxPolicy,
    SandboxResult,
    SandboxStatus,
)

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = max(1, os.cpu_count() or 1)
_PYTHON_FLAGS = ("-I", "-S", "-B")  # isolated, no site-packages, no .pyc writes
# Runs the precompiled child code; pops its own argument so the child sees only its own.
_LOADER = "import marshal,sys;exec(marshal.loads(bytes.fromhex(sys.argv.pop(1))))"
_PROBE = "import hashlib, resource\nassert hashlib.md5(b'').hexdigest()\n"
# Layers whose absence must not go unnoticed (as root, and otherwise).
_EXPECTED_AS_ROOT = ("uid_drop", "netns", "tmpfs_quota")
_EXPECTED_AS_USER = ("netns",)


def run_program(
    source: str,
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    policy: SandboxPolicy = DEFAULT_POLICY,
) -> SandboxResult:
    """Run `source` as a Python program in the sandbox.

    `timeout_s` is wall-clock; `memory_mb` caps the address space. Raises ValueError for bad
    limits and SandboxError when the sandbox itself breaks; everything the program does is
    reported through `SandboxResult.status`.
    """
    _check_limits(timeout_s, memory_mb)
    return _run(launch_plan(), source, timeout_s, memory_mb, policy)


def run_programs(
    sources: list[str],
    workers: int = DEFAULT_WORKERS,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    *,
    policy: SandboxPolicy = DEFAULT_POLICY,
) -> list[SandboxResult]:
    """Run every source with up to `workers` at a time; results come back in input order.

    Each program gets its own uid, directory, limits and namespaces, so what one does cannot
    change another's result.
    """
    _check_limits(timeout_s, memory_mb)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    plan = launch_plan()

    def one(source: str) -> SandboxResult:
        return _run(plan, source, timeout_s, memory_mb, policy)

    with ThreadPoolExecutor(max_workers=min(workers, max(1, len(sources)))) as pool:
        return list(pool.map(one, sources))


def active_layers(policy: SandboxPolicy = DEFAULT_POLICY) -> tuple[str, ...]:
    """The isolation layers every run gets on this machine (probing the OS on first use)."""
    return _layers(launch_plan(), policy)


def _layers(plan: _platform.LaunchPlan, policy: SandboxPolicy) -> tuple[str, ...]:
    return (*plan.layers, "audit_hook") if policy.audit_hook else plan.layers


def _check_limits(timeout_s: float, memory_mb: int) -> None:
    if not timeout_s > 0 or math.isinf(timeout_s):
        raise ValueError(f"timeout_s must be a positive finite number, got {timeout_s}")
    if memory_mb < 64:
        raise ValueError(
            f"memory_mb must be at least 64 (the interpreter needs it), got {memory_mb}"
        )


_plan: _platform.LaunchPlan | None = None
_plan_lock = threading.Lock()


def launch_plan() -> _platform.LaunchPlan:
    """The strongest plan that really runs a program here, probed once per process."""
    global _plan
    with _plan_lock:
        if _plan is None:
            _plan = _probe()
        return _plan


def _probe() -> _platform.LaunchPlan:
    for candidate in _platform.candidate_plans():
        try:
            code = _platform.compile_bootstrap(candidate.python, _child_source())
            plan = dataclasses.replace(candidate, bootstrap=code)
            result = _run(plan, _PROBE, 10.0, 512, DEFAULT_POLICY)
        except (SandboxError, OSError, subprocess.SubprocessError) as err:
            logger.debug("sandbox plan %s unusable: %s", candidate, err)
            continue
        if result.passed:
            _warn_if_weak(plan)
            return plan
        logger.debug("sandbox plan %s failed its probe: %s", plan, result.stderr_tail)
    raise SandboxError("no sandbox configuration could run a Python program on this machine")


def _warn_if_weak(plan: _platform.LaunchPlan) -> None:
    expected = _EXPECTED_AS_ROOT if os.geteuid() == 0 else _EXPECTED_AS_USER
    missing = [layer for layer in expected if layer not in plan.layers]
    if missing:
        logger.warning("sandbox runs without %s on this machine", ", ".join(missing))
    logger.info("sandbox: %s with layers %s", plan.python, ", ".join(plan.layers))


@functools.cache
def _child_source() -> str:
    return (Path(__file__).parent / "_child.py").read_text(encoding="utf-8")


@functools.cache
def trailer_line() -> int:
    """The line of `_child.py` whose FINISHED event alone releases the token (see there)."""
    lines = [i for i, text in enumerate(_child_source().splitlines(), 1) if text.strip() == TRAILER]
    if len(lines) != 1:
        raise SandboxError(f"_child.py must hold exactly one {TRAILER!r} line")
    return lines[0]


def _run(
    plan: _platform.LaunchPlan,
    source: str,
    timeout_s: float,
    memory_mb: int,
    policy: SandboxPolicy,
) -> SandboxResult:
    token = secrets.token_hex(16).encode()
    cpu_s = math.ceil(timeout_s) + 1
    started = time.monotonic()
    with (
        _platform.sandbox_uid() as uid,
        _platform.workdir(plan, uid, policy.disk_mb, policy.disk_inodes) as workdir,
    ):
        args = (workdir, memory_mb * MIB, cpu_s, policy)
        proc, ends = _spawn(plan, uid, token, args)
        try:
            outcome = supervise(
                proc.pid,
                source.encode("utf-8", "surrogatepass"),
                ends,
                timeout_s,
                (policy.tail_bytes, policy.output_limit_bytes),
                _killer(plan, proc.pid, uid),
            )
        finally:
            # supervise reaped the pid; a Popen left "running" would waitpid() on it later,
            # possibly reaping another worker's child that got the same pid.
            proc.returncode = -1
    return SandboxResult(
        status=_classify(outcome, token, cpu_s),
        returncode=outcome.returncode,
        stdout_tail=outcome.stdout.decode("utf-8", "replace"),
        stderr_tail=outcome.stderr.decode("utf-8", "replace"),
        layers=_layers(plan, policy),
        duration_s=time.monotonic() - started,
    )


def _spawn(
    plan: _platform.LaunchPlan,
    uid: int,
    token: bytes,
    args: tuple[str, int, int, SandboxPolicy],
) -> tuple[subprocess.Popen[bytes], ParentEnds]:
    """Start the child; returns it and the harness's ends of its pipes.

    The token goes into a pipe before the child exists and the write end is closed at once, so
    it lives only in the kernel's pipe buffer until the trailer reads it.
    """
    workdir, memory, cpu_s, policy = args
    token_r, token_w = os.pipe()
    os.write(token_w, token)
    os.close(token_w)
    (stdin_r, stdin_w), (out_r, out_w), (err_r, err_w), (report_r, report_w) = (
        os.pipe() for _ in range(4)
    )
    child_args = [workdir, token_r, report_w, memory, cpu_s, policy.max_processes]
    child_args += [policy.file_size_mb * MIB, policy.max_open_files, int(policy.audit_hook)]
    child_args.append(trailer_line())
    argv = [*plan.command(uid), *_PYTHON_FLAGS, "-c", _LOADER, plan.bootstrap]
    argv += map(str, child_args)
    ends = ParentEnds(stdin=stdin_w, stdout=out_r, stderr=err_r, report=report_r)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=stdin_r,
            stdout=out_w,
            stderr=err_w,
            cwd=workdir,
            env=dict(_platform.MINIMAL_ENV),
            start_new_session=True,
            pass_fds=(token_r, report_w),
            **plan.popen_kwargs(uid),
        )
    except OSError as err:
        ends.close()
        raise SandboxError(f"could not start the sandbox ({argv[0]}): {err}") from err
    finally:
        for fd in (token_r, stdin_r, out_w, err_w, report_w):
            os.close(fd)
    return proc, ends


def _killer(plan: _platform.LaunchPlan, pgid: int, uid: int) -> Callable[[], None]:
    """Kill the child's whole tree: its process group, and every process of its uid unless a pid
    namespace already guarantees that (its init's death takes the rest with it)."""
    sweep_uid = plan.drops_uid and not plan.has_pid_namespace

    def kill_all() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        if sweep_uid:
            _platform.kill_uid(uid)

    return kill_all


def _classify(outcome: Outcome, token: bytes, cpu_limit_s: int) -> SandboxStatus:
    """Map what the harness saw to a status; raises SandboxError if the program never started."""
    if outcome.timed_out:
        return "timeout"
    report, code = outcome.report, outcome.returncode
    if not report.startswith(READY):
        tail = outcome.stderr.decode("utf-8", "replace")
        raise SandboxError(f"the sandbox broke before the program started (exit {code}): {tail}")
    if report == READY + token and code == 0:
        return "passed"
    if MEMORY in report[len(READY) :] or _ends_in_memory_error(outcome.stderr):
        return "memory_exceeded"
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and outcome.cpu_s >= cpu_limit_s):
        return "timeout"
    return "crashed" if code < 0 else "failed"


_MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "out of memory")


def _ends_in_memory_error(stderr: bytes) -> bool:
    """Whether the last lines of stderr tell of exhausted memory (a MemoryError raised where
    the trailer could not see it, or the interpreter aborting on a failed allocation)."""
    last = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
    return any(sign in line for line in last for sign in _MEMORY_SIGNS)
