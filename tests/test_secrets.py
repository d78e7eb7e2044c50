"""A planted token never reaches a result file, a log line, predictions or the database."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.cli_runner import run_cli

SECRET = "hf_plantedSecretValue123456"


def test_planted_token_is_redacted_everywhere(
    tmp_path: Path, tiny_gemma_path: Path, data_dir: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            models:
              good: {{type: huggingface, path: "{tiny_gemma_path}"}}
              leaky: {{type: huggingface, path: "org-{SECRET}/gemma"}}
            tasks:
              mmlu: {{type: mmlu, subset: anatomy, shot_count: 0, limit: 3}}
            output: {{save_predictions: true, export_formats: [json, yaml, csv]}}
            data_dir: "{data_dir}"
            """
        )
    )
    out = tmp_path / "out"
    proc = run_cli(
        "run",
        str(config),
        "--output",
        str(out),
        "--verbose",
        env={"HF_TOKEN": SECRET, "COLUMNS": "300"},
    )
    assert proc.returncode == 1  # the leaky model fails to load; the good one runs
    assert "leaky" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {
        "results.json",
        "results.yaml",
        "results.csv",
        "benchmark.db",
        "mmlu.jsonl",
    }
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    assert b"***" in (out / "results.json").read_bytes()


def test_usage_error_quoting_a_secret_redacts_it(tmp_path: Path) -> None:
    # The preflight names the missing model folder; a token pasted into the path stays hidden.
    config = tmp_path / "c.yaml"
    config.write_text(f'models: {{m: {{path: "/models/{SECRET}/gemma"}}}}\ntasks: {{mmlu: {{}}}}\n')
    proc = run_cli("run", str(config), env={"HF_TOKEN": SECRET})
    assert proc.returncode == 2
    assert "models.m.path: no such directory: /models/***/gemma" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
