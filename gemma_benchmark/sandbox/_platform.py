"""What this OS lets the sandbox use, and the per-run resources built from it.

Candidate launch plans are listed strongest first; the runner probes them once per process and
keeps the first that really runs a program (see `runner.launch_plan`). Nothing here runs at import
time.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# Sandboxed programs run under a fresh uid from this range, never a real account: RLIMIT_NPROC
# counts per uid, so a shared uid (such as nobody) would let one fork bomb starve the other
# programs of a batch, and a random one cannot own anything on the host.
SANDBOX_UIDS = range(1_900_000_000, 1_900_000_000 + (1 << 20))
MINIMAL_ENV = {"PATH": "/usr/bin:/bin"}
BASE_LAYERS = ("session", "rlimits", "tmpdir", "empty_env", "stdin_closed", "output_cap")

# Without a uid of its own, the child gets a pid namespace so that everything it started dies
# with it. With one, the namespace is left out: the uid sweep (`kill_uid`) already finds every
# straggler, and as the namespace's init the program would ignore signals it sends itself. No
# mount namespace either: its teardown waits for an RCU grace period (~12 ms per run, as much as
# the interpreter's startup), and the uid drop already keeps /proc/<harness>/environ unreadable.
_NET = ("--net",)
_NET_PID = ("--net", "--pid", "--fork", "--kill-child")
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MNT_DETACH = 2, 4, 8, 2


@dataclass(frozen=True)
class LaunchPlan:
    """How to start the child: an optional `unshare` prefix, the uid drop, the interpreter."""

    python: str
    unshare: tuple[str, ...] = ()
    uid_drop: str = ""  # "unshare", "popen" or "" (no drop)
    tmpfs: bool = False
    layers: tuple[str, ...] = BASE_LAYERS
    bootstrap: str = field(default="", repr=False)  # child code marshalled by `python`, as hex

    @property
    def drops_uid(self) -> bool:
        return bool(self.uid_drop)

    @property
    def has_pid_namespace(self) -> bool:
        return "--pid" in self.unshare

    def command(self, uid: int) -> list[str]:
        """The argv prefix that ends with the interpreter; the child arguments follow it."""
        ids = ["--setuid", str(uid), "--setgid", str(uid)] if self.uid_drop == "unshare" else []
        return [*self.unshare, *ids, self.python]

    def popen_kwargs(self, uid: int) -> dict[str, Any]:
        if self.uid_drop != "popen":
            return {}
        return {"user": uid, "group": uid, "extra_groups": []}


def candidate_plans() -> list[LaunchPlan]:
    """Every plan worth probing, strongest isolation first."""
    tmpfs = _tmpfs_works()
    base = (*BASE_LAYERS, "tmpfs_quota") if tmpfs else BASE_LAYERS
    unshare = shutil.which("unshare")
    own = _own_python()
    plans: list[LaunchPlan] = []
    if os.geteuid() == 0:
        for python in _python_candidates():
            if unshare:
                net = (unshare, *_NET)
                plans.append(
                    LaunchPlan(python, net, "unshare", tmpfs, (*base, "netns", "uid_drop"))
                )
            plans.append(LaunchPlan(python, (), "popen", tmpfs, (*base, "uid_drop")))
        if unshare:
            plans.append(
                LaunchPlan(own, (unshare, *_NET_PID), "", tmpfs, (*base, "netns", "pidns"))
            )
    elif unshare:
        userns = (unshare, "--user", "--map-current-user", *_NET_PID)
        plans.append(LaunchPlan(own, userns, "", False, (*base, "userns", "netns", "pidns")))
    plans.append(LaunchPlan(own, (), "", tmpfs, base))
    return plans


def _own_python() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)


def _python_candidates() -> list[str]:
    """Interpreters to try under a dropped uid: ours first, then system ones.

    Ours may sit in a directory the sandbox uid cannot enter (e.g. pyenv under a 0700 /root);
    the probe finds out, and a world-readable system Python takes over.
    """
    found = [_own_python(), os.path.realpath(sys.executable)]
    for name in ("/usr/local/bin/python3", "/usr/bin/python3", shutil.which("python3")):
        if name and os.access(name, os.X_OK):
            found.append(os.path.realpath(name))
    return list(dict.fromkeys(found))


@functools.cache
def compile_bootstrap(python: str, source: str) -> str:
    """`source` compiled and marshalled by `python` itself (marshal is version-specific), as hex.

    Compiling the child code once instead of in every child saves most of its startup cost
    beyond the bare interpreter. Raises OSError or CalledProcessError if `python` cannot do it.
    """
    script = "import marshal,sys;sys.stdout.write(marshal.dumps(compile(sys.stdin.read(),"
    script += "'<sandbox>','exec')).hex())"
    done = subprocess.run(
        [python, "-I", "-S", "-c", script],
        input=source,
        capture_output=True,
        text=True,
        check=True,
        env=MINIMAL_ENV,
        timeout=60,
    )
    return done.stdout


@functools.cache
def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(path: str, uid: int, size_mb: int, inodes: int, mode: str = "0700") -> None:
    options = f"size={size_mb}m,nr_inodes={inodes},mode={mode},uid={uid},gid={uid}".encode()
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    if _libc().mount(b"tmpfs", path.encode(), b"tmpfs", flags, options) != 0:
        import ctypes

        errno = ctypes.get_errno()
        raise OSError(errno, f"mount tmpfs on {path}: {os.strerror(errno)}")


def _unmount(path: str) -> None:
    _libc().umount2(path.encode(), _MNT_DETACH)


@functools.cache
def _tmpfs_works() -> bool:
    """Root may still lack CAP_SYS_ADMIN (containers); one real mount tells."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    path = tempfile.mkdtemp(prefix="gemma-sbx-probe-")
    try:
        _mount_tmpfs(path, 0, 1, 16)
    except OSError:
        return False
    else:
        _unmount(path)
        return True
    finally:
        os.rmdir(path)


class _TmpfsPool:
    """Size-limited tmpfs mounts, one per concurrent run, mounted once and reused.

    Mounting per run would cost an RCU grace period at every unmount; a reused mount only needs
    the run's directory removed. Each mount serves one run at a time, so a disk filler can only
    fill its own. All are unmounted at interpreter exit.
    """

    def __init__(self) -> None:
        self.free: dict[tuple[int, int], list[str]] = {}
        self.mounted: list[str] = []
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def lease(self, size_mb: int, inodes: int) -> Iterator[str]:
        key = (size_mb, inodes)
        with self.lock:
            ready = self.free.setdefault(key, [])
            path = ready.pop() if ready else None
        if path is None:
            path = self._mount(size_mb, inodes)
        try:
            yield path
        finally:
            with self.lock:
                self.free[key].append(path)

    def _mount(self, size_mb: int, inodes: int) -> str:
        path = tempfile.mkdtemp(prefix="gemma-sbx-disk-")
        try:
            _mount_tmpfs(path, 0, size_mb, inodes, mode="0711")
        except OSError:
            os.rmdir(path)
            raise
        with self.lock:
            if not self.mounted:
                atexit.register(self.unmount_all)
            self.mounted.append(path)
        return path

    def unmount_all(self) -> None:
        with self.lock:
            for path in self.mounted:
                _unmount(path)
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            self.mounted.clear()
            self.free.clear()


_pool = _TmpfsPool()


@contextlib.contextmanager
def workdir(plan: LaunchPlan, uid: int, disk_mb: int, inodes: int) -> Iterator[str]:
    """A fresh empty directory owned by the sandbox uid, on a private tmpfs when possible."""
    with contextlib.ExitStack() as stack:
        parent = stack.enter_context(_pool.lease(disk_mb, inodes)) if plan.tmpfs else None
        path = os.path.realpath(tempfile.mkdtemp(prefix="gemma-sbx-", dir=parent))
        try:
            if plan.drops_uid:
                os.chown(path, uid, uid)
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


_uids_in_use: set[int] = set()
_uid_lock = threading.Lock()


@contextlib.contextmanager
def sandbox_uid() -> Iterator[int]:
    """A uid no other run of this process is using; random, so other processes rarely collide."""
    with _uid_lock:
        uid = SANDBOX_UIDS[secrets.randbelow(len(SANDBOX_UIDS))]
        while uid in _uids_in_use:
            uid = SANDBOX_UIDS[secrets.randbelow(len(SANDBOX_UIDS))]
        _uids_in_use.add(uid)
    try:
        yield uid
    finally:
        with _uid_lock:
            _uids_in_use.discard(uid)


def processes_of(uids: range) -> list[int]:
    """Pids of live (not zombie) processes whose /proc entry belongs to one of `uids`."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid in uids and not _is_zombie(entry):
                    pids.append(int(entry))
    return pids


def _is_zombie(pid: str) -> bool:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        return handle.read().rpartition(b") ")[2][:1] in (b"Z", b"X")


def kill_uid(uid: int, patience_s: float = 5.0) -> None:
    """SIGKILL every process of `uid` until none is left alive (a fork bomb keeps forking, and a
    killed process takes a moment to die). Zombies are left to their reaper."""
    deadline = time.monotonic() + patience_s
    while pids := processes_of(range(uid, uid + 1)):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:  # stuck in uninterruptible sleep: nothing more to do
            logger.error("sandbox processes %s (uid %d) survive SIGKILL", pids, uid)
            return
        time.sleep(0.001)
