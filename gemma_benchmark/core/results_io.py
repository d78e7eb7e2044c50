"""Writing results documents: JSON, YAML or CSV, chosen by file extension."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import yaml

from gemma_benchmark.storage import redact


def _finite(value: Any) -> Any:
    """NaN and infinities become None: strict JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def flatten(results: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """(model, task, dotted metric path, value) for every scalar leaf."""
    rows: list[tuple[str, str, str, Any]] = []

    def walk(model: str, task: str, prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(model, task, f"{prefix}.{key}" if prefix else str(key), value)
        elif not isinstance(node, list):
            rows.append((model, task, prefix, node))

    for model, per_task in results.items():
        for task, result in per_task.items():
            walk(model, task, "", result)
    return rows


def write_results(path: Path, document: dict[str, Any]) -> str:
    """Write atomically (temp file, then rename) so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = _finite(redact(document))
    tmp = path.with_name(path.name + ".partial")
    suffix = path.suffix.lower()
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        if suffix in (".yaml", ".yml"):
            yaml.safe_dump(document, handle, sort_keys=False, allow_unicode=True)
        elif suffix == ".csv":
            writer = csv.writer(handle)
            writer.writerow(["model", "task", "metric", "value"])
            writer.writerows(flatten(document.get("results", {})))
        else:
            json.dump(document, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
    tmp.replace(path)
    return str(path)
