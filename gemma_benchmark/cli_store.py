"""`runs`, `show` and `compare`: reading the results database from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gemma_benchmark.storage import ResultStore
from gemma_benchmark.utils.metrics import mcnemar_exact

console = Console()
DEFAULT_DB = Path("results") / "benchmark.db"


def open_store(db: str | None) -> ResultStore:
    """`--db` takes an SQLAlchemy URL or a path to an SQLite file (default results/benchmark.db).

    Raises FileNotFoundError for a missing SQLite file, so a typo does not create an empty one.
    """
    if db and "://" in db:
        return ResultStore(db)
    path = Path(db) if db else DEFAULT_DB
    if not path.is_file():
        raise FileNotFoundError(f"results database not found: {path} (use --db)")
    return ResultStore(f"sqlite:///{path}")


def list_runs(db: str | None) -> None:
    with open_store(db) as store:
        runs = store.list_runs()
    table = Table("id", "started", "status", "models", "tasks", "samples", title="runs")
    for run in runs:
        table.add_row(
            str(run["id"]),
            (run["started_at"] or "")[:19].replace("T", " "),
            run["status"],
            ", ".join(run["models"]),
            ", ".join(run["tasks"]),
            str(run["n_samples"]),
        )
    console.print(table)


def scores(store: ResultStore, run_id: int) -> dict[tuple[str, str], dict[str, Any]]:
    """(model, task) -> metrics of run index 0, comparisons left out."""
    rows = store.task_results(run_id)
    return {
        (r["model"], r["task"]): r["metrics"] or {}
        for r in rows
        if r["status"] != "comparison" and r["run_index"] == 0
    }


def figure(metrics: dict[str, Any]) -> str:
    from gemma_benchmark.cli_run import headline

    return headline(metrics)


def show_run(run_id: int, db: str | None) -> None:
    with open_store(db) as store:
        run = store.get_run(run_id)
        results = scores(store, run_id)
    console.print(f"run {run_id}: {run['status']}, started {run['started_at']}")
    table = Table("model", "task", "result", title=f"run {run_id}")
    for (model, task), metrics in sorted(results.items()):
        table.add_row(model, task, figure(metrics))
    console.print(table)


def correctness(store: ResultStore, run_id: int, model: str, task: str) -> dict[str, bool]:
    rows = store.completed_samples(run_id, model, task, 0)
    return {k: bool(r["correct"]) for k, r in rows.items() if r.get("correct") is not None}


def compare_runs(run_ids: list[int], db: str | None, alpha: float = 0.05) -> None:
    """Side by side; `*` marks a change from the first run that McNemar's exact test over the
    shared items finds significant at `alpha`."""
    with open_store(db) as store:
        per_run = {run_id: scores(store, run_id) for run_id in run_ids}
        keys = sorted({key for results in per_run.values() for key in results})
        table = Table("model", "task", *[f"run {r}" for r in run_ids], title="comparison")
        for model, task in keys:
            base = correctness(store, run_ids[0], model, task)
            cells = []
            for position, run_id in enumerate(run_ids):
                metrics = per_run[run_id].get((model, task))
                cell = figure(metrics) if metrics is not None else "-"
                if position > 0 and metrics is not None and base:
                    cell += marker(base, correctness(store, run_id, model, task), alpha)
                cells.append(cell)
            table.add_row(model, task, *cells)
    console.print(table)
    console.print(f"* significant change from run {run_ids[0]} (McNemar exact, p < {alpha})")


def marker(base: dict[str, bool], other: dict[str, bool], alpha: float) -> str:
    shared = sorted(set(base) & set(other))
    if not shared:
        return ""
    test = mcnemar_exact([base[k] for k in shared], [other[k] for k in shared])
    star = " *" if test["p_value"] < alpha else ""
    return f"{star} (p={test['p_value']:.3g})"
