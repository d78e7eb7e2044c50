"""Feed the child its program, watch its pipes and its exit, and enforce the wall-clock deadline.

One selector loop per run, in the calling thread: it writes the source to stdin, keeps only the
tail of stdout/stderr (and stops reading a stream past its limit, so a flood costs the harness
nothing and the child's next write fails with EPIPE), and learns of the exit through a pidfd; the
report pipe is read once the child is gone. Stragglers are killed while the leader is still an
unreaped zombie, so its process-group id cannot have been reused by an unrelated process.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass

_CHUNK = 1 << 16
_POLL_S = 0.01  # only without pidfd support (kernel < 5.3)


class _Capture:
    """The last `tail` bytes of a stream, and whether more than `limit` bytes came in all."""

    def __init__(self, tail: int, limit: int) -> None:
        self.tail, self.limit, self.total = tail, limit, 0
        self.buffer = bytearray()

    def add(self, chunk: bytes) -> bool:
        """Keep `chunk`; False once the stream went past its limit."""
        self.total += len(chunk)
        self.buffer += chunk
        if len(self.buffer) > 2 * self.tail:
            del self.buffer[: -self.tail]
        return self.total < self.limit

    def value(self) -> bytes:
        return bytes(self.buffer[-self.tail :])


@dataclass(frozen=True)
class Outcome:
    """What the harness saw of one child, before any interpretation."""

    returncode: int
    timed_out: bool
    cpu_s: float
    report: bytes
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class ParentEnds:
    """The harness's ends of the child's pipes; the supervisor closes each exactly once."""

    stdin: int
    stdout: int
    stderr: int
    report: int

    def close(self) -> None:
        for fd in (self.stdin, self.stdout, self.stderr, self.report):
            os.close(fd)


class _Watch:
    """State of one supervision loop; `run` drives it to the child's end or the deadline."""

    def __init__(self, pid: int, source: bytes, ends: ParentEnds, tail: int, limit: int) -> None:
        self.pid, self.pending = pid, memoryview(source)
        self.selector = selectors.DefaultSelector()
        self.stdout, self.stderr = _Capture(tail, limit), _Capture(tail, limit)
        self.readers = {ends.stdout: self.stdout, ends.stderr: self.stderr}
        for fd in self.readers:
            self.selector.register(fd, selectors.EVENT_READ)
        self.stdin_fd = ends.stdin
        os.set_blocking(self.stdin_fd, False)
        self.selector.register(self.stdin_fd, selectors.EVENT_WRITE)
        self._feed()  # most programs fit in the pipe buffer: no wake-up needed to send them
        self.pidfd = _pidfd_open(pid)
        self.polls_exit = self.pidfd is None
        if self.pidfd is not None:
            self.selector.register(self.pidfd, selectors.EVENT_READ)
        self.exited = False

    def run(self, deadline: float, on_exit: Callable[[], None]) -> bool:
        """Loop until the child exited and its pipes closed; True when the deadline hit first."""
        while not (self.exited and not self.readers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            wait = min(remaining, _POLL_S) if self.polls_exit else remaining
            was_running = not self.exited
            for key, _ in self.selector.select(wait):
                self._handle(int(key.fd))
            if was_running and self.polls_exit:
                self.exited = _has_exited(self.pid)
            if was_running and self.exited:
                on_exit()
        return False

    def _handle(self, fd: int) -> None:
        if fd == self.stdin_fd:
            self._feed()
        elif fd == self.pidfd:
            self.exited = True
            self.selector.unregister(fd)
        elif fd in self.readers:
            chunk = os.read(fd, _CHUNK)
            if not chunk or not self.readers[fd].add(chunk):
                self.readers.pop(fd)
                self._stop_reading(fd)

    def _feed(self) -> None:
        try:
            written = os.write(self.stdin_fd, self.pending[:_CHUNK])
        except BlockingIOError:
            return
        except OSError:  # the child closed stdin early (or died): nothing more to send
            written = len(self.pending)
        self.pending = self.pending[written:]
        if not self.pending:  # EOF for the child: close our end now, not at the end of the run
            self.selector.unregister(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = -1

    def _stop_reading(self, fd: int) -> None:
        """Unregister `fd` and shut its pipe, so a child still writing gets EPIPE, not a stall."""
        self.selector.unregister(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, fd)  # keeps the number ours (closed once in close()), drops the pipe
        os.close(null)

    def close(self, ends: ParentEnds) -> None:
        self.selector.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
        for fd in (ends.stdout, ends.stderr):
            os.close(fd)
        if self.stdin_fd >= 0:
            os.close(self.stdin_fd)


def supervise(
    pid: int,
    source: bytes,
    ends: ParentEnds,
    timeout_s: float,
    limits: tuple[int, int],
    kill_all: Callable[[], None],
) -> Outcome:
    """Run the child to its end (or kill it at `timeout_s`), reap it, and close `ends`.

    `limits` is (tail bytes kept, bytes read at most) per output stream. `kill_all` must kill the
    child's whole tree; it runs once the leader exited (for stragglers) or at the deadline.
    """
    watch = _Watch(pid, source, ends, *limits)
    timed_out = True  # also when the loop itself fails: never leave the child running
    try:
        timed_out = watch.run(time.monotonic() + timeout_s, kill_all)
    finally:
        if timed_out:
            kill_all()
        watch.close(ends)
        _, status, usage = os.wait4(pid, 0)
        report = _read_available(ends.report, 256)
        os.close(ends.report)
    return Outcome(
        returncode=os.waitstatus_to_exitcode(status),
        timed_out=timed_out,
        cpu_s=usage.ru_utime + usage.ru_stime,
        report=report,
        stdout=watch.stdout.value(),
        stderr=watch.stderr.value(),
    )


def _read_available(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes already in the pipe. The report pipe is read only after the child is
    gone (its few bytes wait in the pipe buffer), which saves the harness a wake-up per run."""
    os.set_blocking(fd, False)
    with contextlib.suppress(BlockingIOError):
        return os.read(fd, limit)
    return b""


def _pidfd_open(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _has_exited(pid: int) -> bool:
    """Whether `pid` is a zombie now, without reaping it (the group id stays reserved)."""
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    return os.waitid(os.P_PID, pid, flags) is not None
