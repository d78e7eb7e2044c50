"""Hostile programs: each gets the right status, and none harms the harness, the host or a
neighbour in the same batch.

Every attack is shaped like a HumanEval completion: it sits between a solution and its check, so
a forged pass would show up as `passed` on a program whose check fails or never runs.
"""

from __future__ import annotations

import os
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from gemma_benchmark.sandbox import (
    SANDBOX_UIDS,
    SandboxPolicy,
    SandboxResult,
    active_layers,
    run_program,
    run_programs,
)

SECRET = "secret-canary-7f3a9c"
BENIGN = (
    "def add(a, b):\n    return a + b\n\n\ndef check(c):\n    assert c(2, 3) == 5\n\n\ncheck(add)\n"
)
TIMEOUT_S = 2.0
MEMORY_MB = 512
IS_ROOT = os.geteuid() == 0


def task(attack: str, *, solution: str = "a + b") -> str:
    """A HumanEval-like program with `attack` where the completion's extra code would go."""
    return (
        f"def add(a, b):\n    return {solution}\n\n{attack}\n\n"
        "def check(candidate):\n    assert candidate(2, 3) == 5\n"
        "    assert candidate(-1, 1) == 0\n\n\ncheck(add)\n"
    )


def wrong(attack: str) -> str:
    """`task` with a wrong solution: only a forged pass could make it pass."""
    return task(attack, solution="a - b")


@dataclass(frozen=True)
class Targets:
    """What the attacks aim at, set up by the test process."""

    harness_pid: int
    port: int
    canary_dir: Path  # world-writable: only the audit hook stands in the way
    canary: Path
    root_canary: Path  # root-owned 0644 in a 0755 dir: the uid drop stands in the way


@dataclass(frozen=True)
class Attack:
    name: str
    source: str
    statuses: tuple[str, ...]


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def targets(listener: socket.socket) -> Iterator[Targets]:
    shared = Path(tempfile.mkdtemp(prefix="sandbox-canary-"))
    shared.chmod(0o777)
    canary = shared / "canary.txt"
    canary.write_text("untouched")
    canary.chmod(0o666)
    private = Path(tempfile.mkdtemp(prefix="sandbox-root-canary-"))
    private.chmod(0o755)
    root_canary = private / "canary.txt"
    root_canary.write_text("untouched")
    root_canary.chmod(0o644)
    yield Targets(os.getpid(), listener.getsockname()[1], shared, canary, root_canary)
    for path in (shared, private):
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


@pytest.fixture(scope="module", autouse=True)
def planted_secret() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_TOKEN", SECRET)
        patch.setenv("OPENAI_API_KEY", SECRET)
        yield


def hook_attacks(t: Targets) -> list[Attack]:
    """Attacks the audit hook refuses (or the harness defeats), with every layer on."""
    touch = t.canary_dir / "touched"
    return [
        Attack("sys_exit_0", wrong("import sys\nsys.exit(0)"), ("failed",)),
        Attack("os__exit_0", wrong("import os\nos._exit(0)"), ("failed",)),
        Attack("raise_system_exit", wrong("raise SystemExit(0)"), ("failed",)),
        Attack(
            "atexit_exit_0", wrong("import atexit, os\natexit.register(os._exit, 0)"), ("failed",)
        ),
        Attack("excepthook", wrong("import sys\nsys.excepthook = lambda *a: None"), ("failed",)),
        Attack(
            "patch_assertion_error",
            wrong("import builtins\nbuiltins.AssertionError = type('Q', (Exception,), {})"),
            ("failed",),
        ),
        Attack(
            "patch_builtins",
            wrong("import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.len = None"),
            ("failed",),
        ),
        Attack("print_passed", wrong("print('passed')\nimport os\nos._exit(0)"), ("failed",)),
        Attack(
            "forge_report",
            wrong(
                "import os\nfor fd in range(3, 64):\n    try:\n"
                "        os.write(fd, b'R' + os.urandom(16).hex().encode())\n"
                "    except OSError:\n        pass\nos._exit(0)"
            ),
            ("failed",),
        ),
        Attack("list_own_fds", wrong("import os\nprint(os.listdir('/proc/self/fd'))"), ("failed",)),
        Attack(
            "echo_descriptors",  # read every descriptor, write all that was read to every one
            wrong(
                "import os\nseen = []\nfor fd in range(3, 64):\n    try:\n"
                "        seen.append(os.read(fd, 64))\n    except OSError:\n        pass\n"
                "for fd in range(3, 64):\n    for data in seen:\n        try:\n"
                "            os.write(fd, data)\n        except OSError:\n            pass\n"
                "os._exit(0)"
            ),
            ("failed",),
        ),
        Attack(
            "dup_then_read",
            wrong(
                "import os\nfor fd in range(3, 64):\n    try:\n"
                "        print(os.read(os.dup(fd), 64))\n    except OSError:\n        pass\n"
                "    try:\n        print(os.pread(fd, 64, 0), os.readv(fd, [bytearray(64)]))\n"
                "    except OSError:\n        pass"
            ),
            ("failed",),
        ),
        Attack(
            "index_trick_read",  # an __index__ that answers a harmless number first, then 3
            wrong(
                "import os\nclass Fd:\n    calls = 0\n    def __index__(self):\n"
                "        Fd.calls += 1\n        return 0 if Fd.calls == 1 else 3\n"
                "try:\n    print(os.read(Fd(), 64))\nexcept OSError:\n    pass"
            ),
            ("failed",),
        ),
        Attack("fcntl_dupfd", wrong("import fcntl\nprint(fcntl.fcntl(3, 0, 100))"), ("failed",)),
        Attack(
            "raise_finished",
            wrong("import os, sys\nsys.audit('gemma_benchmark.sandbox.finished')\nos._exit(0)"),
            ("failed",),
        ),
        Attack(
            "hijack_trailer_frame",  # make main's frame raise the event on its MemoryError path
            wrong(
                "import atexit, functools, os, sys\n"
                "frame = sys._getframe()\nwhile frame.f_back is not None:\n"
                "    frame = frame.f_back\n"
                "frame.f_globals['_WRITE'] = functools.partial(\n"
                "    sys.audit, 'gemma_benchmark.sandbox.finished')\n"
                "atexit.register(os._exit, 0)\nraise MemoryError"
            ),
            ("failed",),
        ),
        Attack(
            "rerun_loader_main",
            wrong(
                "import os, sys\nloader = sys._getframe(1).f_globals\n"
                "try:\n    loader['main'](['.', '3', '4', '1', '1', '1', '1', '16', '0', '1'])\n"
                "except BaseException:\n    pass\nos._exit(0)"
            ),
            ("failed",),
        ),
        Attack(
            "thread_races_trailer",
            wrong(
                "import sys, threading\ndef spam():\n    for _ in range(10**6):\n"
                "        try:\n            sys.audit('gemma_benchmark.sandbox.finished')\n"
                "        except PermissionError:\n            pass\n"
                "threading.Thread(target=spam, daemon=True).start()"
            ),
            ("failed",),
        ),
        Attack(
            "ctypes_system",
            task(f"import ctypes\nctypes.CDLL(None).system(b'touch {touch}')"),
            ("failed",),
        ),
        Attack(
            "subprocess",
            task(f"import subprocess\nsubprocess.run(['touch', '{touch}'])"),
            ("failed",),
        ),
        Attack("os_system", task(f"import os\nos.system('touch {touch}')"), ("failed",)),
        Attack(
            "os_exec",
            task(f"import os\nos.execv('/bin/sh', ['sh', '-c', 'touch {touch}'])"),
            ("failed",),
        ),
        Attack(
            "posix_spawn",
            task(f"import os\nos.posix_spawn('/usr/bin/touch', ['touch', '{touch}'], {{}})"),
            ("failed",),
        ),
        Attack("fork_bomb", task("import os\nwhile True:\n    os.fork()"), ("failed",)),
        Attack("read_own_environ", task("print(open('/proc/self/environ').read())"), ("failed",)),
        Attack(
            "read_parent_environ",
            task("import os\nprint(open(f'/proc/{os.getppid()}/environ').read())"),
            ("failed",),
        ),
        Attack(
            "read_harness_environ",
            task(f"print(open('/proc/{t.harness_pid}/environ').read())"),
            ("failed",),
        ),
        Attack("print_environment", task("import os\nprint(dict(os.environ))"), ("passed",)),
        Attack("write_outside", task(f"open('{t.canary}', 'w').write('pwned')"), ("failed",)),
        Attack(
            "write_outside_relative",
            task(f"open('../../../../../../..{t.canary}', 'a').write('pwned')"),
            ("failed",),
        ),
        Attack(
            "dir_fd_escape",
            task(
                f"import os\nfd = os.open('{t.canary_dir}', os.O_RDONLY)\n"
                "os.open('touched', os.O_CREAT | os.O_WRONLY, dir_fd=fd)"
            ),
            ("failed",),
        ),
        Attack("fifo_outside", task(f"import os\nos.mkfifo('{touch}')"), ("failed",)),
        Attack("delete_outside", task(f"import os\nos.remove('{t.canary}')"), ("failed",)),
        Attack(
            "symlink_out",
            task(f"import os\nos.symlink('{t.canary}', 'link')\nopen('link', 'w').write('x')"),
            ("failed",),
        ),
        Attack(
            "socket_connect",
            task(f"import socket\nsocket.create_connection(('127.0.0.1', {t.port}), timeout=1)"),
            ("failed",),
        ),
        Attack(
            "raw_socket",
            task(f"import socket\nsocket.socket().connect(('127.0.0.1', {t.port}))"),
            ("failed",),
        ),
        Attack("kill_parent", task("import os\nos.kill(os.getppid(), 9)"), ("failed",)),
        Attack("kill_harness", task(f"import os\nos.kill({t.harness_pid}, 9)"), ("failed",)),
        Attack("kill_everyone", task("import os\nos.kill(-1, 9)"), ("failed",)),
        Attack(
            "ignore_sigalrm",
            task(
                "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                "signal.alarm(1)\nwhile True:\n    pass"
            ),
            ("timeout",),
        ),
        Attack("infinite_loop", task("while True:\n    pass"), ("timeout",)),
        Attack(
            "silent_sleeper",
            task("import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)"),
            ("timeout",),
        ),
        Attack("deep_recursion", task("def f(n):\n    return f(n + 1)\n\nf(0)"), ("failed",)),
        Attack("stdout_flood", task("while True:\n    print('x' * 10000)"), ("failed",)),
        Attack(
            "memory_bomb",
            task("hog = []\nwhile True:\n    hog.append(bytes(10**8))"),
            ("memory_exceeded",),
        ),
        Attack("huge_string", task("'x' * 10**12"), ("memory_exceeded",)),
        Attack(
            "disk_filler",
            task("i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * 10**6)\n    i += 1"),
            ("failed",),
        ),
        Attack("huge_file", task("open('big', 'wb').write(b'x' * (10**8))"), ("failed",)),
        Attack(
            "thread_bomb",
            task(
                "import threading, time\nwhile True:\n"
                "    threading.Thread(target=time.sleep, args=(60,)).start()"
            ),
            ("timeout", "failed"),
        ),
        Attack("setuid_root", task("import os\nos.setuid(0)"), ("failed",)),
        Attack(
            "proc_root_escape", task("print(open('/proc/1/root/etc/shadow').read())"), ("failed",)
        ),
        Attack("gc_walk", task("import gc\ngc.get_objects()"), ("failed",)),
        Attack("tracer", task("import sys\nsys.settrace(lambda *a: None)"), ("failed",)),
    ]


def os_layer_attacks(t: Targets) -> list[Attack]:
    """Attacks run with the audit hook off: the OS layers alone must hold (root only)."""
    return [
        Attack(
            "fork_bomb_os",
            task(
                "import os\nwhile True:\n    try:\n        os.fork()\n"
                "    except OSError:\n        pass"
            ),
            ("timeout",),
        ),
        Attack(
            "escaped_daemon",
            task("import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)"),
            ("passed",),
        ),
        Attack(
            "read_harness_environ_os",
            task(f"print(open('/proc/{t.harness_pid}/environ').read())"),
            ("failed",),
        ),
        Attack(
            "scan_all_environs_os",
            task(
                "import os\nfor pid in os.listdir('/proc'):\n    try:\n"
                "        print(open(f'/proc/{pid}/environ').read())\n"
                "    except OSError:\n        pass"
            ),
            ("passed",),
        ),
        Attack(
            "socket_connect_os",
            task(f"import socket\nsocket.create_connection(('127.0.0.1', {t.port}), timeout=1)"),
            ("failed",),
        ),
        Attack(
            "write_outside_os", task(f"open('{t.root_canary}', 'w').write('pwned')"), ("failed",)
        ),
        Attack("kill_harness_os", task(f"import os\nos.kill({t.harness_pid}, 9)"), ("failed",)),
        Attack(
            "disk_filler_os",
            task("i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * 10**6)\n    i += 1"),
            ("failed",),
        ),
        Attack("setuid_root_os", task("import os\nos.setuid(0)"), ("failed",)),
    ]


def run_with_neighbours(attacks: list[Attack], policy: SandboxPolicy) -> list[SandboxResult]:
    """Run the attacks in one batch, a benign program between each two; check the benign ones."""
    sources = []
    for attack in attacks:
        sources += [attack.source, BENIGN]
    results = run_programs(
        sources, workers=2, timeout_s=TIMEOUT_S, memory_mb=MEMORY_MB, policy=policy
    )
    neighbours = results[1::2]
    assert [r.status for r in neighbours] == ["passed"] * len(attacks)
    return results[0::2]


def assert_no_harm(attacks: list[Attack], results: list[SandboxResult], t: Targets) -> None:
    wrong_status = {
        a.name: (r.status, r.stderr_tail[-300:])
        for a, r in zip(attacks, results, strict=True)
        if r.status not in a.statuses
    }
    assert wrong_status == {}
    for result in results:
        assert SECRET not in result.stdout_tail + result.stderr_tail
        assert len(result.stdout_tail.encode()) <= 2048
    assert t.canary.read_text() == "untouched"
    assert t.root_canary.read_text() == "untouched"
    assert sorted(p.name for p in t.canary_dir.iterdir()) == ["canary.txt"]
    assert_nothing_left()


def assert_nothing_left() -> None:
    leftovers = [  # zombies are dead already; reaping orphans is init's job, not ours
        p.info
        for p in psutil.process_iter(["pid", "uids", "status", "cmdline"])
        if p.info["uids"]
        and p.info["uids"].real in SANDBOX_UIDS
        and p.info["status"] != psutil.STATUS_ZOMBIE
    ]
    assert leftovers == []
    assert psutil.Process().children(recursive=True) == []
    scratch = Path(tempfile.gettempdir())
    pools = list(scratch.glob("gemma-sbx-disk-*"))  # reused tmpfs mounts: must be empty
    workdirs = [p for p in scratch.glob("gemma-sbx-*") if p not in pools]
    assert workdirs + [entry for pool in pools for entry in pool.iterdir()] == []


def assert_listener_untouched(listener: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        listener.accept()


def test_hostile_programs_are_contained(targets: Targets, listener: socket.socket) -> None:
    attacks = hook_attacks(targets)
    assert len(attacks) >= 25
    started = time.monotonic()
    results = run_with_neighbours(attacks, SandboxPolicy())
    assert_no_harm(attacks, results, targets)
    assert_listener_untouched(listener)
    assert all("audit_hook" in r.layers for r in results)
    # Two workers, a handful of 2 s timeouts: the floods and bombs must not stall the harness.
    assert time.monotonic() - started < 30
    assert run_program(BENIGN).passed  # the harness still works afterwards


@pytest.mark.skipif(not IS_ROOT, reason="the uid drop and namespaces need root, as in CI")
def test_os_layers_hold_without_the_audit_hook(targets: Targets, listener: socket.socket) -> None:
    assert {"uid_drop", "netns", "tmpfs_quota"} <= set(active_layers())
    attacks = os_layer_attacks(targets)
    results = run_with_neighbours(attacks, SandboxPolicy(audit_hook=False))
    assert_no_harm(attacks, results, targets)
    assert_listener_untouched(listener)


def test_stdout_flood_costs_the_harness_little() -> None:
    started = time.process_time()
    result = run_program("while True:\n    print('x' * 100000)", timeout_s=TIMEOUT_S)
    assert result.status == "failed"
    assert "BrokenPipeError" in result.stderr_tail or result.returncode != 0
    assert time.process_time() - started < 1.0  # reading stopped at the output cap


def test_world_writable_scratch_is_not_a_way_out(targets: Targets) -> None:
    """Even where file permissions would allow it, writes outside the work dir are refused."""
    mode = stat.S_IMODE(targets.canary_dir.stat().st_mode)
    assert mode == 0o777
    result = run_program(task(f"open('{targets.canary_dir}/new.txt', 'w').write('x')"))
    assert result.status == "failed"
    assert "not allowed" in result.stderr_tail
    assert not (targets.canary_dir / "new.txt").exists()
