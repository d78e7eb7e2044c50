"""`gemma-benchmark run`: build the benchmark from a config, run it, write and print results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gemma_benchmark.core.benchmark import GemmaBenchmark
from gemma_benchmark.core.preflight import check_run

console = Console()
err_console = Console(stderr=True)


def execute_run(
    config: Path,
    models: list[str] | None,
    tasks: list[str] | None,
    output: Path | None,
    limit: int | None,
    resume: bool,
) -> int:
    """Returns the exit code: 0 when every model and task succeeded, else 1."""
    bench = GemmaBenchmark(str(config), show_progress=True)
    if output is not None:
        bench.config.output.path = str(output)
    if limit is not None:
        bench.set_limit(limit)
    bench.resume = resume
    bench.notify = console.print
    # Unknown names, missing paths and absent devices are usage errors before any loading.
    check_run(bench.config, bench._select("models", models), bench._select("tasks", tasks))
    bench.load_tasks(tasks)
    bench.load_models(models)
    results = bench.run_benchmarks()
    out_dir = Path(bench.config.output.path)
    written = [bench.save_results(str(out_dir / "results.json"))]
    for fmt in bench.config.output.export_formats:
        if fmt != "json":
            written.append(bench.save_results(str(out_dir / f"results.{fmt}")))
    if bench.config.output.visualize:
        written.extend(write_visuals(bench, out_dir))
    print_results(results)
    for path in written:
        console.print(f"results written to {path}")
    return 1 if any_failed(results) else 0


def write_visuals(bench: GemmaBenchmark, out_dir: Path) -> list[str]:
    """Charts under <output>/charts and <output>/report.html (`output.visualize`)."""
    from gemma_benchmark.visualization import render_all_charts, write_report

    charts = render_all_charts(bench.results, out_dir / "charts")
    return [*charts, write_report(bench.document(), out_dir / "report.html")]


def any_failed(results: dict[str, dict[str, Any]]) -> bool:
    for per_task in results.values():
        if "error" in per_task:
            return True
        if any(isinstance(r, dict) and r.get("status") == "failed" for r in per_task.values()):
            return True
    return False


def headline(result: dict[str, Any]) -> str:
    """The primary figure of a task result, for the summary table."""
    if result.get("status") == "failed":
        return f"[red]failed[/red]: {result.get('error', '')}"
    overall = result.get("overall", {})
    for key in ("accuracy", "pass_at_1"):
        if key in overall:
            stderr = overall.get("stderr")
            spread = f" ± {100 * stderr:.1f}" if isinstance(stderr, float) else ""
            return f"{100 * overall[key]:.1f}%{spread} (n={overall.get('total', '?')})"
    if "tokens_per_second" in result:
        speeds = result["tokens_per_second"]
        return ", ".join(f"{k}: {v:.1f} tok/s" for k, v in speeds.items())
    return "done"


def print_results(results: dict[str, dict[str, Any]]) -> None:
    table = Table("model", "task", "result", title="gemma-benchmark results")
    for model, per_task in results.items():
        if "error" in per_task and len(per_task) == 1:
            table.add_row(model, "-", f"[red]model failed to load[/red]: {per_task['error']}")
            continue
        for task, result in per_task.items():
            table.add_row(
                model, task, headline(result) if isinstance(result, dict) else str(result)
            )
    console.print(table)
