"""Chart files from benchmark results (spec: `ChartGenerator`), PNG by default or SVG.

Every method takes the `{model: {task: result}}` dict `run_benchmarks` returns, or a whole
results.json document (recognised by `schema_version` + `results`), and returns the path written.
Input with nothing to draw raises ValueError naming what is missing; a model or task that cannot
be drawn beside others that can is left out and named in a note under the chart.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemma_benchmark.visualization import figures
from gemma_benchmark.visualization.extract import task_names, unwrap_results
from gemma_benchmark.visualization.style import FORMATS, chart_style, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ChartGenerator", "render_all_charts"]

logger = logging.getLogger(__name__)


def _slug(name: str) -> str:
    """A file-name-safe form of a model or task name.

    A name that had to change gets a short hash, so "org/model" and "org_model" stay apart.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    if slug == name:
        return slug
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:6]
    return f"{slug or 'unnamed'}-{digest}"


class ChartGenerator:
    """Writes charts into `output_dir` (created on first use) as `fmt` files ("png" or "svg").

    `confidence` is the level of the Wilson and stderr intervals drawn as error bars.
    """

    def __init__(self, output_dir: str | Path, fmt: str = "png", confidence: float = 0.95):
        if fmt not in FORMATS:
            raise ValueError(f"chart format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
        self.output_dir = Path(output_dir)
        self.fmt = fmt
        self.confidence = confidence

    def _write(self, stem: str, build: Callable[[], Figure]) -> str:
        path = self.output_dir / f"{stem}.{self.fmt}"
        with chart_style(stem):
            return save_figure(build(), path, self.fmt)

    def create_performance_heatmap(self, results: Mapping[str, Any]) -> str:
        """Models × tasks, each cell the primary metric (accuracy or pass@1) and its interval."""
        data = unwrap_results(results)
        return self._write(
            "performance_heatmap", lambda: figures.heatmap_figure(data, self.confidence)
        )

    def create_model_comparison_chart(self, results: Mapping[str, Any], task_name: str) -> str:
        """Bars of every model's primary metric on one task, with interval whiskers."""
        data = unwrap_results(results)
        return self._write(
            f"comparison_{_slug(task_name)}",
            lambda: figures.comparison_figure(data, task_name, self.confidence),
        )

    def create_efficiency_comparison_chart(self, results: Mapping[str, Any]) -> dict[str, str]:
        """{"latency", "memory", "throughput"} -> path; x is the output length, a line per model."""
        data = unwrap_results(results)
        paths: dict[str, str] = {}
        with chart_style("efficiency"):
            built = figures.efficiency_figures(data)
        for name, figure in built.items():
            stem = f"efficiency_{name}"
            with chart_style(stem):
                paths[name] = save_figure(figure, self.output_dir / f"{stem}.{self.fmt}", self.fmt)
        return paths

    def create_subject_breakdown_chart(
        self, results: Mapping[str, Any], model_name: str, task_name: str
    ) -> str:
        """Per-subject accuracy of one model on an MMLU-style task, coloured by category."""
        data = unwrap_results(results)
        return self._write(
            f"subjects_{_slug(task_name)}_{_slug(model_name)}",
            lambda: figures.subject_figure(data, model_name, task_name, self.confidence),
        )


def render_all_charts(
    results: Mapping[str, Any], out_dir: str | Path, fmt: str = "png"
) -> list[str]:
    """Every chart the results support, written to `out_dir`; returns the paths written.

    Called by `run` when `output.visualize` is on: a chart that does not apply (no efficiency
    task, no subjects) is skipped with a log line, never an error.
    """
    data = unwrap_results(results)
    generator = ChartGenerator(out_dir, fmt)
    paths: list[str] = []
    _attempt(paths, "heatmap", generator.create_performance_heatmap, data)
    for task in figures.scored_tasks(data):
        _attempt(
            paths, f"comparison of {task}", generator.create_model_comparison_chart, data, task
        )
    _attempt(paths, "efficiency", generator.create_efficiency_comparison_chart, data)
    for task in task_names(data):
        for model in data:
            if _has_subjects(data, model, task):
                what = f"subjects of {model} on {task}"
                _attempt(paths, what, generator.create_subject_breakdown_chart, data, model, task)
    return paths


def _has_subjects(data: Mapping[str, Any], model: str, task: str) -> bool:
    result = data[model].get(task)
    return isinstance(result, Mapping) and bool(figures.subject_rows(result))


def _attempt(
    paths: list[str], what: str, draw: Callable[..., str | dict[str, str]], *args: Any
) -> None:
    """Add the path(s) `draw(*args)` wrote; a chart that does not apply is logged and skipped."""
    try:
        written = draw(*args)
    except ValueError as err:
        logger.info("chart %s skipped: %s", what, err)
        return
    paths.extend(written.values() if isinstance(written, dict) else [written])
