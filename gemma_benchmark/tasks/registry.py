"""Task registry: built-in tasks register by decorator; user tasks are named by dotted path.

Built-in modules are imported on first lookup, not at package import, so the CLI stays fast.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from gemma_benchmark.utils.names import fold_name

_REGISTRY: dict[str, type[Any]] = {}
_BUILTIN_MODULES = (
    "gemma_benchmark.tasks.mmlu",
    "gemma_benchmark.tasks.gsm8k",
    "gemma_benchmark.tasks.humaneval",
    "gemma_benchmark.tasks.efficiency",
    "gemma_benchmark.tasks.arc",
    "gemma_benchmark.tasks.hellaswag",
    "gemma_benchmark.tasks.truthfulqa",
    "gemma_benchmark.tasks.custom",
)
_loaded = False

T = TypeVar("T", bound=type[Any])


def register_task(name: str) -> Callable[[T], T]:
    """Class decorator: make a task available as `type: <name>` in configs."""

    def decorate(cls: T) -> T:
        _REGISTRY[name] = cls
        cls.task_type = name
        return cls

    return decorate


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real import error inside the module
                raise
    _loaded = True


def registered_tasks() -> dict[str, type[Any]]:
    """Every built-in task, by its config `type`."""
    _load_builtins()
    return dict(sorted(_REGISTRY.items()))


def canonical_task_type(task_type: str) -> str:
    """The registered name `task_type` means: exact, else ignoring case, spaces and hyphens
    (`MMLU`, `GSM8K`, `arc-challenge`); anything else (a dotted path, a typo) is returned as is."""
    _load_builtins()
    if task_type in _REGISTRY:
        return task_type
    folded = fold_name(task_type)
    matches = [name for name in _REGISTRY if name.lower() == folded]
    return matches[0] if len(matches) == 1 else task_type


def resolve_task_class(task_type: str) -> type[Any]:
    """A registered name, or `package.module:Class` / `package.module.Class` for a user task.

    Raises ValueError for an unknown name, ImportError / AttributeError for a bad dotted path,
    and TypeError-free ValueError when the class lacks the spec's `evaluate` method.
    """
    _load_builtins()
    if task_type in _REGISTRY:
        return _REGISTRY[task_type]
    if ":" not in task_type and "." not in task_type:
        hint = difflib.get_close_matches(task_type, list(_REGISTRY), n=1)
        suffix = f"; did you mean {hint[0]!r}?" if hint else ""
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(
            f"unknown task type {task_type!r}{suffix} (known: {known}, or module:Class)"
        )
    module_name, _, attr = (
        task_type.partition(":") if ":" in task_type else task_type.rpartition(".")
    )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f"cannot import task module {module_name!r}: {err}") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise AttributeError(f"module {module_name!r} has no task class {attr!r}")
    if not callable(getattr(cls, "evaluate", None)):
        raise ValueError(f"{task_type!r} has no evaluate(model) method (see BenchmarkTask)")
    return cls
