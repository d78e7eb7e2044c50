"""The CLI as a user runs it: a fresh interpreter, output captured, for tests that check exit
codes, stderr lines and what reaches the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`gemma-benchmark <args>` from `cwd` (default: the repo), with `env` over os.environ."""
    return subprocess.run(
        [sys.executable, "-m", "gemma_benchmark.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
