"""The orchestrator end to end on tiny real models: the spec's example, and fault isolation."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from gemma_benchmark.core.benchmark import GemmaBenchmark
from gemma_benchmark.exceptions import ConfigurationError


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_spec_basic_usage_runs_as_written(
    tmp_path: Path, tiny_gemma_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        tmp_path,
        f"""
        models:
          gemma-2b: {{type: huggingface, path: "{tiny_gemma_path}"}}
        tasks:
          mmlu: {{type: mmlu, subset: anatomy, shot_count: 5, limit: 8}}
        output: {{path: "{tmp_path / "out"}"}}
        data_dir: "{data_dir}"
        """,
    )
    monkeypatch.chdir(tmp_path)
    # --- the spec's "Basic Usage", verbatim ---
    benchmark = GemmaBenchmark("config.yaml")
    benchmark.load_models(["gemma-2b"])
    benchmark.load_tasks(["mmlu"])
    results = benchmark.run_benchmarks()
    benchmark.save_results("results.yaml")
    # ---
    overall = results["gemma-2b"]["mmlu"]["overall"]
    assert overall["total"] == 8
    assert 0.0 <= overall["accuracy"] <= 1.0
    assert overall["correct"] == round(overall["accuracy"] * 8)
    saved = yaml.safe_load((tmp_path / "results.yaml").read_text())
    assert saved["results"]["gemma-2b"]["mmlu"]["overall"] == overall
    assert saved["metadata"]["system_info"]["cpu_count"] >= 1


def test_failing_model_and_task_do_not_stop_the_others(
    tmp_path: Path, tiny_gemma_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `nodata` must find nothing anywhere: no env override, empty cache, no ./data
    monkeypatch.delenv("GEMMA_BENCHMARK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    config = write_config(
        tmp_path,
        f"""
        models:
          good: {{type: huggingface, path: "{tiny_gemma_path}"}}
          missing: {{type: huggingface, path: "{tmp_path / "no-such-model"}"}}
        tasks:
          mmlu: {{type: mmlu, subset: anatomy, shot_count: 0, limit: 4}}
          broken: {{type: "tests.helpers_tasks:ExplodingTask"}}
          nodata: {{type: mmlu, subset: anatomy, data_dir: "{tmp_path / "empty"}"}}
        output: {{path: "{tmp_path / "out"}", save_predictions: true}}
        data_dir: "{data_dir}"
        """,
    )
    bench = GemmaBenchmark(str(config))
    bench.load_models()
    bench.load_tasks()
    results = bench.run_benchmarks()
    assert "no-such-model" in results["missing"]["error"]
    assert results["good"]["mmlu"]["overall"]["total"] == 4
    assert results["good"]["broken"]["status"] == "failed"
    assert "deliberate failure" in results["good"]["broken"]["error"]
    assert results["good"]["nodata"]["status"] == "failed"
    assert "looked in" in results["good"]["nodata"]["error"]
    lines = (tmp_path / "out/predictions/good/mmlu.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 4
    assert set(first) == {"doc_id", "subject", "target", "prediction", "correct", "scores"}
    assert len(first["scores"]) == 4 and first["prediction"] in "ABCD"


def test_unknown_names_are_configuration_errors(tmp_path: Path, tiny_gemma_path: Path) -> None:
    config = write_config(
        tmp_path,
        f"""
        models:
          good: {{type: huggingface, path: "{tiny_gemma_path}"}}
        tasks:
          mmlu: {{type: mmlu}}
        """,
    )
    bench = GemmaBenchmark(str(config))
    with pytest.raises(ConfigurationError, match="models: 'gemma-9b' not in the config"):
        bench.load_models(["gemma-9b"])
    with pytest.raises(ConfigurationError, match="tasks: 'gsm9k' not in the config"):
        bench.load_tasks(["gsm9k"])


def test_user_task_by_dotted_path(tmp_path: Path, tiny_gemma_path: Path) -> None:
    config = write_config(
        tmp_path,
        f"""
        models:
          good: {{type: huggingface, path: "{tiny_gemma_path}"}}
        tasks:
          mine: {{type: "tests.helpers_tasks:ConstantTask", answer: 0.85}}
        output: {{path: "{tmp_path / "out"}"}}
        """,
    )
    bench = GemmaBenchmark(str(config))
    bench.load_models()
    bench.load_tasks()
    results: dict[str, Any] = bench.run_benchmarks()
    assert results["good"]["mine"] == {"overall": {"accuracy": 0.85}, "model": "good"}
