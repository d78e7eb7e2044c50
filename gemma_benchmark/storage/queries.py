"""Row conversions and multi-statement reads behind `ResultStore`; each takes an open connection.

Datetimes leave as ISO 8601 strings in UTC; samples enter as API dicts and leave the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, func, select

from gemma_benchmark.storage.schema import Run, Sample, TaskResult, utcnow

_SAMPLE_COLUMNS = ("doc_id", "request_hash", "prompt", "response", "scores", "correct")
_IN_CLAUSE_CHUNK = 500


def sample_columns() -> list[Any]:
    return [getattr(Sample, name) for name in _SAMPLE_COLUMNS]


def sample_row(sample: Mapping[str, Any], key: dict[str, Any]) -> dict[str, Any]:
    if sample.get("doc_id") is None:
        raise ValueError(f"every sample needs a doc_id; got keys {sorted(sample)}")
    correct = sample.get("correct")
    return {
        **key,
        "doc_id": str(sample["doc_id"]),
        "request_hash": sample.get("request_hash"),
        "prompt": _as_text(sample.get("prompt")),
        "response": _as_text(sample.get("response")),
        "scores": sample.get("scores"),
        "correct": None if correct is None else bool(correct),
        "extra": {k: v for k, v in sample.items() if k not in _SAMPLE_COLUMNS},
        "created_at": utcnow(),
    }


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def dedupe_by_doc_id(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    by_doc: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_doc.setdefault(row["doc_id"], row)
    return list(by_doc.values())


def stored_doc_ids(conn: Connection, key: dict[str, Any], doc_ids: list[str]) -> set[str]:
    stored: set[str] = set()
    for start in range(0, len(doc_ids), _IN_CLAUSE_CHUNK):
        chunk = doc_ids[start : start + _IN_CLAUSE_CHUNK]
        query = select(Sample.doc_id).filter_by(**key).where(Sample.doc_id.in_(chunk))
        stored.update(conn.scalars(query))
    return stored


def task_result_rows(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    table = TaskResult.__table__
    query = select(table).where(TaskResult.run_id == run_id).order_by(TaskResult.id)
    return [dict(row._mapping) for row in conn.execute(query)]


def list_runs(conn: Connection) -> list[dict[str, Any]]:
    pairs: dict[int, tuple[set[str], set[str]]] = {}
    for run_id, model, task in conn.execute(
        select(TaskResult.run_id, TaskResult.model, TaskResult.task)
        .where(TaskResult.status != "comparison")
        .distinct()
    ):
        models, tasks = pairs.setdefault(run_id, (set(), set()))
        models.add(model)
        tasks.add(task)
    counts = dict(
        conn.execute(select(Sample.run_id, func.count()).group_by(Sample.run_id)).tuples().all()
    )
    runs = []
    for row in conn.execute(select(Run.__table__).order_by(Run.id)):
        run = run_dict(row._mapping)
        models, tasks = pairs.get(run["id"], (set(), set()))
        config = run.pop("config") or {}
        run.pop("system_info")
        run["models"] = sorted(models) or _names_in(config.get("models"))
        run["tasks"] = sorted(tasks) or _names_in(config.get("tasks"))
        run["n_samples"] = int(counts.get(run["id"], 0))
        runs.append(run)
    return runs


def _names_in(section: Any) -> list[str]:
    """Model or task names from a config section: a mapping's keys or a list of names."""
    if isinstance(section, Mapping):
        return sorted(str(name) for name in section)
    if isinstance(section, list):
        return sorted(str(item.get("name") if isinstance(item, dict) else item) for item in section)
    return []


def run_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    run = dict(row)
    for field in ("started_at", "finished_at"):
        run[field] = _iso_utc(run[field])
    return run


def _iso_utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite drops the offset; everything is stored in UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()
