"""The self-contained HTML report: one file with inline CSS, inline SVG charts and a tiny script.

Model outputs are untrusted, so the Jinja2 environment autoescapes everything; the only markup
let through unescaped is our own (the matplotlib SVG, which escapes its text itself, and the
page's script and style). A Content-Security-Policy allows no network access and only the page's
own script (by hash), so even a missed escape could not run injected code or fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from gemma_benchmark import __version__
from gemma_benchmark.visualization import figures
from gemma_benchmark.visualization import report_context as ctx
from gemma_benchmark.visualization.extract import task_names, unwrap_results
from gemma_benchmark.visualization.style import chart_style, figure_svg

if TYPE_CHECKING:
    from jinja2 import Environment
    from matplotlib.figure import Figure

__all__ = ["build_context", "environment", "render_report", "write_report"]


@cache
def environment() -> Environment:
    """The package's templates, autoescaped whatever their file extension."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("gemma_benchmark.visualization", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write_report(document: Mapping[str, Any], path: Path) -> str:
    """Render the report of a results document to `path` (atomically); returns the path.

    `document` is a results.json document or a plain `{model: {task: result}}` dict.
    """
    html = render_report(document)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
    return str(path)


def render_report(document: Mapping[str, Any]) -> str:
    """The report as one HTML string (raises ValueError when `document` holds no results)."""
    env = environment()
    script = env.get_template("report.js.j2").render()
    css = env.loader.get_source(env, "report.css")[0] if env.loader else ""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return env.get_template("report.html.j2").render(
        **build_context(document),
        css=Markup(css),
        script=Markup(script),
        script_hash=f"sha256-{digest}",
    )


def build_context(document: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the template shows, charts included as inline SVG."""
    results = unwrap_results(document)
    if not results:
        raise ValueError("the document has no results to report")
    confidence = _confidence(document)
    meta = ctx.metadata_section(document)
    run_id = meta_value(document, "run_id")
    return {
        "title": f"Benchmark report — run {run_id}" if run_id else "Benchmark report",
        "version": __version__,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "confidence_pct": f"{confidence:.0%}",
        "meta": meta,
        "load_errors": _load_errors(results),
        "summary": ctx.summary_table(results, confidence),
        "heatmap": _chart(
            "Primary metric by model and task",
            "heatmap",
            lambda: figures.heatmap_figure(results, confidence),
        ),
        "tasks": [
            _task_section(results, task, index, confidence)
            for index, task in enumerate(task_names(results))
        ],
        "significance": ctx.significance_rows(document.get("comparisons")),
    }


def meta_value(document: Mapping[str, Any], key: str) -> Any:
    meta = document.get("metadata")
    return meta.get(key) if isinstance(meta, Mapping) else None


def _confidence(document: Mapping[str, Any]) -> float:
    """The run's `evaluation.confidence_level`, else 0.95."""
    config = meta_value(document, "config")
    evaluation = config.get("evaluation") if isinstance(config, Mapping) else None
    level = evaluation.get("confidence_level") if isinstance(evaluation, Mapping) else None
    if isinstance(level, float) and 0.0 < level < 1.0:
        return level
    return 0.95


def _load_errors(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(model), str(per_task["error"]))
        for model, per_task in results.items()
        if isinstance(per_task.get("error"), str)
    ]


def _chart(title: str, salt: str, build: Callable[[], Figure]) -> dict[str, Any]:
    """A chart as inline SVG, or the reason it could not be drawn."""
    try:
        with chart_style(salt):
            return {"title": title, "svg": Markup(figure_svg(build()))}
    except ValueError as err:
        return {"title": title, "svg": None, "note": str(err)}


def _task_section(
    results: Mapping[str, Any], task: str, index: int, confidence: float
) -> dict[str, Any]:
    section: dict[str, Any] = {"name": task, "comparison": None}
    if task in figures.scored_tasks(results):
        section["comparison"] = _chart(
            f"{task}: primary metric by model",
            f"cmp{index}",
            lambda: figures.comparison_figure(results, task, confidence),
        )
    section["subjects"] = ctx.subject_table(results, task)
    models = section["subjects"]["models"] if section["subjects"] else []
    section["subject_charts"] = [
        _chart(
            f"{task} by subject: {model}",
            f"subj{index}_{position}",
            partial(figures.subject_figure, results, model, task, confidence),
        )
        for position, model in enumerate(models)
    ]
    section["failed"] = ctx.failed_examples(results, task)
    section["efficiency_rows"] = ctx.efficiency_rows(results, task)
    section["efficiency_charts"] = (
        _efficiency_charts({m: {task: r[task]} for m, r in results.items() if task in r}, index)
        if section["efficiency_rows"]
        else []
    )
    return section


def _efficiency_charts(results: Mapping[str, Any], index: int) -> list[dict[str, Any]]:
    titles = {"latency": "Latency", "memory": "Peak memory", "throughput": "Throughput"}
    try:
        with chart_style(f"eff{index}"):
            built = figures.efficiency_figures(results)
    except ValueError as err:
        return [{"title": "Efficiency", "svg": None, "note": str(err)}]
    charts = []
    for name, figure in built.items():
        with chart_style(f"eff{index}_{name}"):
            svg = Markup(figure_svg(figure))
        charts.append({"title": f"{titles[name]} by output length", "svg": svg})
    return charts
