"""Run model-written Python programs in isolation and tell whether they passed.

Public API: `run_program`, `run_programs` (parallel, results in input order), `SandboxResult`,
`SandboxPolicy`, `SandboxError`, `active_layers`, and `SANDBOX_UIDS` (the uids sandboxed programs
run under, for monitoring).

Each program runs in a fresh interpreter (`python -I -S -B`), never in the harness process, with
every layer this OS allows; `SandboxResult.layers` records which were active:

- `session`: own session and process group, SIGKILLed as a group at the deadline (with the
  kernel's autogroup scheduling, also one CPU share per program, however many threads it runs);
- `rlimits`: address space, CPU seconds, processes, file size, open files, no core dumps;
- `tmpdir`: a fresh empty working directory, deleted afterwards; `tmpfs_quota` when it lies on a
  size- and inode-limited tmpfs that no concurrent run shares (root only), so a disk filler hits
  ENOSPC there. The tmpfs mounts are pooled per process and unmounted at exit;
- `empty_env`: only PATH, so no token of the harness (HF_TOKEN, ...) is visible;
- `stdin_closed`, `output_cap`: stdin at EOF; stdout/stderr tails kept, reading stops past a cap
  (the child's next write then fails with EPIPE);
- `netns`: `unshare --net`, a network namespace whose only interface is down;
- `uid_drop`: as root, the program runs under a random unused uid/gid (`SANDBOX_UIDS`) with no
  groups, so RLIMIT_NPROC binds (root ignores it) and one program's fork bomb cannot exhaust
  another's quota, nothing of root's (/proc/<harness>/environ, /root) is readable, the harness
  cannot be signalled, and after the run every process of that uid is killed;
- `pidns`, `userns`: without root, an unprivileged user namespace gives the network namespace
  and a pid namespace, whose death takes every process the program started with it;
- `audit_hook`: installed before the first user line; refuses process creation (fork, exec*,
  posix_spawn, os.system, subprocess), sockets, ctypes and other native escapes, file system
  changes outside the working directory (including through directory descriptors), /proc,
  tracing hooks and signals to other processes.

No mount or pid namespace as root: a mount namespace's teardown costs an RCU grace period per run
(as long as the interpreter's startup), and the uid gives what the pid namespace would.
Missing layers are logged as a warning when the OS is first probed and are absent from `layers`;
the process, rlimit, environment, directory and audit layers are always there. The interpreter is
the harness's own when the sandbox uid can run it, else a world-readable system `python3`.

Threat model of `passed`. A program passes only if the harness gets back a 128-bit token that is
made per run, after which the interpreter must exit 0. The token never appears in argv, the
environment, the source or the file system: the harness writes it into a pipe before the child
starts. Before user code runs, the child reads it into the audit hook's closure and closes the
pipe, so no descriptor holds it, and nothing a program can name reaches the hook (audit hooks
cannot be listed; gc walks, other threads' frames and tracing are refused). After `exec` of the
whole program (solution, tests and `check(...)`) returns normally, the trailer raises an audit
event, and the hook echoes the token only when that event comes from the loader's own frame at
the trailer's line, once. So an early `sys.exit(0)`, `os._exit(0)`, an atexit or excepthook
trick, a patched builtin that swallows the failing assert's exception, printing "passed",
reading and echoing every descriptor, raising the event from the program or a thread, or
hijacking a call the loader makes on its failure path all give `failed` (each is tested).
Containment never relies on the token: a forged pass could not harm the host either.
"""

from gemma_benchmark.sandbox._platform import SANDBOX_UIDS
from gemma_benchmark.sandbox.result import (
    SandboxError,
    SandboxPolicy,
    SandboxResult,
    SandboxStatus,
)
from gemma_benchmark.sandbox.runner import active_layers, run_program, run_programs

__all__ = [
    "SANDBOX_UIDS",
    "SandboxError",
    "SandboxPolicy",
    "SandboxResult",
    "SandboxStatus",
    "active_layers",
    "run_program",
    "run_programs",
]
