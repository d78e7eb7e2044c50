"""The worker side: a process that loads one model once and runs units of work on it.

`ModelWorker` is a plain class; the Ray executor turns it into an actor with `ray.remote`, so
this module never imports Ray. A unit is one (model, task, run index) job, or one shard of it.
The worker writes nothing itself: scored samples and progress go back to the driver through a
channel (anything with `put`, a `ray.util.queue.Queue` under Ray), and the driver stores them.
Each `put` returns only once the channel holds the item, so what a unit scored before its
process died is not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from gemma_benchmark.core.jobs import JobContext, run_job
from gemma_benchmark.executors.sharding import Shard, install_shard
from gemma_benchmark.storage import redact
from gemma_benchmark.tasks.base import Sample


class Channel(Protocol):
    def put(self, item: Any) -> None: ...


@dataclass(frozen=True)
class UnitSpec:
    """What a worker needs to run one unit: the task is built on the worker from its type
    and options, so nothing but plain data crosses the wire."""

    unit_id: int
    job_id: int
    model_name: str
    task_name: str
    task_type: str
    options: dict[str, Any]
    run_index: int
    seed: int
    shard: Shard = field(default_factory=Shard)


@dataclass(frozen=True)
class ModelFacts:
    """What a merge needs to know of the model without having it."""

    instruction_tuned: bool = False
    has_chat_template: bool = False


@dataclass(frozen=True)
class UnitOutcome:
    """A unit's result dict (`status: failed` on failure), or the model's load error."""

    result: dict[str, Any] | None = None
    load_error: str | None = None
    facts: ModelFacts = field(default_factory=ModelFacts)

    @property
    def failed(self) -> bool:
        return self.result is None or self.result.get("status") == "failed"


def failed_result(error: str) -> dict[str, Any]:
    return {"status": "failed", "error": error}


class ModelWorker:
    """Loads its model at start (a restarted actor loads it again) and runs units on it."""

    def __init__(self, name: str, entry: Any, hardware: Any, evaluation: Any) -> None:
        from gemma_benchmark.core.model_factory import load_from_config

        self.name = name
        self.model: Any = None
        self.load_error: str | None = None
        try:
            self.model = load_from_config(name, entry, hardware, evaluation)
        except Exception as err:  # reported with each unit, as a model that failed to load
            self.load_error = redact(str(err)) or type(err).__name__

    def facts(self) -> ModelFacts:
        return ModelFacts(
            instruction_tuned=bool(getattr(self.model, "instruction_tuned", False)),
            has_chat_template=bool(getattr(self.model, "has_chat_template", False)),
        )

    def run(self, unit: UnitSpec, completed: dict[str, Sample], channel: Channel) -> UnitOutcome:
        """Run one unit; `completed` holds the job's samples stored before it started."""
        if self.load_error is not None:
            return UnitOutcome(load_error=self.load_error)
        from gemma_benchmark.tasks.registry import resolve_task_class

        try:
            task = resolve_task_class(unit.task_type)(unit.options)
        except Exception as err:  # a user task's constructor may raise anything
            message = redact(f"{type(err).__name__}: {err}")
            return UnitOutcome(result=failed_result(f"task failed to initialise: {message}"))
        install_shard(task, unit.shard)
        ctx = JobContext(
            model_name=unit.model_name,
            task_name=unit.task_name,
            run_index=unit.run_index,
            seed=unit.seed,
            progress=ChannelProgress(channel, unit.unit_id),
            sinks=[ChannelSink(channel, unit.unit_id)],
            completed=completed,
        )
        return UnitOutcome(result=run_job(task, self.model, ctx), facts=self.facts())


class ChannelSink:
    """A task's sample sink that sends each scored chunk to the driver."""

    def __init__(self, channel: Channel, unit_id: int) -> None:
        self.channel = channel
        self.unit_id = unit_id

    def __call__(self, samples: list[Sample]) -> None:
        self.channel.put(("samples", self.unit_id, samples))


class ChannelProgress:
    """A task's progress hook that sends (done, total) to the driver."""

    def __init__(self, channel: Channel, unit_id: int) -> None:
        self.channel = channel
        self.unit_id = unit_id

    def __call__(self, done: int, total: int) -> None:
        self.channel.put(("progress", self.unit_id, done, total))
