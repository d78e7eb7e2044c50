"""Reading the numbers the charts, report and leaderboard show out of a results dict.

Pure functions, no matplotlib. A results dict is `{model: {task: result}}` as
`GemmaBenchmark.run_benchmarks` returns it; a model that failed to load is `{"error": ...}` and a
failed task is `{"status": "failed", "error": ...}`. Tasks are recognised by the shape of their
result, not by name, so a renamed or custom task is drawn the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gemma_benchmark.utils.metrics import calculate_confidence_interval

__all__ = [
    "EFFICIENCY_METRICS",
    "Score",
    "SeriesPoint",
    "cell_problem",
    "efficiency_series",
    "is_efficiency",
    "model_names",
    "primary_score",
    "roofline_point",
    "task_names",
    "task_result",
    "unwrap_results",
]

# The primary 0..1 metric of a result's "overall" section, in order of preference.
_PRIMARY_KEYS: tuple[tuple[str, str | None], ...] = (
    ("accuracy", "correct"),
    ("pass_at_1", "passed"),
)
_Z95 = 1.959963984540054

# (result key, axis label with unit) of each efficiency chart, keyed by the chart's name.
EFFICIENCY_METRICS: dict[str, tuple[str, str]] = {
    "latency": ("latency", "End-to-end latency (s)"),
    "memory": ("memory_usage", "Peak memory (GB)"),
    "throughput": ("tokens_per_second", "Throughput (tokens/s)"),
}
_LENGTH_KEY = re.compile(r"^tokens_(\d+)$")


@dataclass(frozen=True)
class Score:
    """A task's primary metric in [0, 1] with its interval (None when there is no basis for one).

    `ci_source` says where the interval came from: "runs" (Student-t over repeated runs),
    "wilson" (correct/total), "stderr" (normal approximation) or "none".
    """

    metric: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    ci_source: str = "none"

    @property
    def has_ci(self) -> bool:
        return self.ci_low is not None and self.ci_high is not None


def unwrap_results(data: Mapping[str, Any]) -> dict[str, Any]:
    """The `{model: {task: result}}` part of a plain results dict or a results.json document.

    A document is recognised by `schema_version` plus `results`. Raises ValueError on anything
    that is not a mapping of model names to mappings.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"results must be a dict of model -> task results, got {type(data)}")
    if "schema_version" in data and "results" in data:
        data = data["results"]
        if not isinstance(data, Mapping):
            raise ValueError("the document's 'results' must be a dict of model -> task results")
    bad = [str(model) for model, value in data.items() if not isinstance(value, Mapping)]
    if bad:
        raise ValueError(f"results of model(s) {', '.join(bad)} are not dicts of task results")
    return dict(data)


def model_names(results: Mapping[str, Any]) -> list[str]:
    return [str(model) for model in results]


def task_names(results: Mapping[str, Any]) -> list[str]:
    """Every task name of every loaded model, in first-seen order."""
    seen: dict[str, None] = {}
    for per_task in results.values():
        if _load_error(per_task) is None:
            for task in per_task:
                seen.setdefault(str(task), None)
    return list(seen)


def _load_error(per_task: Any) -> str | None:
    if not isinstance(per_task, Mapping):
        return "no results"
    error = per_task.get("error")
    return str(error) if isinstance(error, str) else None


def cell_problem(results: Mapping[str, Any], model: str, task: str) -> str | None:
    """Why (model, task) has no result to draw, or None when it has one."""
    per_task = results.get(model)
    if per_task is None:
        return "model not in results"
    load_error = _load_error(per_task)
    if load_error is not None:
        return f"model failed to load: {load_error}"
    result = per_task.get(task)
    if result is None:
        return "not run"
    if not isinstance(result, Mapping):
        return f"malformed result ({type(result).__name__})"
    if result.get("status") == "failed":
        return f"failed: {result.get('error', 'unknown error')}"
    return None


def task_result(results: Mapping[str, Any], model: str, task: str) -> Mapping[str, Any] | None:
    """The usable result of (model, task), or None (see `cell_problem` for why)."""
    if cell_problem(results, model, task) is not None:
        return None
    result: Mapping[str, Any] = results[model][task]
    return result


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def primary_score(result: Mapping[str, Any], confidence: float = 0.95) -> Score | None:
    """The result's 0..1 headline metric with the best interval available, or None.

    Interval preference: repeated runs' aggregate (when more than one run completed), then
    Wilson from correct/total (or passed/total), then value ± z·stderr, clipped to [0, 1].
    """
    overall = result.get("overall")
    if not isinstance(overall, Mapping):
        return None
    for metric, count_key in _PRIMARY_KEYS:
        value = _number(overall.get(metric))
        if value is not None and 0.0 <= value <= 1.0:
            return _with_interval(result, overall, metric, count_key, value, confidence)
    return None


def _with_interval(
    result: Mapping[str, Any],
    overall: Mapping[str, Any],
    metric: str,
    count_key: str | None,
    value: float,
    confidence: float,
) -> Score:
    total = _number(overall.get("total"))
    n = int(total) if total is not None and total > 0 else None
    aggregate = _aggregate(result, f"overall.{metric}")
    if aggregate is not None:
        low, high = _number(aggregate.get("ci_low")), _number(aggregate.get("ci_high"))
        mean = _number(aggregate.get("mean"))
        if low is not None and high is not None and mean is not None:
            return Score(metric, mean, max(0.0, low), min(1.0, high), n, "runs")
    if n is not None and count_key is not None and _number(overall.get(count_key)) is not None:
        low, high = calculate_confidence_interval(value, n, confidence)
        return Score(metric, value, low, high, n, "wilson")
    stderr = _number(overall.get("stderr"))
    if stderr is not None:
        half = _Z95 * stderr
        return Score(metric, value, max(0.0, value - half), min(1.0, value + half), n, "stderr")
    return Score(metric, value, n=n)


def _aggregate(result: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The repeated-runs aggregate of a dotted metric path, when more than one run completed."""
    runs = result.get("runs")
    if not isinstance(runs, Mapping):
        return None
    aggregate = runs.get("aggregate")
    if not isinstance(aggregate, Mapping):
        return None
    entry = aggregate.get(path)
    if not isinstance(entry, Mapping) or (_number(entry.get("n_runs")) or 0) < 2:
        return None
    return entry


def is_efficiency(result: Mapping[str, Any]) -> bool:
    return any(isinstance(result.get(key), Mapping) for key, _ in EFFICIENCY_METRICS.values())


@dataclass(frozen=True)
class SeriesPoint:
    """One output length of an efficiency metric; `low`/`high` from repeated runs, if any."""

    length: int
    value: float
    low: float | None = None
    high: float | None = None


def efficiency_series(result: Mapping[str, Any], key: str) -> list[SeriesPoint]:
    """The points of `result[key]` (e.g. "latency") sorted by output length in tokens."""
    section = result.get(key)
    if not isinstance(section, Mapping):
        return []
    points = []
    for name, raw in section.items():
        match = _LENGTH_KEY.match(str(name))
        value = _number(raw)
        if match is None or value is None:
            continue
        spread = _aggregate(result, f"{key}.{name}")
        low = _number(spread.get("ci_low")) if spread else None
        high = _number(spread.get("ci_high")) if spread else None
        points.append(SeriesPoint(int(match.group(1)), value, low, high))
    return sorted(points, key=lambda point: point.length)


def roofline_point(result: Mapping[str, Any], length_key: str) -> Mapping[str, Any] | None:
    """The roofline section for one output length (`tokens_<N>`), wherever the task put it.

    A top-level `roofline: {tokens_N: {...}}` wins; otherwise the primary configuration's
    point in `measurements[mode][batch_<b>][tokens_N]["roofline"]` is used.
    """
    top = result.get("roofline")
    if isinstance(top, Mapping) and isinstance(top.get(length_key), Mapping):
        section: Mapping[str, Any] = top[length_key]
        return section
    primary = result.get("primary")
    measurements = result.get("measurements")
    if not isinstance(primary, Mapping) or not isinstance(measurements, Mapping):
        return None
    per_batch = measurements.get(str(primary.get("mode")))
    if not isinstance(per_batch, Mapping):
        return None
    per_length = per_batch.get(f"batch_{primary.get('batch_size')}")
    if not isinstance(per_length, Mapping):
        return None
    point = per_length.get(length_key)
    roof = point.get("roofline") if isinstance(point, Mapping) else None
    return roof if isinstance(roof, Mapping) else None
