"""One unit of work: a task evaluated on a model for one run index.

The job wires the task's sinks (predictions file, database) and its resume state, calls the
task's `evaluate`, and turns any failure into a recorded `failed` result rather than a crash.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemma_benchmark.core.sinks import PredictionsWriter, StoreSink
from gemma_benchmark.storage import ResultStore, redact
from gemma_benchmark.tasks.base import Sample

logger = logging.getLogger(__name__)


@dataclass
class JobContext:
    model_name: str
    task_name: str
    run_index: int
    seed: int
    store: ResultStore | None = None
    run_id: int | None = None
    predictions_dir: Path | None = None
    progress: Callable[[int, int], None] | None = None
    sinks: list[Callable[[list[Sample]], None]] = field(default_factory=list)
    """Extra sample sinks (an executor's channel to its driver)."""
    completed: dict[str, Sample] | None = None
    """Samples stored before the job started, when they come from elsewhere than `store`."""


def attach_sinks(task: Any, ctx: JobContext) -> list[Sample]:
    """Give the task its sinks and resume state; returns the samples already stored."""
    sinks: list[Callable[[list[Sample]], None]] = list(ctx.sinks)
    completed: dict[str, Sample] = dict(ctx.completed or {})
    if ctx.store is not None and ctx.run_id is not None:
        store_sink = StoreSink(ctx.store, ctx.run_id, ctx.model_name, ctx.task_name, ctx.run_index)
        completed.update(store_sink.completed())
        sinks.append(store_sink)
    if ctx.predictions_dir is not None:
        suffix = f".run{ctx.run_index}" if ctx.run_index else ""
        path = ctx.predictions_dir / ctx.model_name / f"{ctx.task_name}{suffix}.jsonl"
        sinks.append(PredictionsWriter(path, list(completed.values())))
    if hasattr(task, "sample_sinks"):
        task.sample_sinks = sinks
        task.completed = completed
        task.progress = ctx.progress
        task.run_index = ctx.run_index
        task.seed = ctx.seed
    return list(completed.values())


def run_job(task: Any, model: Any, ctx: JobContext, **evaluate_kwargs: Any) -> dict[str, Any]:
    """The task's result dict, or `{"status": "failed", "error": ...}`; never raises for a
    failing task (the spec's "mark as failed and continue")."""
    try:
        attach_sinks(task, ctx)
        accepted = inspect.signature(task.evaluate).parameters
        kwargs = {k: v for k, v in evaluate_kwargs.items() if k in accepted}
        result = task.evaluate(model, **kwargs)
        if not isinstance(result, dict):
            raise TypeError(f"evaluate() returned {type(result).__name__}, not a dict")
        status, error = "finished", None
    except Exception as err:  # a task's failure is recorded, the run goes on
        logger.debug(
            "task %s failed on %s:\n%s", ctx.task_name, ctx.model_name, traceback.format_exc()
        )
        error = f"{type(err).__name__}: {err}"
        result, status = {"status": "failed", "error": error}, "failed"
    result = redact(result)
    if ctx.store is not None and ctx.run_id is not None:
        ctx.store.record_task_result(
            ctx.run_id, ctx.model_name, ctx.task_name, ctx.run_index, result, status, error
        )
    return result
