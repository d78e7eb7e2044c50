"""What every task shares: validated options, sample sinks, resume, progress.

A task builds requests and scores responses; it never touches torch. Each scored sample is handed
to the sinks (predictions file, results database) as soon as its chunk is done, so a crash loses
at most the chunk in flight; `completed` lets a resumed run skip what is already stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gemma_benchmark.exceptions import BenchmarkExecutionError, TaskInitializationError

Sample = dict[str, Any]
"""One scored item. `key` is unique within the task; keys starting with `_` (the full prompt and
raw response) go to the database but not to the predictions file."""

SampleSink = Callable[[list[Sample]], None]
ProgressHook = Callable[[int, int], None]
"""Called with (items done so far, items in total)."""

T = TypeVar("T")


class BenchmarkTask(Protocol):
    """The spec's task interface; a user task named by dotted path needs only this."""

    def __init__(self, config: dict[str, Any]) -> None: ...

    def evaluate(self, model: Any) -> dict[str, Any]: ...


class TaskOptions(BaseModel):
    """Options every built-in task accepts; subclasses add their own."""

    model_config = ConfigDict(extra="forbid")
    data_dir: str | None = None
    limit: int | None = Field(default=None, ge=1)


class Task:
    """Base of the built-in tasks."""

    task_type: ClassVar[str] = ""
    description: ClassVar[str] = ""
    primary_metric: ClassVar[str] = "accuracy"
    data_source: ClassVar[str] = ""
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    deterministic: ClassVar[bool] = True

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        try:
            self.options = self.Options.model_validate(config or {})
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "options"
            message = str(first["msg"]).removeprefix("Value error, ")
            raise TaskInitializationError(f"{self.task_type}.{where}: {message}") from None
        self.config = self.options.model_dump()
        self.sample_sinks: list[SampleSink] = []
        self.completed: dict[str, Sample] = {}
        self.progress: ProgressHook | None = None
        self.run_index = 0

    def load_data(self) -> Any:
        """The task's items; subclasses override."""
        raise NotImplementedError

    def evaluate(self, model: Any) -> dict[str, Any]:
        raise NotImplementedError

    def emit(self, samples: list[Sample]) -> None:
        for sink in self.sample_sinks:
            sink(samples)

    def report_progress(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def split_done(
        self, items: Sequence[T], key: Callable[[T], str]
    ) -> tuple[list[Sample], list[T]]:
        """Samples already stored by an interrupted run, and the items still to do."""
        stored = [self.completed[key(item)] for item in items if key(item) in self.completed]
        pending = [item for item in items if key(item) not in self.completed]
        return stored, pending


def wants_chat_template(option: bool | None, model: Any) -> bool:
    """Resolve `use_chat_template`: None means on for instruction-tuned models that have one.

    Raises BenchmarkExecutionError when it is forced on for a model without a template.
    """
    has_template = bool(getattr(model, "has_chat_template", False))
    if option is None:
        return bool(getattr(model, "instruction_tuned", False)) and has_template
    if option and not has_template:
        name = getattr(model, "model_name", "the model")
        raise BenchmarkExecutionError(f"use_chat_template is true but {name} has no chat template")
    return option


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def prediction_line(sample: Sample) -> Sample:
    """What goes to predictions JSONL: the sample without its private (`_`) and `key` fields."""
    return {k: v for k, v in sample.items() if not k.startswith("_") and k != "key"}
