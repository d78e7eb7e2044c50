"""The trusted prologue and trailer that run inside the sandboxed interpreter.

The harness imports this module only for its constants. It has the sandbox's interpreter
compile the text once, and every child runs that code object (`python -I -S -B -c <loader>`), so
the module must stay self-contained, import nothing heavy, and run on any Python >= 3.8 (the
sandbox may use a different interpreter than the harness).

Order inside the child, all before the first line of user code:
1. read the program from stdin until EOF, then point fd 0 at /dev/null (stdin is closed);
2. lower the rlimits (address space, CPU, processes, file size, open files, core dumps);
3. read the per-run token from its pipe into the audit hook's closure and close the pipe;
4. install the audit hook (refuses process creation, sockets, ctypes, writes outside the
   working directory, fd discovery through /proc, tracing and signals to other processes);
5. write READY on the result pipe, so the harness can tell a harness failure from a program one.

The trailer runs only when `exec` of the program returns normally: it raises the FINISHED audit
event, and the hook echoes the token on the result pipe when the event comes from main's own
frame at the trailer's line (see `_make_finisher`). A program that exits early (`sys.exit`,
`os._exit`, an uncaught exception, an atexit trick) never reaches the trailer, and one that
raises the event itself, from a thread or by hijacking a call main makes on another line, is
refused, so it cannot pass. Without the hook (a test-only policy) the token stays in its pipe and
the trailer reads it directly.
"""

from __future__ import annotations

import builtins
import posix  # not `os`: importing it costs the child ~2 ms; posix is already loaded
import sys

TYPE_CHECKING = False  # `typing` would cost the child ~15 ms of startup; only mypy needs it
if TYPE_CHECKING:
    from typing import Any, NoReturn

READY = b"R"
MEMORY = b"M"

# Raised once by the trailer; the hook answers it by echoing the token (see `_make_finisher`).
FINISHED = "gemma_benchmark.sandbox.finished"
TRAILER = "sys.audit(FINISHED)"  # the one line that raises it; the harness passes its number
# The trailer's own descriptor calls, bound before user code can replace them.
_READ, _WRITE = posix.read, posix.write

# Events refused outright: process creation, networking, native code, introspection that could
# reach the hook's own frame, and adding hooks (a later hook could only refuse more, but no
# program needs one).
_DENIED_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.killpg",
        "os.symlink",
        "os.link",
        "subprocess.Popen",
        "pty.spawn",
        "socket.__new__",
        "socket.bind",
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "sys.settrace",
        "sys.setprofile",
        "sys._current_frames",
        "sys._current_exceptions",
        "sys.monitoring.register_callback",
        "sys.addaudithook",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
    }
)
# Modules whose mere import opens a hole: native calls, raw fork/exec, sub-interpreters that do
# not run this hook, and CPython's test helpers.
_DENIED_MODULES = frozenset(
    {"ctypes", "_ctypes", "_posixsubprocess", "_xxsubinterpreters", "_xxinterpchannels"}
)
# Events that change the file system at the paths in these argument positions.
_PATH_EVENTS = {
    "os.chdir": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.mkdir": (0,),
    "os.remove": (0,),
    "os.rename": (0, 1),
    "os.rmdir": (0,),
    "os.truncate": (0,),
    "os.utime": (0,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
    "os.chflags": (0,),
    "os.lchflags": (0,),
}
_LISTING_EVENTS = frozenset({"os.listdir", "os.scandir"})
_HIDDEN_PREFIXES = ("/proc/", "/dev/fd/")
_WRITE_FLAGS = posix.O_WRONLY | posix.O_RDWR | posix.O_CREAT | posix.O_TRUNC | posix.O_APPEND
_DIRECTORY = 0o040000


def _make_hook(workdir: str, private_fds: frozenset[int], finish: Any) -> Any:
    """Build the audit hook with every helper bound now; `finish` answers the FINISHED event.

    Path rules. An absolute path must lie inside `workdir` to be changed; a relative one must
    not climb (`..`), so it stays below the working directory (which cannot leave `workdir`) or
    below a directory descriptor (which can only point inside: directories outside may not be
    opened, so no `dir_fd` or `fchdir` trick reaches them). Symlinks and hard links cannot be
    made. Reads elsewhere are allowed, except /proc and /dev/fd. The harness's two pipes
    (`private_fds`) cannot be wrapped in a file object.

    Later monkeypatching of `os`, `builtins` or `posixpath` by the program cannot change what the
    hook calls: it only uses these bound references, and calls `str`/`int` methods unbound, so a
    subclass with lying `startswith` or `__gt__` is judged by its real value. Residual gap: a
    path-like object whose `__fspath__` answers differently on each call; the uid drop and the
    private tmpfs still stop such a write.
    """
    getcwd, fspath, getpid, stat = posix.getcwd, posix.fspath, posix.getpid, posix.stat
    is_a, refused = builtins.isinstance, builtins.PermissionError
    str_t, bytes_t, int_t = builtins.str, builtins.bytes, builtins.int
    exact_str, exact_int, decode = str_t.__str__, int_t.__int__, bytes_t.decode
    starts, split, join = str_t.startswith, str_t.split, str_t.join
    denied_events, denied_modules = _DENIED_EVENTS, _DENIED_MODULES
    path_events, listing_events = _PATH_EVENTS, _LISTING_EVENTS
    hidden, write_flags, directory = _HIDDEN_PREFIXES, _WRITE_FLAGS, _DIRECTORY
    inside_prefix = workdir.rstrip("/") + "/"

    def deny(what: str) -> NoReturn:
        raise refused("sandbox: " + what + " is not allowed")

    def resolve(raw: Any) -> str:
        """The absolute, normalized path; refuses relative paths that climb."""
        value = fspath(raw)
        text = exact_str(
            decode(value, "utf-8", "surrogateescape") if is_a(value, bytes_t) else value
        )
        parts = split(text, "/")
        if not starts(text, "/"):
            if ".." in parts:
                deny("a relative path with '..'")
            parts = split(exact_str(getcwd()), "/") + parts
        kept: list[str] = []
        for part in parts:
            if part == "..":
                if kept:
                    kept.pop()
            elif part and part != ".":
                kept.append(part)
        return "/" + join("/", kept)

    def inside(path: str) -> bool:
        return starts(path + "/", inside_prefix)

    def is_directory(path: str) -> bool:
        try:
            return exact_int(stat(path).st_mode) & 0o170000 == directory
        except OSError:
            return False

    def check_open(target: Any, mode: Any, flags: Any) -> None:
        if is_a(target, int_t):
            if exact_int(target) in private_fds:
                deny("opening the harness's descriptors")
            return
        path = resolve(target)
        if starts(path + "/", hidden):
            deny("opening " + path)
        if inside(path):
            return
        if is_a(flags, int_t):
            writes = exact_int(flags) & write_flags != 0
        else:
            mode = exact_str(mode) if is_a(mode, str_t) else ""
            writes = "w" in mode or "a" in mode or "x" in mode or "+" in mode
        if writes:
            deny("writing " + path)
        if is_directory(path):
            deny("opening the directory " + path)

    def check_listing(event: str, target: Any) -> None:
        if target is not None and not is_a(target, int_t) and starts(resolve(target) + "/", hidden):
            deny(event + " of a hidden directory")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            check_open(args[0], args[1], args[2])
        elif event == FINISHED:
            finish()
        elif event in path_events:
            for at in path_events[event]:
                if is_a(args[at], int_t):
                    if event == "os.chdir":
                        deny("os.chdir to a descriptor")
                elif not inside(resolve(args[at])):
                    deny(event + " outside the working directory")
        elif event in denied_events or starts(event, "ctypes."):
            deny(event)
        elif event == "import":
            name = exact_str(args[0])
            if split(name, ".")[0] in denied_modules or starts(name, "_test"):
                deny("importing " + name)
        elif event == "os.kill":
            if exact_int(args[0]) != getpid():
                deny("signalling other processes")
        elif event in listing_events:
            check_listing(event, args[0])

    return hook


def _make_finisher(token_fd: int, result_fd: int, trailer_frame: Any, trailer_line: int) -> Any:
    """Read the token now (before user code runs) and close its pipe; return the function the
    hook calls on the FINISHED event, which echoes the token on the result pipe only once, and
    only when the event comes straight from `trailer_frame` (main's frame) at `trailer_line`,
    a line main reaches only after `exec` of the program returned normally. The line matters:
    a program can make main call something of its choosing on another line (main looks up
    `MemoryError` and `_WRITE` after a failure), but cannot move a frame's line without a
    tracer, and tracing is refused.

    The token then lives only in this closure, reachable from the hook alone, and the hook is
    reachable from nothing a program can name (audit hooks cannot be listed; gc walks and other
    threads' frames are refused). So neither a raw read of the old descriptor, nor the loader's
    frames and globals (which `sys._getframe` and tracebacks do reach), nor an `os.read` in a
    thread left running, nor a FINISHED event raised by the program yields the token.
    """
    token = _READ(token_fd, 64)
    posix.close(token_fd)
    frame_of, refused, write = sys._getframe, builtins.PermissionError, _WRITE
    done: list[bool] = []

    def finish() -> None:
        # Frame 0 is this function, 1 the hook; 2 is whoever called sys.audit (a C function).
        caller = frame_of(2)
        if done or caller is not trailer_frame or caller.f_lineno != trailer_line:
            raise refused("sandbox: only the harness's trailer may finish")
        done.append(True)
        write(result_fd, token)

    return finish


def _disable_unaudited() -> None:
    """Remove the file-creating calls CPython does not audit (mkfifo, mknod) from posix, before
    `os` copies them in (`from posix import *`)."""

    def refused(*args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError("sandbox: this call is not allowed")

    for name in ("mkfifo", "mknod"):
        if hasattr(posix, name):
            setattr(posix, name, refused)


def _set_limits(memory: int, cpu_s: int, nproc: int, fsize: int, nofile: int) -> None:
    import resource

    for which, soft, hard in (
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_CPU, cpu_s, cpu_s + 1),
        (resource.RLIMIT_NPROC, nproc, nproc),
        (resource.RLIMIT_FSIZE, fsize, fsize),
        (resource.RLIMIT_NOFILE, nofile, nofile),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        resource.setrlimit(which, (soft, hard))


def _read_program() -> bytes:
    chunks = []
    while True:
        chunk = posix.read(0, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    null = posix.open("/dev/null", posix.O_RDONLY)
    posix.dup2(null, 0)
    posix.close(null)
    return b"".join(chunks)


def main(argv: list[str]) -> None:
    workdir, token_fd, result_fd, memory, cpu_s, nproc, fsize, nofile, hooked, line = argv
    source = _read_program()
    posix.chdir(workdir)
    _set_limits(int(memory), int(cpu_s), int(nproc), int(fsize), int(nofile))
    if hooked == "1":
        finish = _make_finisher(int(token_fd), int(result_fd), sys._getframe(), int(line))
        _disable_unaudited()
        sys.addaudithook(_make_hook(workdir, frozenset((int(token_fd), int(result_fd))), finish))
        del finish  # referenced by the hook alone from here on
    module = type(sys)("__main__")
    sys.modules["__main__"] = module
    sys.argv = [""]
    _WRITE(int(result_fd), READY)
    try:
        exec(compile(source, "<program>", "exec"), module.__dict__)
    except MemoryError:
        _WRITE(int(result_fd), MEMORY)
        raise
    sys.stdout.flush()
    sys.stderr.flush()
    if hooked == "1":
        sys.audit(FINISHED)
    else:  # the OS layers alone: no hook to hold the token, so it is still in its pipe
        _WRITE(int(result_fd), _READ(int(token_fd), 64))


if __name__ == "__main__":
    main(sys.argv[1:])
