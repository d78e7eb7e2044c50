"""The four chart kinds as matplotlib figures, built from a `{model: {task: result}}` dict.

Each builder returns an unsaved `Figure` (see `charts.ChartGenerator` for files and
`report` for inline SVG) and must run inside `style.chart_style`. Unusable input raises
ValueError naming what is missing; a model or task that cannot be drawn while others can is
left out and named in a note under the chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gemma_benchmark.visualization.extract import (
    EFFICIENCY_METRICS,
    Score,
    SeriesPoint,
    cell_problem,
    efficiency_series,
    is_efficiency,
    primary_score,
    task_names,
    task_result,
)
from gemma_benchmark.visualization.style import (
    CATEGORY_COLORS,
    MISSING_COLOR,
    add_note,
    color_for,
    new_figure,
    percent_axis,
    safe_text,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "comparison_figure",
    "efficiency_figures",
    "heatmap_figure",
    "scored_tasks",
    "subject_figure",
]

_METRIC_LABELS = {"accuracy": "Accuracy", "pass_at_1": "pass@1"}
_CI_NOTE = {
    "runs": "t-interval over repeated runs",
    "wilson": "Wilson interval from correct/total",
    "stderr": "±1.96 standard errors",
}
_MAX_REASON = 90


def _short(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"


def scored_tasks(results: Mapping[str, Any]) -> list[str]:
    """Tasks with a 0..1 primary metric (accuracy or pass@1) for at least one model."""
    return [
        task
        for task in task_names(results)
        if any(_score(results, model, task) for model in results)
    ]


def _score(
    results: Mapping[str, Any], model: str, task: str, confidence: float = 0.95
) -> Score | None:
    result = task_result(results, model, task)
    return None if result is None else primary_score(result, confidence)


# -- heatmap ---------------------------------------------------------------------------------


def heatmap_figure(results: Mapping[str, Any], confidence: float = 0.95) -> Figure:
    """Models × scored tasks, each cell the primary metric and its interval."""
    tasks = scored_tasks(results)
    if not tasks:
        raise ValueError(
            "no model has a task with an accuracy or pass@1 score to put in a heatmap "
            f"(models: {', '.join(map(str, results)) or 'none'})"
        )
    models = list(results)
    notes = _heatmap_notes(results, tasks)
    figure = new_figure(2.2 + 1.7 * len(tasks), 1.6 + 0.75 * len(models))
    ax = figure.add_subplot()
    grid = np.full((len(models), len(tasks)), np.nan)
    for row, model in enumerate(models):
        for col, task in enumerate(tasks):
            score = _score(results, model, task, confidence)
            if score is not None:
                grid[row, col] = score.value
            _annotate_cell(ax, row, col, score, cell_problem(results, model, task))
    _draw_grid(figure, ax, grid)
    ax.set_xticks(range(len(tasks)), [safe_text(t) for t in tasks])
    ax.set_yticks(range(len(models)), [safe_text(m) for m in models])
    ax.set_xlabel("Task (accuracy or pass@1, %)")
    ax.set_ylabel("Model")
    ax.set_title("Performance by model and task")
    add_note(figure, notes)
    return figure


def _heatmap_notes(results: Mapping[str, Any], tasks: list[str]) -> list[str]:
    left_out = [t for t in task_names(results) if t not in tasks]
    notes = [f"Not shown (no accuracy or pass@1 score): {', '.join(left_out)}"] if left_out else []
    notes.append(f"Cells: score [{_interval_words(results, tasks)}]; grey: no result.")
    return notes


def _interval_words(results: Mapping[str, Any], tasks: list[str]) -> str:
    sources = {
        score.ci_source
        for task in tasks
        for model in results
        if (score := _score(results, model, task)) is not None and score.has_ci
    }
    return "; ".join(_CI_NOTE[s] for s in sorted(sources)) or "no intervals available"


def _draw_grid(figure: Figure, ax: Axes, grid: np.ndarray[Any, Any]) -> None:
    from matplotlib import colormaps

    cmap = colormaps["cividis"].with_extremes(bad=MISSING_COLOR)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    bar = figure.colorbar(image, ax=ax, fraction=0.05)
    bar.set_label("Score (%)")
    percent_axis(bar.ax.yaxis)
    ax.grid(False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


def _annotate_cell(ax: Axes, row: int, col: int, score: Score | None, problem: str | None) -> None:
    if score is None:
        label = "failed" if problem and problem.startswith(("failed", "model failed")) else "n/a"
        ax.text(col, row, label, ha="center", va="center", fontsize=9, color="#444444")
        return
    text = f"{score.value:.1%}"
    if score.has_ci:
        text += f"\n[{score.ci_low:.1%}, {score.ci_high:.1%}]"
    color = "white" if score.value < 0.55 else "black"
    ax.text(col, row, text, ha="center", va="center", fontsize=9, color=color)


# -- comparison ------------------------------------------------------------------------------


def comparison_figure(results: Mapping[str, Any], task: str, confidence: float = 0.95) -> Figure:
    """One bar per model for the task's primary metric, with interval whiskers where known."""
    if task not in task_names(results):
        raise ValueError(
            f"task {task!r} is not in the results (tasks: {', '.join(task_names(results))})"
        )
    scored: list[tuple[str, Score]] = []
    notes: list[str] = []
    for model in results:
        score = _score(results, model, task, confidence)
        if score is not None:
            scored.append((model, score))
        else:
            problem = cell_problem(results, model, task) or "no accuracy or pass@1 metric"
            notes.append(f"Skipped {model}: {_short(problem)}")
    if not scored:
        raise ValueError(f"no model has an accuracy or pass@1 score for task {task!r}: {notes}")
    figure = new_figure(max(4.5, 1.4 + 1.1 * len(scored)), 4.2)
    ax = figure.add_subplot()
    _draw_bars(ax, scored)
    metric = _METRIC_LABELS.get(scored[0][1].metric, scored[0][1].metric)
    ax.set_ylabel(f"{metric} (%)")
    ax.set_xlabel("Model")
    ax.set_title(f"{safe_text(task)}: {metric} by model")
    sources = sorted({s.ci_source for _, s in scored if s.has_ci})
    if sources:
        notes.append(f"Error bars: {', '.join(_CI_NOTE[s] for s in sources)}.")
    add_note(figure, notes)
    return figure


def _draw_bars(ax: Axes, scored: list[tuple[str, Score]]) -> None:
    positions = np.arange(len(scored))
    values = [score.value for _, score in scored]
    colors = [color_for(index) for index in range(len(scored))]
    ax.bar(positions, values, color=colors, width=0.6)
    for x, (_, score) in zip(positions, scored, strict=True):
        if score.has_ci:
            low = max(0.0, score.value - (score.ci_low or 0.0))
            high = max(0.0, (score.ci_high or 0.0) - score.value)
            ax.errorbar(x, score.value, yerr=[[low], [high]], color="black", capsize=5, lw=1.2)
        top = score.ci_high if score.has_ci and score.ci_high is not None else score.value
        ax.text(float(x), top + 0.015, f"{score.value:.1%}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(positions, [safe_text(model) for model, _ in scored])
    ax.set_ylim(0.0, 1.05)
    percent_axis(ax.yaxis)
    ax.grid(axis="x", visible=False)


# -- efficiency ------------------------------------------------------------------------------


def efficiency_figures(results: Mapping[str, Any]) -> dict[str, Figure]:
    """{"latency", "memory", "throughput"}: a line per model over the output length."""
    series, notes = _efficiency_results(results)
    if not series:
        detail = f": {'; '.join(notes)}" if notes else ""
        raise ValueError(
            "no efficiency results (latency, memory_usage, tokens_per_second) to draw" + detail
        )
    return {
        name: _efficiency_figure(series, key, label, notes)
        for name, (key, label) in EFFICIENCY_METRICS.items()
    }


def _efficiency_results(
    results: Mapping[str, Any],
) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """Line label -> efficiency result, and notes on the models that have none to draw."""
    tasks = [
        task
        for task in task_names(results)
        if any(
            (r := results[m].get(task)) and isinstance(r, Mapping) and is_efficiency(r)
            for m in results
            if cell_problem(results, m, task) is None
        )
    ]
    series: dict[str, Mapping[str, Any]] = {}
    notes: list[str] = []
    for task in tasks:
        for model in results:
            result = task_result(results, model, task)
            label = model if len(tasks) == 1 else f"{model} ({task})"
            if result is not None and is_efficiency(result):
                series[label] = result
            else:
                problem = cell_problem(results, model, task) or "no efficiency metrics"
                notes.append(f"Skipped {label}: {_short(problem)}")
    return series, notes


def _efficiency_figure(
    series: dict[str, Mapping[str, Any]], key: str, label: str, notes: list[str]
) -> Figure:
    figure = new_figure(6.4, 4.0)
    ax = figure.add_subplot()
    lengths: set[int] = set()
    empty: list[str] = []
    for index, (name, result) in enumerate(series.items()):
        points = efficiency_series(result, key)
        if not points:
            empty.append(f"No {key} for {name}")
            continue
        lengths.update(point.length for point in points)
        _draw_line(ax, points, safe_text(name), color_for(index))
    if lengths:
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(lengths), [str(n) for n in sorted(lengths)])
        ax.minorticks_off()
        ax.legend(title="Model", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Output length (tokens)")
    ax.set_ylabel(label)
    ax.set_title(f"{label.split(' (')[0]} by output length")
    add_note(figure, notes + empty)
    return figure


def _draw_line(ax: Axes, points: list[SeriesPoint], name: str, color: str) -> None:
    xs = [point.length for point in points]
    ys = [point.value for point in points]
    ax.plot(xs, ys, marker="o", label=name, color=color, lw=1.8)
    if all(point.low is not None and point.high is not None for point in points):
        lows = [max(0.0, p.value - (p.low or 0.0)) for p in points]
        highs = [max(0.0, (p.high or 0.0) - p.value) for p in points]
        ax.errorbar(xs, ys, yerr=[lows, highs], fmt="none", ecolor=color, capsize=4)


# -- subject breakdown -----------------------------------------------------------------------


def subject_figure(
    results: Mapping[str, Any], model: str, task: str, confidence: float = 0.95
) -> Figure:
    """Per-subject accuracy of one model, best at the top, coloured by MMLU category."""
    problem = cell_problem(results, model, task)
    if problem is not None:
        raise ValueError(f"no subject breakdown for {model!r} on {task!r}: {problem}")
    rows = subject_rows(results[model][task])
    if not rows:
        raise ValueError(f"task {task!r} of {model!r} has no per-subject accuracies")
    rows.sort(key=lambda row: row[1])
    figure = new_figure(7.5, 1.4 + 0.2 * len(rows))
    ax = figure.add_subplot()
    ys = np.arange(len(rows))
    colors = [CATEGORY_COLORS.get(category, CATEGORY_COLORS["other"]) for *_, category in rows]
    ax.barh(ys, [value for _, value, _, _ in rows], color=colors, height=0.75)
    _subject_whiskers(ax, rows, confidence)
    ax.set_yticks(ys, [safe_text(name.replace("_", " ")) for name, *_ in rows], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    _overall_line(ax, results[model][task])
    _category_legend(ax, {category for *_, category in rows})
    ax.set_xlim(0.0, 1.0)
    percent_axis(ax.xaxis)
    ax.set_xlabel("Accuracy (%)")
    ax.set_title(f"{safe_text(task)} by subject: {safe_text(model)}")
    ax.grid(axis="y", visible=False)
    add_note(figure, [f"Whiskers: Wilson {confidence:.0%} interval from correct/total."])
    return figure


def subject_rows(result: Mapping[str, Any]) -> list[tuple[str, float, int | None, str]]:
    """(subject, accuracy, items, category) for every subject with an accuracy."""
    from gemma_benchmark.tasks.mmlu_subjects import SUBJECT_CATEGORIES

    subjects = result.get("subjects")
    if not isinstance(subjects, Mapping):
        return []
    rows = []
    for name, stats in subjects.items():
        score = primary_score({"overall": stats}) if isinstance(stats, Mapping) else None
        if score is not None:
            category = SUBJECT_CATEGORIES.get(str(name), "other")
            rows.append((str(name), score.value, score.n, category))
    return rows


def _subject_whiskers(
    ax: Axes, rows: list[tuple[str, float, int | None, str]], confidence: float
) -> None:
    from gemma_benchmark.utils.metrics import calculate_confidence_interval

    for y, (_, value, n, _) in enumerate(rows):
        if n:
            low, high = calculate_confidence_interval(value, n, confidence)
            ax.plot([low, high], [y, y], color="#333333", lw=0.8)


def _overall_line(ax: Axes, result: Mapping[str, Any]) -> None:
    score = primary_score(result)
    if score is not None:
        ax.axvline(score.value, color="black", ls="--", lw=1, label=f"overall {score.value:.1%}")


def _category_legend(ax: Axes, present: set[str]) -> None:
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Patch(color=color, label=name.replace("_", " "))
        for name, color in CATEGORY_COLORS.items()
        if name in present
    ]
    handles += ax.get_legend_handles_labels()[0]
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="Category"
    )
