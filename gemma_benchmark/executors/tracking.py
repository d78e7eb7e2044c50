"""The driver's book-keeping for one job: where its samples go, how far its shards are, and how
its result is settled once every unit has answered.

A job's sinks are those a local job gets (`core.jobs`): the results database and, when asked
for, the predictions file. A retried unit sends some samples twice; only the first copy is
written. One progress bar per job shows the sum over its shards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemma_benchmark.core.jobs import JobContext, attach_sinks, run_job
from gemma_benchmark.exceptions import BenchmarkExecutionError
from gemma_benchmark.executors.worker import ModelFacts, UnitOutcome, UnitSpec, failed_result
from gemma_benchmark.storage import ResultStore, redact
from gemma_benchmark.tasks.base import ProgressHook, Sample, SampleSink


@dataclass
class _SinkHolder:
    """Receives what `core.jobs` gives a task (sinks, stored samples), without being a task."""

    sample_sinks: list[SampleSink] = field(default_factory=list)
    completed: dict[str, Sample] = field(default_factory=dict)
    progress: ProgressHook | None = None
    run_index: int = 0
    seed: int = 0


@dataclass
class JobState:
    """One (model, task, run index) job as the driver sees it."""

    ctx: JobContext
    label: str
    open_bar: Callable[[str], ProgressHook] | None = None
    """Makes the job's progress bar, on its first report (so jobs that never start show none)."""
    units: list[UnitSpec] = field(default_factory=list)
    merge: bool = False
    sinks: list[SampleSink] = field(default_factory=list)
    completed: dict[str, Sample] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    progress: dict[int, tuple[int, int]] = field(default_factory=dict)
    outcomes: dict[int, UnitOutcome] = field(default_factory=dict)

    @classmethod
    def open(
        cls, ctx: JobContext, label: str, open_bar: Callable[[str], ProgressHook] | None = None
    ) -> JobState:
        """Opens the job's sinks and reads what an earlier, interrupted run stored."""
        holder = _SinkHolder()
        attach_sinks(holder, ctx)
        job = cls(ctx, label, open_bar, sinks=holder.sample_sinks, completed=holder.completed)
        job.seen = set(holder.completed)
        return job

    def take_samples(self, samples: list[Sample]) -> None:
        fresh = [s for s in samples if str(s["key"]) not in self.seen]
        self.seen.update(str(s["key"]) for s in fresh)
        if fresh:
            for sink in self.sinks:
                sink(fresh)

    def take_progress(self, unit_id: int, done: int, total: int) -> None:
        self.progress[unit_id] = (done, total)
        self.show_bar()
        if self.ctx.progress is not None:
            done_all = sum(d for d, _ in self.progress.values())
            self.ctx.progress(done_all, max(t for _, t in self.progress.values()))

    def settle(self, task: Any) -> dict[str, Any]:
        """The job's result, recorded in the store.

        A job whose task can be sharded (`merge`) is settled by the task's own aggregation over
        the union of the samples stored for it, whether it ran as one unit or as shards: its
        metrics then always describe the stored samples, also after a unit was retried. Any
        other job keeps its one unit's result."""
        for unit in self.units:
            outcome = self.outcomes.get(unit.unit_id)
            if outcome is None or outcome.failed:
                error = (outcome.result or {}).get("error") if outcome else "no answer"
                shard = unit.shard
                where = f"shard {shard.index + 1}/{shard.count} failed: " if shard.count > 1 else ""
                return self.record(failed_result(f"{where}{error}"))
        first = self.outcomes[self.units[0].unit_id]
        if self.merge:
            self.show_bar()
            return run_job(task, MergeModel(self.ctx.model_name, first.facts), self.ctx)
        return self.record(first.result or failed_result("no answer"))

    def show_bar(self) -> None:
        if self.ctx.progress is None and self.open_bar is not None:
            self.ctx.progress = self.open_bar(self.label)

    def record(self, result: dict[str, Any]) -> dict[str, Any]:
        result = redact(result)
        failed = result.get("status") == "failed"
        ctx = self.ctx
        if ctx.store is not None and ctx.run_id is not None:
            ctx.store.record_task_result(
                ctx.run_id,
                ctx.model_name,
                ctx.task_name,
                ctx.run_index,
                result,
                "failed" if failed else "finished",
                result.get("error") if failed else None,
            )
        return result


def job_context(
    store: ResultStore,
    run_id: int | None,
    unit: UnitSpec,
    predictions_dir: Path | None,
) -> JobContext:
    return JobContext(
        model_name=unit.model_name,
        task_name=unit.task_name,
        run_index=unit.run_index,
        seed=unit.seed,
        store=store,
        run_id=run_id,
        predictions_dir=predictions_dir,
    )


class MergeModel:
    """Stands in for the model while shards are merged. Every sample is stored by then, so a
    task that asks it for anything has items that no shard scored: that is an error."""

    def __init__(self, model_name: str, facts: ModelFacts) -> None:
        self.model_name = model_name
        self.instruction_tuned = facts.instruction_tuned
        self.has_chat_template = facts.has_chat_template

    def _absent(self) -> BenchmarkExecutionError:
        return BenchmarkExecutionError(
            f"merging shards on {self.model_name}: some items were scored by no shard"
        )

    def loglikelihood(self, requests: Any) -> list[float]:
        raise self._absent()

    def generate_batch(self, prompts: Any, *args: Any, **kwargs: Any) -> list[str]:
        raise self._absent()

    def generate(self, prompt: str, *args: Any, **kwargs: Any) -> str:
        raise self._absent()

    def apply_chat_template(self, user_message: str) -> str:
        raise self._absent()
