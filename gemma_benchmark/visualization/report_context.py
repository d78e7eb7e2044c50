"""The report's tables as plain data: everything the template shows except the charts.

Values are formatted here, strings stay raw: the template's autoescape is what makes model
output safe, so nothing in this module may build markup.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from gemma_benchmark.visualization.extract import (
    EFFICIENCY_METRICS,
    cell_problem,
    efficiency_series,
    is_efficiency,
    primary_score,
    roofline_point,
    task_names,
    task_result,
)
from gemma_benchmark.visualization.figures import subject_rows

__all__ = [
    "efficiency_rows",
    "failed_examples",
    "metadata_section",
    "significance_rows",
    "subject_table",
    "summary_table",
]

_MAX_FIELD_CHARS = 20_000  # one failed example's field; a runaway generation stays readable


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def metadata_section(document: Mapping[str, Any]) -> dict[str, Any]:
    """Run identity rows, the system info rows and the config as indented JSON."""
    meta = document.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    keys = ("run_id", "status", "started_at", "saved_at", "package_version", "git_commit")
    rows = [(key, str(meta[key])) for key in (*keys, "config_path", "source") if meta.get(key)]
    rows.append(("schema_version", str(document.get("schema_version", "–"))))
    system = meta.get("system_info")
    return {
        "rows": rows,
        "system": _flat_rows(system) if isinstance(system, Mapping) else [],
        "config": json.dumps(meta.get("config") or {}, indent=2, default=str, sort_keys=True),
        "title_date": str(meta.get("started_at") or meta.get("saved_at") or ""),
    }


def _flat_rows(tree: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flat_rows(value, f"{name}."))
        else:
            rows.append((name, _text(value)))
    return rows


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def summary_table(results: Mapping[str, Any], confidence: float) -> dict[str, Any]:
    """Models × tasks cells: score with interval, a throughput for efficiency, or why not."""
    tasks = task_names(results)
    rows = []
    for model in results:
        cells = [_summary_cell(results, model, task, confidence) for task in tasks]
        rows.append({"model": model, "cells": cells})
    return {"tasks": tasks, "rows": rows}


def _summary_cell(
    results: Mapping[str, Any], model: str, task: str, confidence: float
) -> dict[str, str]:
    problem = cell_problem(results, model, task)
    result = task_result(results, model, task)
    if problem is not None or result is None:
        if problem in ("not run", None):
            return _cell("missing", "–", title=problem or "")
        return _cell("failed", "failed", title=problem)
    score = primary_score(result, confidence)
    if score is not None:
        interval = f"[{pct(score.ci_low)}, {pct(score.ci_high)}]" if score.has_ci else ""
        return _cell("ok", pct(score.value), interval, f"interval: {score.ci_source}")
    if is_efficiency(result):
        points = efficiency_series(result, "tokens_per_second")
        if points:
            best = max(point.value for point in points)
            return _cell("ok", f"{best:.1f} tok/s", title="best throughput over output lengths")
    return _cell("missing", "–", title="no headline metric")


def _cell(status: str, text: str, ci: str = "", title: str = "") -> dict[str, str]:
    return {"status": status, "text": text, "ci": ci, "title": title}


def subject_table(results: Mapping[str, Any], task: str) -> dict[str, Any] | None:
    """Subjects × models (accuracy and items), or None when no model has subjects."""
    per_model: dict[str, dict[str, tuple[float | None, int | None]]] = {}
    categories: dict[str, str] = {}
    for model in results:
        result = task_result(results, model, task)
        if result is None:
            continue
        for subject, value, n, category in subject_rows(result):
            per_model.setdefault(model, {})[subject] = (value, n)
            categories[subject] = category
    if not per_model:
        return None
    models = list(per_model)
    rows = []
    for subject in sorted(categories):
        cells = []
        for model in models:
            accuracy, items = per_model[model].get(subject, (None, None))
            sort_key = "" if accuracy is None else f"{accuracy:.6f}"
            cells.append({"text": pct(accuracy), "sort": sort_key, "n": items})
        rows.append({"subject": subject, "category": categories[subject], "cells": cells})
    return {"models": models, "rows": rows}


def failed_examples(results: Mapping[str, Any], task: str) -> list[dict[str, Any]]:
    """Per model, the task's failed examples as (title, [(field, text)]) for <details>."""
    sections = []
    for model in results:
        result = task_result(results, model, task)
        examples = result.get("failed_examples") if result is not None else None
        if not isinstance(examples, list) or not examples:
            continue
        items = [_example(index, example) for index, example in enumerate(examples)]
        sections.append({"model": model, "examples": items})
    return sections


def _example(index: int, example: Any) -> dict[str, Any]:
    if not isinstance(example, Mapping):
        return {"title": f"#{index + 1}", "fields": [("value", _clip(_text(example)))]}
    label = example.get("task_id") or example.get("doc_id") or f"#{index + 1}"
    headline = example.get("question") or example.get("status") or ""
    title = f"{label}: {' '.join(str(headline).split())[:100]}" if headline else str(label)
    fields = [(str(key), _clip(_text(value))) for key, value in example.items()]
    return {"title": title, "fields": fields}


def _clip(text: str) -> str:
    if len(text) <= _MAX_FIELD_CHARS:
        return text
    return text[:_MAX_FIELD_CHARS] + f"\n… ({len(text) - _MAX_FIELD_CHARS} more characters)"


def efficiency_rows(results: Mapping[str, Any], task: str) -> list[dict[str, str]]:
    """One row per model and output length: latency, throughput, memory and roofline share."""
    rows = []
    for model in results:
        result = task_result(results, model, task)
        if result is None or not is_efficiency(result):
            continue
        series = {
            name: {p.length: p.value for p in efficiency_series(result, key)}
            for name, (key, _) in EFFICIENCY_METRICS.items()
        }
        lengths = sorted({length for points in series.values() for length in points})
        for length in lengths:
            row = {"model": model, "length": str(length)}
            row.update(_measures(series, length))
            row.update(_roofline_cells(roofline_point(result, f"tokens_{length}")))
            rows.append(row)
    return rows


def _measures(series: dict[str, dict[int, float]], length: int) -> dict[str, str]:
    def fmt(name: str, spec: str) -> str:
        value = series[name].get(length)
        return "–" if value is None else format(value, spec)

    return {
        "latency": fmt("latency", ".3f"),
        "throughput": fmt("throughput", ".1f"),
        "memory": fmt("memory", ".2f"),
    }


def _roofline_cells(section: Mapping[str, Any] | None) -> dict[str, str]:
    if section is None:
        return {"decode_pct": "–", "prefill_pct": "–", "roofline_note": "no roofline recorded"}
    decode = _num(section.get("decode_pct_of_limit"))
    prefill = _num(section.get("prefill_pct_of_limit"))
    note = section.get("note")
    hardware = section.get("hardware")
    detail = [str(hardware)] if hardware else []
    if note:
        detail.append(str(note))
    return {
        "decode_pct": "–" if decode is None else f"{decode:.1f}%",
        "prefill_pct": "–" if prefill is None else f"{prefill:.1f}%",
        "roofline_note": "; ".join(detail),
    }


def significance_rows(comparisons: Any) -> list[dict[str, str]]:
    """One row per task and model pair of the paired tests (diff in accuracy points)."""
    if not isinstance(comparisons, Mapping):
        return []
    rows = []
    for task, pairs in comparisons.items():
        if not isinstance(pairs, Mapping):
            continue
        for pair, stats in pairs.items():
            if isinstance(stats, Mapping):
                rows.append(_significance_row(str(task), str(pair), stats))
    return rows


def _significance_row(task: str, pair: str, stats: Mapping[str, Any]) -> dict[str, str]:
    def points(key: str) -> str:
        value = _num(stats.get(key))
        return "–" if value is None else f"{100 * value:+.1f}"

    def p_value(key: str) -> str:
        value = _num(stats.get(key))
        if value is None:
            return "–"
        if value == 0.0 and key == "bootstrap_p":
            return "<0.001"  # no resample crossed zero: below the bootstrap's resolution
        return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"

    significant = stats.get("significant")
    return {
        "task": task,
        "pair": pair,
        "diff": points("diff"),
        "ci": f"[{points('ci_low')}, {points('ci_high')}]",
        "mcnemar_p": p_value("mcnemar_p"),
        "bootstrap_p": p_value("bootstrap_p"),
        "significant": "yes" if significant is True else ("no" if significant is False else "–"),
        "n": str(stats.get("n", "–")),
    }
