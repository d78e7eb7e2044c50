"""Results documents for the report, read from a results file or rebuilt from the database.

A document has the shape `save_results` writes: `{"schema_version", "metadata", "results",
"comparisons"}`. From the database, metadata comes from the run's row and results from its task
results: repeated runs (run_index 0, 1, ...) are combined the way the orchestrator combines them
(the first run's result plus a `runs` section), and comparison rows become `comparisons`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gemma_benchmark.visualization.extract import unwrap_results

if TYPE_CHECKING:
    from gemma_benchmark.storage import ResultStore

__all__ = [
    "DEFAULT_DB_PATH",
    "database_url",
    "document_from_file",
    "document_from_store",
    "load_document",
]

DEFAULT_DB_PATH = Path("results") / "benchmark.db"
_COMPARISON = "comparison"


def database_url(db: str | None) -> str:
    """A SQLAlchemy URL from `--db`: a URL as given, else a SQLite file path.

    Without `db`, the default output's database (`results/benchmark.db`). A file that does not
    exist raises FileNotFoundError, so reading never creates an empty database by accident.
    """
    if db and "://" in db:
        return db
    path = Path(db) if db else DEFAULT_DB_PATH
    if not path.is_file():
        hint = "" if db else " (pass --db PATH or a database URL)"
        raise FileNotFoundError(f"no results database at {path}{hint}")
    return f"sqlite:///{path.resolve()}"


def load_document(source: str, db: str | None = None) -> dict[str, Any]:
    """The document for `source`: a results file (JSON or YAML) or a run id in the database.

    Raises FileNotFoundError, ValueError (unreadable file, neither file nor run id) or
    `RunNotFoundError`.
    """
    path = Path(source)
    if path.is_file():
        return document_from_file(path)
    if source.strip().isdigit():
        from gemma_benchmark.storage import ResultStore

        with ResultStore(database_url(db)) as store:
            return document_from_store(store, int(source))
    raise FileNotFoundError(f"{source!r} is neither a results file nor a run id")


def document_from_file(path: Path) -> dict[str, Any]:
    """A results.json/.yaml document; a bare `{model: {task: result}}` dict is wrapped."""
    text = path.read_text(encoding="utf-8")
    try:
        is_yaml = path.suffix.lower() in (".yaml", ".yml")
        data = yaml.safe_load(text) if is_yaml else json.loads(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a readable results document: {err}") from err
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a results document (a mapping), got {type(data)}")
    document: dict[str, Any] = dict(data) if "schema_version" in data else {"results": data}
    metadata = document.get("metadata")
    comparisons = document.get("comparisons")
    return {
        "schema_version": document.get("schema_version", 1),
        "metadata": {"source": str(path), **(metadata if isinstance(metadata, Mapping) else {})},
        "results": unwrap_results({"schema_version": 1, "results": document["results"]}),
        "comparisons": comparisons if isinstance(comparisons, Mapping) else {},
    }


def document_from_store(store: ResultStore, run_id: int) -> dict[str, Any]:
    """The document of one stored run (raises `RunNotFoundError` for an unknown id)."""
    run = store.get_run(run_id)
    rows = store.task_results(run_id)
    results, comparisons = results_from_rows(rows, _requested_runs(run))
    return {
        "schema_version": 1,
        "metadata": _metadata(run),
        "results": results,
        "comparisons": comparisons,
    }


def _run_config(run: Mapping[str, Any]) -> dict[str, Any]:
    """The benchmark config of a run row (stored inside the run's identity, when it is)."""
    stored = run.get("config") or {}
    inner = stored.get("config") if isinstance(stored, Mapping) else None
    return dict(inner) if isinstance(inner, Mapping) else dict(stored)


def _requested_runs(run: Mapping[str, Any]) -> int | None:
    evaluation = _run_config(run).get("evaluation")
    runs = evaluation.get("runs") if isinstance(evaluation, Mapping) else None
    return runs if isinstance(runs, int) else None


def _metadata(run: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run.get("id"),
        "status": run.get("status"),
        "started_at": run.get("started_at"),
        "saved_at": run.get("finished_at"),
        "package_version": run.get("package_version"),
        "git_commit": run.get("git_commit"),
        "config_hash": run.get("config_hash"),
        "config": _run_config(run),
        "system_info": run.get("system_info") or {},
        "source": "results database",
    }


def results_from_rows(
    rows: list[dict[str, Any]], requested: int | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(results, comparisons) from task_results rows; see the module docstring."""
    per_cell: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    comparisons: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("status") == _COMPARISON:
            comparisons.setdefault(row["task"], {})[row["model"]] = row.get("metrics") or {}
        else:
            per_cell[(row["model"], row["task"])][int(row["run_index"])] = row
    results: dict[str, dict[str, Any]] = {}
    for (model, task), by_index in per_cell.items():
        results.setdefault(model, {})[task] = _combined(by_index, requested)
    return results, comparisons


def _row_result(row: Mapping[str, Any]) -> dict[str, Any]:
    metrics = row.get("metrics")
    if row.get("status") == "failed" or not isinstance(metrics, Mapping):
        error = row.get("error") or (metrics or {}).get("error") or "unknown error"
        return {"status": "failed", "error": str(error)}
    return dict(metrics)


def _combined(by_index: dict[int, dict[str, Any]], requested: int | None) -> dict[str, Any]:
    """The first run's result, plus a `runs` aggregate when the task ran more than once."""
    from gemma_benchmark.utils.metrics import aggregate_results

    ordered = [_row_result(by_index[index]) for index in sorted(by_index)]
    first = ordered[0]
    if len(ordered) == 1:
        return first
    succeeded = [result for result in ordered if result.get("status") != "failed"]
    section: dict[str, Any] = {
        "requested": max(requested or 0, len(ordered)),
        "completed": len(succeeded),
    }
    if succeeded:
        section["aggregate"] = aggregate_results(succeeded)
    first["runs"] = section
    return first
