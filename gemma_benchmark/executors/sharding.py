"""Data-parallel shards of one task: which items a shard scores, and which tasks can be split.

Every built-in task picks the items it still has to score through `Task.split_done(items, key)`
(that is how resume works), so a shard is the same task whose `split_done` keeps only the
shard's part of the items. The shards' samples go to the results database like any others, and
merging is a resume in which every sample is already stored: the task's own `evaluate` then
calls its own aggregation on the union, so the metrics equal a single-process run.

MMLU is split by subject, so each subject's few-shot prefix stays in one worker's batches (and
the backend sees exactly the batches of a single-process run); other tasks are split by index
into contiguous blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gemma_benchmark.tasks.base import Sample, Task

T = TypeVar("T")

GROUP_SHARDED_TASKS = frozenset({"mmlu"})
"""Task types split by group (an item's `group`: the MMLU subject) rather than by index."""


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based)."""

    index: int = 0
    count: int = 1
    by_group: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} out of range for {self.count} shards")


UNSHARDABLE_TASKS = frozenset({"efficiency"})
"""Built-in task types that do not select items through `split_done` (they time the model)."""


def is_shardable(task: Any) -> bool:
    """Whether a task can run as shards: every built-in task (and a subclass of one) but
    those in UNSHARDABLE_TASKS, since they select their items through `split_done`. A class
    attribute `shardable` overrides this; a user task without it runs whole."""
    explicit = getattr(task, "shardable", None)
    if explicit is not None:
        return bool(explicit)
    task_type = getattr(task, "task_type", "")
    return isinstance(task, Task) and bool(task_type) and task_type not in UNSHARDABLE_TASKS


def splits_by_group(task: Any) -> bool:
    explicit = getattr(task, "shard_by_group", None)
    if explicit is not None:
        return bool(explicit)
    return getattr(task, "task_type", "") in GROUP_SHARDED_TASKS


def shard_indices(items: Sequence[Any], shard: Shard) -> list[int]:
    """Positions of the items in this shard, in item order. Every item is in exactly one."""
    groups = [getattr(item, "group", None) for item in items]
    if shard.by_group and all(g is not None for g in groups):
        owner = group_owners([str(g) for g in groups], shard.count)
        return [i for i, g in enumerate(groups) if owner[str(g)] == shard.index]
    start = len(items) * shard.index // shard.count
    end = len(items) * (shard.index + 1) // shard.count
    return list(range(start, end))


def group_owners(groups: list[str], count: int) -> dict[str, int]:
    """Group -> shard, balancing item counts: largest group first (ties in first-seen order)
    to the least-loaded shard (ties to the lowest index). Deterministic on every worker."""
    sizes: dict[str, int] = {}
    for group in groups:
        sizes[group] = sizes.get(group, 0) + 1
    order = sorted(sizes, key=lambda g: -sizes[g])  # stable: first-seen order among equals
    load = [0] * count
    owners: dict[str, int] = {}
    for group in order:
        target = min(range(count), key=lambda s: (load[s], s))
        owners[group] = target
        load[target] += sizes[group]
    return owners


SplitDone = Callable[[Sequence[T], Callable[[T], str]], tuple[list[Sample], list[T]]]


def install_shard(task: Any, shard: Shard) -> None:
    """Make `task` score only its shard's items (its `split_done` sees only those)."""
    if shard.count == 1:
        return
    original: SplitDone[Any] = task.split_done

    def split_done(items: Sequence[Any], key: Callable[[Any], str]) -> Any:
        mine = [items[i] for i in shard_indices(items, shard)]
        return original(mine, key)

    task.split_done = split_done
