"""Repeated runs (`evaluation.runs`): how many a task needs, and how they combine.

A deterministic task (greedy decoding, log-likelihood) gives the same answer every time, so it
runs once and says so, unless `force_repeats` asks otherwise.
"""

from __future__ import annotations

from typing import Any

from gemma_benchmark.config import EvaluationConfig
from gemma_benchmark.utils.metrics import aggregate_results


def is_deterministic(task: Any) -> bool:
    return bool(getattr(task, "deterministic", True))


def repeat_count(task: Any, evaluation: EvaluationConfig) -> int:
    if evaluation.runs > 1 and (evaluation.force_repeats or not is_deterministic(task)):
        return evaluation.runs
    return 1


def combine_runs(
    outcomes: list[dict[str, Any]], task: Any, evaluation: EvaluationConfig
) -> dict[str, Any]:
    """The first run's result, plus a `runs` section when there were several (or could have
    been): count, and the mean/std/min/max/CI of every metric across runs."""
    first = dict(outcomes[0])
    if evaluation.runs <= 1:
        return first
    succeeded = [o for o in outcomes if o.get("status") != "failed"]
    section: dict[str, Any] = {"requested": evaluation.runs, "completed": len(succeeded)}
    if len(outcomes) == 1:
        section["note"] = "deterministic task: ran once (set evaluation.force_repeats to repeat)"
    if succeeded:
        section["aggregate"] = aggregate_results(succeeded)
    first["runs"] = section
    return first
