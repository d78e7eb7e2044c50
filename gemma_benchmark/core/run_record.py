"""A run's identity in the results database: its config hash, resume, and metadata."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemma_benchmark import __version__
from gemma_benchmark.storage import ResultStore, config_hash, redact

if TYPE_CHECKING:
    from gemma_benchmark.core.benchmark import GemmaBenchmark


# Where a run executes does not change its results, so a run may resume on another executor.
EXECUTION_KEYS = ("executor", "ray_address", "num_cpus", "num_gpus", "data_parallel")


def run_identity(bench: GemmaBenchmark) -> dict[str, Any]:
    """What makes two runs the same run: the config and the chosen models and tasks."""
    config = bench.config.model_dump(mode="json")
    for key in EXECUTION_KEYS:
        config["evaluation"].pop(key, None)
    return {
        "config": config,
        "models": sorted([*bench.models, *bench.model_errors]),
        "tasks": sorted([*bench.tasks, *bench.task_errors]),
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def begin_run(bench: GemmaBenchmark, store: ResultStore) -> tuple[int, str | None]:
    """A new run id, or with `bench.resume` the newest unfinished run of the same identity.

    Returns (run id, the resume message or None).
    """
    from gemma_benchmark.utils.system_info import collect_system_info

    identity = run_identity(bench)
    digest = config_hash(identity)
    if bench.resume:
        previous = store.find_resumable_run(digest)
        if previous is not None:
            store.reopen_run(previous)
            done = store.count_samples(previous)
            total = _expected_samples(bench)
            return previous, f"resumed run {previous}: {done}/{total} samples already complete"
    run_id = store.start_run(
        config=identity,
        config_hash=digest,
        system_info=collect_system_info(),
        package_version=__version__,
        git_commit=git_commit(),
    )
    return run_id, None


def _expected_samples(bench: GemmaBenchmark) -> int | str:
    """Total samples the run will store, when every task can count its items."""
    total = 0
    for task in bench.tasks.values():
        count = getattr(task, "count_items", None)
        if count is None:
            return "?"
        from gemma_benchmark.core.repeats import repeat_count

        total += count() * repeat_count(task, bench.config.evaluation)
    return total * len(bench.models)


def finish_run(bench: GemmaBenchmark, store: ResultStore) -> None:
    failed = bool(bench.model_errors or bench.task_errors) or any(
        isinstance(result, dict) and result.get("status") == "failed"
        for per_model in bench.results.values()
        for result in per_model.values()
    )
    if bench.run_id is not None:
        store.finish_run(bench.run_id, "failed" if failed else "finished")


def metadata(bench: GemmaBenchmark) -> dict[str, Any]:
    from gemma_benchmark.utils.system_info import collect_system_info

    return redact(
        {
            "run_id": bench.run_id,
            "started_at": bench.started_at,
            "saved_at": datetime.now(timezone.utc).isoformat(),
            "package_version": __version__,
            "git_commit": git_commit(),
            "config_path": bench.config_path,
            "config": bench.config.model_dump(mode="json"),
            "system_info": collect_system_info(),
        }
    )
