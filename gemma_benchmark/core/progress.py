"""Progress bars for long runs: one rich bar per (model, task, run) job."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressBoard:
    """A context manager that hands out `hook(label)` callbacks of (done, total)."""

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )

    def __enter__(self) -> ProgressBoard:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def hook(self, label: str) -> Callable[[int, int], None]:
        bar = self.progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            self.progress.update(bar, completed=done, total=total)

        return update
