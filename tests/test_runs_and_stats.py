"""Repeated runs, paired model comparisons, exports, and the database commands."""

from __future__ import annotations

import csv
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from gemma_benchmark.core.benchmark import GemmaBenchmark
from tests.cli_runner import run_cli


@pytest.fixture(scope="module")
def two_model_run(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_gemma_path: Path,
    tiny_gemma2_path: Path,
    data_dir: Path,
) -> tuple[GemmaBenchmark, Path]:
    tmp = tmp_path_factory.mktemp("stats")
    config = tmp / "c.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            models:
              gemma-a: {{type: huggingface, path: "{tiny_gemma_path}"}}
              gemma-b: {{type: huggingface, path: "{tiny_gemma2_path}"}}
            tasks:
              mmlu: {{type: mmlu, subset: [anatomy, virology], shot_count: 0, limit: 15}}
            evaluation: {{runs: 2, statistical_tests: true, confidence_level: 0.9}}
            output: {{path: "{tmp / "out"}", export_formats: [json, yaml, csv]}}
            data_dir: "{data_dir}"
            """
        )
    )
    bench = GemmaBenchmark(str(config))
    bench.load_models()
    bench.load_tasks()
    bench.run_benchmarks()
    return bench, tmp / "out"


def test_deterministic_task_runs_once_and_says_so(
    two_model_run: tuple[GemmaBenchmark, Path],
) -> None:
    bench, _ = two_model_run
    runs = bench.results["gemma-a"]["mmlu"]["runs"]
    assert runs["requested"] == 2 and runs["completed"] == 1
    assert "deterministic" in runs["note"]
    accuracy = runs["aggregate"]["overall.accuracy"]
    assert accuracy["n_runs"] == 1 and accuracy["std"] == 0


def test_paired_comparison_between_models(two_model_run: tuple[GemmaBenchmark, Path]) -> None:
    bench, _ = two_model_run
    pair = bench.comparisons["mmlu"]["gemma-a vs gemma-b"]
    a = bench.results["gemma-a"]["mmlu"]["overall"]["accuracy"]
    b = bench.results["gemma-b"]["mmlu"]["overall"]["accuracy"]
    assert pair["n"] == 30
    assert pair["diff"] == pytest.approx(a - b)
    assert pair["ci_low"] <= pair["diff"] <= pair["ci_high"]
    assert 0.0 <= pair["mcnemar_p"] <= 1.0
    assert pair["significant"] == (pair["mcnemar_p"] < 0.1)


def test_force_repeats_repeats_deterministic_tasks(
    tmp_path: Path, tiny_gemma_path: Path, data_dir: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            models: {{a: {{type: huggingface, path: "{tiny_gemma_path}"}}}}
            tasks: {{mmlu: {{subset: anatomy, shot_count: 0, limit: 5}}}}
            evaluation: {{runs: 3, force_repeats: true}}
            output: {{path: "{tmp_path / "out"}"}}
            data_dir: "{data_dir}"
            """
        )
    )
    bench = GemmaBenchmark(str(config))
    bench.load_models()
    bench.load_tasks()
    result = bench.run_benchmarks()["a"]["mmlu"]
    accuracy = result["runs"]["aggregate"]["overall.accuracy"]
    assert accuracy["n_runs"] == 3
    assert accuracy["values"] == [result["overall"]["accuracy"]] * 3


def test_exports_in_every_format(two_model_run: tuple[GemmaBenchmark, Path]) -> None:
    bench, out = two_model_run
    written = {
        Path(bench.save_results(str(out / f"results.{f}"))).suffix for f in ("json", "yaml", "csv")
    }
    assert written == {".json", ".yaml", ".csv"}
    rows = list(csv.DictReader((out / "results.csv").open()))
    accuracy = [r for r in rows if r["model"] == "gemma-a" and r["metric"] == "overall.accuracy"]
    assert float(accuracy[0]["value"]) == bench.results["gemma-a"]["mmlu"]["overall"]["accuracy"]
    document = json.loads((out / "results.json").read_text())
    assert document["comparisons"]["mmlu"]["gemma-a vs gemma-b"]["n"] == 30


def wide_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"COLUMNS": "200"})


def test_runs_show_compare_commands(two_model_run: tuple[GemmaBenchmark, Path]) -> None:
    bench, out = two_model_run
    db = str(out / "benchmark.db")
    listing = wide_cli("runs", "--db", db)
    assert listing.returncode == 0
    assert "gemma-a, gemma-b" in listing.stdout and "vs" not in listing.stdout
    shown = wide_cli("show", str(bench.run_id), "--db", db)
    assert shown.returncode == 0 and "gemma-b" in shown.stdout and "n=30" in shown.stdout
    compared = wide_cli("compare", str(bench.run_id), str(bench.run_id), "--db", db)
    assert compared.returncode == 0 and "p=1" in compared.stdout
    missing = wide_cli("show", "999", "--db", db)
    assert missing.returncode == 2 and "no run with id 999" in missing.stderr
    absent = wide_cli("runs", "--db", str(out / "nope.db"))
    assert absent.returncode == 2 and "results database not found" in absent.stderr
