"""The Ray executor on one local 2-CPU Ray with a tiny model.

The same config gives the same results.json metrics locally and on Ray, with one worker at a
time or two at once, whole or in data-parallel shards; a worker process killed mid-job has its
job retried once and then marked failed while the other jobs finish, nothing stored is lost,
and a resumed run completes it. Sharding and the driver's book-keeping are also tested on
their own, without Ray.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from gemma_benchmark.config import EvaluationConfig, HardwareConfig, ModelConfig, parse_config
from gemma_benchmark.core.benchmark import GemmaBenchmark
from gemma_benchmark.core.jobs import JobContext
from gemma_benchmark.exceptions import ConfigurationError
from gemma_benchmark.executors.sharding import Shard, group_owners, is_shardable, shard_indices
from gemma_benchmark.executors.tracking import JobState
from gemma_benchmark.executors.worker import ModelWorker, UnitSpec
from gemma_benchmark.tasks.base import Sample
from gemma_benchmark.tasks.mmlu import MMLUBenchmark, MMLUOptions

REPO = Path(__file__).resolve().parents[1]
SUBJECTS = ["anatomy", "astronomy", "virology", "marketing"]
LIMIT = 3
ARC_LIMIT = 8


class DyingOptions(MMLUOptions):
    death_file: str
    deaths: int = 2


class DyingMMLU(MMLUBenchmark):
    """MMLU whose process is SIGKILLed right after its first chunk is stored, until it has
    died `deaths` times in all (counted, with each dead pid, in `death_file`)."""

    Options = DyingOptions
    shardable = False  # runs whole, so its deaths and retries are one unit's

    def emit(self, samples: list[Sample]) -> None:
        super().emit(samples)
        assert isinstance(self.options, DyingOptions)
        path = Path(self.options.death_file)
        died = len(path.read_text().splitlines()) if path.exists() else 0
        if died < self.options.deaths:
            with path.open("a") as handle:
                handle.write(f"{os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)


# -- helpers -----------------------------------------------------------------------------------


def write_config(
    path: Path, model: Path, data_dir: Path, evaluation: dict[str, Any], death_file: Path | None
) -> Path:
    tasks: dict[str, Any] = {
        "mmlu": {"subset": SUBJECTS, "shot_count": 1, "limit": LIMIT},
        "arc_easy": {"limit": ARC_LIMIT},
    }
    if death_file is not None:
        tasks["dying"] = {
            "type": "tests.test_ray_executor:DyingMMLU",
            "subset": SUBJECTS,
            "shot_count": 1,
            "limit": LIMIT,
            "death_file": str(death_file),
        }
    config = {
        "models": {"tiny": {"type": "huggingface", "path": str(model)}},
        "tasks": tasks,
        "output": {"path": str(path.parent / "out"), "save_predictions": True},
        "evaluation": {"batch_size": 4, **evaluation},
        "data_dir": str(data_dir),
    }
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path, resume: bool = False) -> tuple[GemmaBenchmark, dict[str, Any], list[str]]:
    """The benchmark, its results.json `results`, and what it told the user."""
    bench = GemmaBenchmark(str(config))
    bench.resume = resume
    said: list[str] = []
    bench.notify = said.append
    bench.load_tasks()
    bench.load_models()
    bench.run_benchmarks()
    written = bench.save_results(str(Path(bench.config.output.path) / "results.json"))
    return bench, json.loads(Path(written).read_text())["results"], said


def stored(db: Path, task: str) -> int:
    with sqlite3.connect(db) as conn:
        query = "select count(*) from samples where task = ?"
        return int(conn.execute(query, (task,)).fetchone()[0])


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_results(
    tmp_path_factory: pytest.TempPathFactory, tiny_gemma_path: Path, data_dir: Path
) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("local")
    _, results, _ = run(write_config(tmp / "c.yaml", tiny_gemma_path, data_dir, {}, None))
    return results


# -- on Ray ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_worker_at_a_time_matches_local(
    local_ray: Any,
    local_results: dict[str, Any],
    tmp_path: Path,
    tiny_gemma_path: Path,
    data_dir: Path,
) -> None:
    """Two shards per task, but room for one worker at a time (2 CPUs each of the 2): the
    second worker starts once the first has run out of work."""
    evaluation = {"executor": "ray", "data_parallel": 2, "num_cpus": 2}
    config = write_config(tmp_path / "c.yaml", tiny_gemma_path, data_dir, evaluation, None)
    _, results, _ = run(config)
    assert results == local_results
    lines = (tmp_path / "out/predictions/tiny/mmlu.jsonl").read_text().splitlines()
    assert len(lines) == len({(json.loads(x)["subject"], json.loads(x)["doc_id"]) for x in lines})
    assert len(lines) == LIMIT * len(SUBJECTS)


@pytest.mark.slow
def test_dead_worker_retried_once_then_failed_and_resumed(
    local_ray: Any,
    local_results: dict[str, Any],
    tmp_path: Path,
    tiny_gemma_path: Path,
    data_dir: Path,
) -> None:
    """Two workers at once (1 CPU each): the dying job (run whole) fails after one retry, the
    others (two shards each) finish with local metrics, the dying job's first chunk stays
    stored, and a resumed run completes it as a local one would."""
    deaths = tmp_path / "deaths.txt"
    evaluation = {"executor": "ray", "data_parallel": 2, "num_cpus": 1}
    config = write_config(tmp_path / "c.yaml", tiny_gemma_path, data_dir, evaluation, deaths)
    bench, results, _ = run(config)
    pids = deaths.read_text().split()
    assert len(pids) == 2 and pids[0] != pids[1]  # the first attempt and Ray's one retry
    dying = results["tiny"]["dying"]
    assert dying["status"] == "failed" and "worker died" in dying["error"]
    for task in ("mmlu", "arc_easy"):
        assert results["tiny"][task] == local_results["tiny"][task]
    db = tmp_path / "out/benchmark.db"
    assert stored(db, "dying") == LIMIT  # the chunk scored before the first kill
    assert bench.run_id is not None

    _, resumed, said = run(config, resume=True)
    done = LIMIT * len(SUBJECTS) + ARC_LIMIT + LIMIT
    total = 2 * LIMIT * len(SUBJECTS) + ARC_LIMIT
    assert said == [f"resumed run {bench.run_id}: {done}/{total} samples already complete"]
    assert resumed["tiny"]["dying"] == local_results["tiny"]["mmlu"]
    assert stored(db, "dying") == LIMIT * len(SUBJECTS)
    lines = (tmp_path / "out/predictions/tiny/dying.jsonl").read_text().splitlines()
    assert len({(json.loads(x)["subject"], json.loads(x)["doc_id"]) for x in lines}) == len(lines)
    assert len(lines) == LIMIT * len(SUBJECTS)


# -- without Ray -------------------------------------------------------------------------------


def test_shards_partition_the_items() -> None:
    items = [SimpleNamespace(group=g) for g in "aaabbbbbcd"]
    for by_group in (False, True):
        picked = [shard_indices(items, Shard(i, 3, by_group)) for i in range(3)]
        assert sorted(i for part in picked for i in part) == list(range(len(items)))
    assert shard_indices(items, Shard(0, 2)) == [0, 1, 2, 3, 4]
    assert group_owners(list("aaabbbbbcd"), 2) == {"b": 0, "a": 1, "c": 1, "d": 1}
    assert shard_indices(items, Shard(1, 2, by_group=True)) == [0, 1, 2, 8, 9]


def test_which_tasks_shard(data_dir: Path) -> None:
    from gemma_benchmark.tasks.efficiency import EfficiencyBenchmark

    assert is_shardable(MMLUBenchmark({"data_dir": str(data_dir)}))
    assert not is_shardable(EfficiencyBenchmark({}))
    assert not is_shardable(SimpleNamespace(evaluate=lambda model: {}))


def test_job_state_sums_shard_progress_and_writes_each_sample_once() -> None:
    seen: list[tuple[int, int]] = []
    written: list[list[Sample]] = []
    ctx = JobContext("m", "t", 0, 0, progress=lambda done, total: seen.append((done, total)))
    job = JobState.open(ctx, "m · t")
    job.sinks.append(written.append)
    job.take_progress(0, 2, 10)
    job.take_progress(1, 3, 10)
    assert seen[-1] == (5, 10)
    job.take_samples([{"key": "a"}, {"key": "b"}])
    job.take_samples([{"key": "b"}, {"key": "c"}])  # a retried unit sends "b" again
    assert [[s["key"] for s in batch] for batch in written] == [["a", "b"], ["c"]]


def test_executor_config_and_missing_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config({"evaluation": {"executor": "ray", "data_parallel": 2, "num_gpus": 1}})
    assert config.evaluation.ray_address is None and config.evaluation.num_cpus == 1
    with pytest.raises(ConfigurationError, match=r"evaluation\.data_parallel: needs"):
        parse_config({"evaluation": {"data_parallel": 2}})
    with pytest.raises(ConfigurationError, match=r"evaluation\.executor: must be one of"):
        parse_config({"evaluation": {"executor": "dask"}})
    from gemma_benchmark.executors import defer_models

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'gemma-benchmark\[ray\]'"):
        defer_models(["tiny"])


class ListChannel:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)


def test_worker_shards_cover_the_task_and_report_load_errors(
    tiny_gemma_path: Path, data_dir: Path, tmp_path: Path
) -> None:
    """The worker in this process: two MMLU shards split by subject score every item once."""
    options = {"subset": SUBJECTS, "shot_count": 0, "limit": 2, "data_dir": str(data_dir)}
    entry = ModelConfig(type="huggingface", path=str(tiny_gemma_path))
    worker = ModelWorker("tiny", entry, HardwareConfig(), EvaluationConfig(batch_size=4))
    subjects = []
    for index in range(2):
        channel = ListChannel()
        unit = UnitSpec(index, 0, "tiny", "mmlu", "mmlu", options, 0, 0, Shard(index, 2, True))
        assert not worker.run(unit, {}, channel).failed
        samples = [s for kind, _, *rest in channel.items if kind == "samples" for s in rest[0]]
        subjects.append({s["subject"] for s in samples})
        assert len(samples) == 2 * len(subjects[-1])
        assert channel.items[-1] == ("progress", index, len(samples), 2 * len(SUBJECTS))
    assert subjects[0] | subjects[1] == set(SUBJECTS) and not subjects[0] & subjects[1]
    missing = ModelConfig(type="huggingface", path=str(tmp_path / "missing"))
    broken = ModelWorker("broken", missing, HardwareConfig(), EvaluationConfig())
    outcome = broken.run(unit, {}, ListChannel())
    assert outcome.load_error is not None and "missing" in outcome.load_error
