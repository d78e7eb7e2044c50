"""Crash safety through the real CLI and a real SQLite file: SIGKILL part way, resume, and the
results equal those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBJECTS = ["anatomy", "astronomy", "virology", "marketing"]
LIMIT = 6


def write_config(path: Path, model: Path, data_dir: Path, task_type: str = "mmlu") -> Path:
    path.write_text(
        textwrap.dedent(
            f"""
            models:
              tiny: {{type: huggingface, path: "{model}"}}
            tasks:
              mmlu: {{type: "{task_type}", subset: {json.dumps(SUBJECTS)}, shot_count: 1,
                      limit: {LIMIT}}}
            output: {{save_predictions: true}}
            evaluation: {{batch_size: 4}}
            data_dir: "{data_dir}"
            """
        )
    )
    return path


def start(config: Path, output: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gemma_benchmark.cli",
            "run",
            str(config),
            "--output",
            str(output),
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def stored_samples(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(conn.execute("select count(*) from samples").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def kill_when(
    proc: subprocess.Popen[str],
    db: Path,
    at_least: int,
    deadline_s: float = 240,
    sig: signal.Signals = signal.SIGKILL,
) -> int:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and proc.poll() is None:
        count = stored_samples(db)
        if count >= at_least:
            proc.send_signal(sig)
            proc.wait()
            return stored_samples(db)
        time.sleep(0.02)
    raise AssertionError(f"run ended or stalled before {at_least} samples were stored")


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return out


def metrics(output: Path) -> dict[str, Any]:
    return json.loads((output / "results.json").read_text())["results"]


@pytest.fixture(scope="module")
def clean_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_gemma_path: Path, data_dir: Path
) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("clean")
    config = write_config(tmp / "c.yaml", tiny_gemma_path, data_dir)
    finish(start(config, tmp / "out"))
    return metrics(tmp / "out")


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [1, LIMIT + 1, 2 * LIMIT + 1])
def test_sigkill_then_resume_equals_clean_run(
    kill_at: int, tmp_path: Path, tiny_gemma_path: Path, data_dir: Path, clean_run: dict[str, Any]
) -> None:
    config = write_config(tmp_path / "c.yaml", tiny_gemma_path, data_dir)
    out = tmp_path / "out"
    kept = kill_when(start(config, out), out / "benchmark.db", kill_at)
    assert 0 < kept < LIMIT * len(SUBJECTS)
    stdout = finish(start(config, out, "--resume"))
    assert f"resumed run 1: {kept}/{LIMIT * len(SUBJECTS)} samples already complete" in stdout
    assert metrics(out) == clean_run
    lines = (out / "predictions/tiny/mmlu.jsonl").read_text().splitlines()
    assert len(lines) == LIMIT * len(SUBJECTS)
    assert len({(json.loads(x)["subject"], json.loads(x)["doc_id"]) for x in lines}) == len(lines)


@pytest.mark.slow
def test_ctrl_c_exits_130_and_resume_completes(
    tmp_path: Path, tiny_gemma_path: Path, data_dir: Path, clean_run: dict[str, Any]
) -> None:
    config = write_config(tmp_path / "c.yaml", tiny_gemma_path, data_dir)
    out = tmp_path / "out"
    proc = start(config, out)
    kept = kill_when(proc, out / "benchmark.db", LIMIT + 1, sig=signal.SIGINT)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130
    assert "run the same command with --resume" in stderr and "Traceback" not in stderr
    assert kept > 0
    finish(start(config, out, "--resume"))
    assert metrics(out) == clean_run


@pytest.mark.slow
def test_kill_during_final_aggregation(
    tmp_path: Path, tiny_gemma_path: Path, data_dir: Path, clean_run: dict[str, Any]
) -> None:
    config = write_config(
        tmp_path / "c.yaml", tiny_gemma_path, data_dir, "tests.slow_tasks:SlowAggregateMMLU"
    )
    out = tmp_path / "out"
    total = LIMIT * len(SUBJECTS)
    assert kill_when(start(config, out), out / "benchmark.db", total) == total
    assert not (out / "results.json").exists()
    stdout = finish(start(config, out, "--resume"))
    assert f"{total}/{total} samples already complete" in stdout
    assert metrics(out) == clean_run


@pytest.mark.slow
def test_two_runs_share_one_sqlite_file(
    tmp_path: Path, tiny_gemma_path: Path, data_dir: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", tiny_gemma_path, data_dir)
    first, second = start(config, tmp_path / "out"), start(config, tmp_path / "out")
    finish(first)
    finish(second)
    with sqlite3.connect(tmp_path / "out/benchmark.db") as conn:
        runs = conn.execute("select id, status from runs order by id").fetchall()
        per_run = conn.execute("select run_id, count(*) from samples group by run_id").fetchall()
    assert runs == [(1, "finished"), (2, "finished")]
    assert per_run == [(1, LIMIT * len(SUBJECTS)), (2, LIMIT * len(SUBJECTS))]
