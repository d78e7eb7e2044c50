"""The orchestrator: config -> models and tasks -> jobs -> results, stored as they finish.

It wires parts together and owns no scoring or model logic. A model that fails to load is
recorded as `{"error": ...}` and the others go on; a failing task is marked failed and the others
go on (the spec's error recovery).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gemma_benchmark.config import BenchmarkConfig, load_config
from gemma_benchmark.core.jobs import JobContext, run_job
from gemma_benchmark.core.progress import ProgressBoard
from gemma_benchmark.core.repeats import combine_runs, repeat_count
from gemma_benchmark.core.results_io import write_results
from gemma_benchmark.exceptions import ConfigurationError, GemmaBenchmarkError
from gemma_benchmark.storage import ResultStore, redact
from gemma_benchmark.tasks.registry import resolve_task_class

logger = logging.getLogger(__name__)


class GemmaBenchmark:
    """Run every loaded task on every loaded model (spec: `GemmaBenchmark`)."""

    def __init__(self, config_path: str, *, show_progress: bool = False) -> None:
        """Raises FileNotFoundError, yaml.YAMLError or ConfigurationError."""
        self.config_path = str(config_path)
        self.config: BenchmarkConfig = load_config(config_path)
        self.models: dict[str, Any] = {}
        self.tasks: dict[str, Any] = {}
        self.model_errors: dict[str, str] = {}
        self.task_errors: dict[str, str] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.comparisons: dict[str, Any] = {}
        self.run_id: int | None = None
        self.resume = False
        self.resume_message: str | None = None
        self.show_progress = show_progress
        self.started_at: str | None = None
        self.notify: Callable[[str], None] = logger.warning

    # -- selection -------------------------------------------------------------------------

    def _select(self, section: str, names: list[str] | None) -> list[str]:
        available = list(getattr(self.config, section))
        if names is None:
            return available
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ConfigurationError(
                f"{section}: {', '.join(map(repr, unknown))} not in the config "
                f"(available: {', '.join(available) or 'none'})"
            )
        return list(names)

    def load_models(self, model_names: list[str] | None = None) -> None:
        """Load the named models (all by default); a failure is recorded, not raised."""
        from gemma_benchmark.core.model_factory import load_from_config

        if self.config.evaluation.executor == "ray":  # each Ray worker loads its own copy
            from gemma_benchmark.executors import defer_models

            self.models.update(defer_models(self._select("models", model_names)))
            return
        for name in self._select("models", model_names):
            try:
                self.models[name] = load_from_config(
                    name, self.config.models[name], self.config.hardware, self.config.evaluation
                )
            except (GemmaBenchmarkError, ValueError, OSError) as err:
                message = redact(str(err))
                logger.error("model %s failed to load: %s", name, message)
                self.model_errors[name] = message
                self.results[name] = {"error": message}

    def load_tasks(self, task_names: list[str] | None = None) -> None:
        """Instantiate the named tasks (all by default); a failure is recorded, not raised."""
        for name in self._select("tasks", task_names):
            options = self.task_options(name)
            try:
                task_class = resolve_task_class(self.config.tasks[name].type)
                self.tasks[name] = task_class(options)
            except Exception as err:  # a user task's constructor may raise anything
                message = redact(f"{type(err).__name__}: {err}")
                logger.error("task %s failed to initialise: %s", name, message)
                self.task_errors[name] = message

    def task_options(self, name: str) -> dict[str, Any]:
        options = self.config.task_options(name)
        if self.config.tasks[name].type == "efficiency":
            options.setdefault("torch_compile", self.config.hardware.torch_compile)
        return options

    def set_limit(self, limit: int) -> None:
        """Cap every task's items (CLI `--limit`), validated like a config value."""
        for name, entry in self.config.tasks.items():
            extra = entry.model_extra if entry.model_extra is not None else {}
            task_class = resolve_task_class(entry.type)
            options = getattr(task_class, "Options", None)
            if options is not None and "limit" in options.model_fields:
                extra["limit"] = limit
            elif name in self.tasks:
                logger.warning("task %s has no limit option; --limit ignored for it", name)

    # -- running ---------------------------------------------------------------------------

    def open_store(self) -> ResultStore:
        return ResultStore.for_output_dir(self.config.output.path, self.config.output.database_url)

    def run_benchmarks(self) -> dict[str, dict[str, Any]]:
        """Results per model per task; also stored in `<output.path>/benchmark.db`."""
        from gemma_benchmark.core.run_record import begin_run, finish_run

        self.started_at = datetime.now(timezone.utc).isoformat()
        with self.open_store() as store:
            self.run_id, self.resume_message = begin_run(self, store)
            if self.resume_message:
                self.notify(self.resume_message)
            board = ProgressBoard() if self.show_progress else None
            with board or nullcontext():
                if self.config.evaluation.executor == "ray":
                    from gemma_benchmark.executors import run_on_ray

                    self.results.update(run_on_ray(self, store, board))
                else:
                    for model_name, model in self.models.items():
                        self.results[model_name] = self._run_model(model_name, model, store, board)
            self.comparisons = self._compare()
            finish_run(self, store)
        return self.results

    def _run_model(
        self, model_name: str, model: Any, store: ResultStore, board: ProgressBoard | None
    ) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for task_name, error in self.task_errors.items():
            results[task_name] = {"status": "failed", "error": error}
        for task_name, task in self.tasks.items():
            runs = repeat_count(task, self.config.evaluation)
            outcomes = []
            for run_index in range(runs):
                label = f"{model_name} · {task_name}" + (f" #{run_index + 1}" if runs > 1 else "")
                ctx = JobContext(
                    model_name=model_name,
                    task_name=task_name,
                    run_index=run_index,
                    seed=self.config.evaluation.seed + run_index,
                    store=store,
                    run_id=self.run_id,
                    predictions_dir=self._predictions_dir(),
                    progress=board.hook(label) if board else None,
                )
                outcomes.append(run_job(task, model, ctx))
            results[task_name] = combine_runs(outcomes, task, self.config.evaluation)
        return results

    def _predictions_dir(self) -> Path | None:
        if not self.config.output.save_predictions:
            return None
        return Path(self.config.output.path) / "predictions"

    def _compare(self) -> dict[str, Any]:
        if not self.config.evaluation.statistical_tests or self.run_id is None:
            return {}
        from gemma_benchmark.core.comparisons import compare_all

        with self.open_store() as store:
            return compare_all(store, self.run_id, self.results, self.config.evaluation)

    # -- saving ----------------------------------------------------------------------------

    def save_results(self, output_path: str | None = None) -> str:
        """Write results as JSON or YAML (by extension); default a timestamped JSON file under
        `output.path`. Returns the path written."""
        if output_path is None:
            stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
            output_path = str(Path(self.config.output.path) / f"results_{stamp}.json")
        return write_results(Path(output_path), self.document())

    def document(self) -> dict[str, Any]:
        """Everything a report needs: metadata, results and comparisons."""
        from gemma_benchmark.core.run_record import metadata

        return {
            "schema_version": 1,
            "metadata": metadata(self),
            "results": self.results,
            "comparisons": self.comparisons,
        }
