"""`evaluation.executor: ray`: the jobs of a run on a Ray cluster, results stored by the driver.

- Workers: one Ray actor (`ModelWorker`) per model and data-parallel slot. It loads the model
  once and runs the units the driver hands it, one at a time, so one load serves every task.
- Units: each (model, task, run index) job, split into `data_parallel` shards when the task
  allows it (`sharding`); shards are merged by the task's own aggregation over the union of
  their stored samples, so metrics equal a single-process run.
- Results: workers send scored samples and progress through a `ray.util.queue.Queue`; the
  driver writes them to the results database and predictions file as they arrive. Workers need
  no access to the database, and resume works exactly as locally.
- Failures: a worker process that dies is restarted by Ray and its unit retried once
  (`max_task_retries=1`); a second death marks that unit's job failed and the others go on.
  Units are handed out one at a time per actor, so a death reaches only the unit in flight.
- Progress: one bar per job, summed over its shards.

Ray is imported only here, and only when the executor is chosen.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gemma_benchmark.core.repeats import combine_runs, repeat_count
from gemma_benchmark.exceptions import ConfigurationError
from gemma_benchmark.executors.sharding import Shard, is_shardable, splits_by_group
from gemma_benchmark.executors.tracking import JobState, job_context
from gemma_benchmark.executors.worker import ModelWorker, UnitOutcome, UnitSpec, failed_result
from gemma_benchmark.storage import ResultStore

if TYPE_CHECKING:
    from gemma_benchmark.core.benchmark import GemmaBenchmark
    from gemma_benchmark.core.progress import ProgressBoard

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'gemma-benchmark[ray]'"
POLL_S = 0.2
"""How often the driver drains the sample queue while it waits for units."""


def require_ray() -> Any:
    """The `ray` module, or ConfigurationError with the install hint."""
    try:
        import ray
    except ImportError:
        raise ConfigurationError(
            f"evaluation.executor: 'ray' needs Ray installed: {INSTALL_HINT}"
        ) from None
    return ray


@dataclass(frozen=True)
class DeferredModel:
    """A model the driver does not load: each Ray worker loads its own copy."""

    name: str


def defer_models(names: list[str]) -> dict[str, DeferredModel]:
    """Placeholders for `GemmaBenchmark.models` under Ray (checks that Ray is installed)."""
    require_ray()
    return {name: DeferredModel(name) for name in names}


def run_on_ray(
    bench: GemmaBenchmark, store: ResultStore, board: ProgressBoard | None
) -> dict[str, dict[str, Any]]:
    """Results per model per task, as `GemmaBenchmark.run_benchmarks` returns them.

    Connects to `evaluation.ray_address` (default: start a local Ray) unless Ray is already
    initialised in this process, and disconnects afterwards only if it connected."""
    ray = require_ray()
    connected_here = connect(ray, bench.config.evaluation.ray_address)
    try:
        return RayRun(ray, bench, store, board).run()
    finally:
        if connected_here:
            ray.shutdown()


def connect(ray: Any, address: str | None) -> bool:
    if ray.is_initialized():
        return False
    extra: dict[str, Any] = {} if address else {"include_dashboard": False}
    ray.init(address=address, logging_level=logging.WARNING, **extra)
    return True


def first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


@dataclass
class ModelPool:
    """One model's actors and the units still to hand out to them."""

    name: str
    pending: deque[UnitSpec] = field(default_factory=deque)
    error: str | None = None


class RayRun:
    """One run of every job on the cluster; see the module docstring."""

    def __init__(
        self, ray: Any, bench: GemmaBenchmark, store: ResultStore, board: ProgressBoard | None
    ) -> None:
        self.ray = ray
        self.bench = bench
        self.store = store
        self.board = board
        self.evaluation = bench.config.evaluation
        self.jobs: list[JobState] = []
        self.units: dict[int, UnitSpec] = {}
        self.pools: dict[str, ModelPool] = {}
        self.in_flight: dict[Any, tuple[ModelPool, Any, UnitSpec]] = {}
        self.completed_refs: dict[int, Any] = {}
        self.channel: Any = None

    def run(self) -> dict[str, dict[str, Any]]:
        from ray.util.queue import Queue

        self.channel = Queue(actor_options={"num_cpus": 0})
        try:
            self.plan()
            self.start()
            self.wait_all()
        finally:
            self.ray.kill(self.channel.actor)
        return self.results()

    # -- planning ---------------------------------------------------------------------------

    def plan(self) -> None:
        for model_name in self.bench.models:
            pool = self.pools[model_name] = ModelPool(model_name)
            for task_name, task in self.bench.tasks.items():
                runs = repeat_count(task, self.evaluation)
                for run_index in range(runs):
                    pool.pending.extend(self.plan_job(model_name, task_name, task, run_index, runs))

    def plan_job(
        self, model_name: str, task_name: str, task: Any, run_index: int, runs: int
    ) -> list[UnitSpec]:
        count = self.evaluation.data_parallel if is_shardable(task) else 1
        by_group = splits_by_group(task)
        units = [
            UnitSpec(
                unit_id=len(self.units) + index,
                job_id=len(self.jobs),
                model_name=model_name,
                task_name=task_name,
                task_type=self.bench.config.tasks[task_name].type,
                options=self.bench.task_options(task_name),
                run_index=run_index,
                seed=self.evaluation.seed + run_index,
                shard=Shard(index, count, by_group),
            )
            for index in range(count)
        ]
        label = f"{model_name} · {task_name}" + (f" #{run_index + 1}" if runs > 1 else "")
        ctx = job_context(self.store, self.bench.run_id, units[0], self.bench._predictions_dir())
        job = JobState.open(ctx, label, self.board.hook if self.board else None)
        job.units = units
        job.merge = is_shardable(task)
        self.jobs.append(job)
        self.units.update((unit.unit_id, unit) for unit in units)
        return units

    # -- running ----------------------------------------------------------------------------

    def start(self) -> None:
        remote_worker = self.ray.remote(ModelWorker)
        config = self.bench.config
        for pool in self.pools.values():
            if not pool.pending:
                continue
            entry = config.models[pool.name]
            options = {
                "num_cpus": self.evaluation.num_cpus,
                "num_gpus": self.gpus_for(entry),
                "max_restarts": 2 * len(pool.pending),
                "max_task_retries": 1,
            }
            for _ in range(min(self.evaluation.data_parallel, len(pool.pending))):
                actor = remote_worker.options(**options).remote(
                    pool.name, entry, config.hardware, self.evaluation
                )
                self.dispatch(pool, actor)

    def gpus_for(self, entry: Any) -> float:
        """`num_gpus`, else one per worker on a cluster with GPUs (none for a served model)."""
        if self.evaluation.num_gpus is not None:
            return float(self.evaluation.num_gpus)
        if entry.type == "openai_compatible":
            return 0.0
        return 1.0 if self.ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def dispatch(self, pool: ModelPool, actor: Any) -> None:
        """Hand the actor its next unit, or release it when its model has none left."""
        if pool.error is not None or not pool.pending:
            self.ray.kill(actor)
            return
        unit = pool.pending.popleft()
        job = self.jobs[unit.job_id]
        if unit.job_id not in self.completed_refs:
            self.completed_refs[unit.job_id] = self.ray.put(job.completed)
        ref = actor.run.remote(unit, self.completed_refs[unit.job_id], self.channel)
        self.in_flight[ref] = (pool, actor, unit)

    def wait_all(self) -> None:
        while self.in_flight:
            ready, _ = self.ray.wait(list(self.in_flight), num_returns=1, timeout=POLL_S)
            self.drain()
            for ref in ready:
                pool, actor, unit = self.in_flight.pop(ref)
                outcome = self.fetch(ref)
                self.drain()  # the unit's last puts returned before it did
                self.take_outcome(pool, unit, outcome)
                self.dispatch(pool, actor)
        self.drain()

    def fetch(self, ref: Any) -> UnitOutcome:
        try:
            outcome: UnitOutcome = self.ray.get(ref)
            return outcome
        except self.ray.exceptions.RayTaskError as err:
            message = f"the worker failed: {first_line(err)}"
        except self.ray.exceptions.RayError as err:
            message = f"the worker died running this job, also when retried ({first_line(err)})"
        return UnitOutcome(result=failed_result(message))

    def take_outcome(self, pool: ModelPool, unit: UnitSpec, outcome: UnitOutcome) -> None:
        if outcome.load_error is None:
            self.jobs[unit.job_id].outcomes[unit.unit_id] = outcome
            return
        if pool.error is None:
            logger.error("model %s failed to load: %s", pool.name, outcome.load_error)
            pool.error = outcome.load_error
            pool.pending.clear()

    def drain(self) -> None:
        """Write every sample and progress report waiting in the queue."""
        while size := self.channel.qsize():
            for kind, unit_id, *payload in self.channel.get_nowait_batch(size):
                job = self.jobs[self.units[unit_id].job_id]
                if kind == "samples":
                    job.take_samples(payload[0])
                else:
                    job.take_progress(unit_id, *payload)

    # -- results ----------------------------------------------------------------------------

    def results(self) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        for name, pool in self.pools.items():
            if pool.error is not None:
                self.bench.model_errors[name] = pool.error
                results[name] = {"error": pool.error}
                continue
            per_task: dict[str, Any] = {
                task: {"status": "failed", "error": error}
                for task, error in self.bench.task_errors.items()
            }
            for task_name, task in self.bench.tasks.items():
                jobs = [
                    j for j in self.jobs if (j.ctx.model_name, j.ctx.task_name) == (name, task_name)
                ]
                outcomes = [job.settle(task) for job in jobs]
                per_task[task_name] = combine_runs(outcomes, task, self.evaluation)
            results[name] = per_task
        return results
