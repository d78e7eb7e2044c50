"""The command line as a user meets it: exit codes 0/1/2, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.cli_runner import run_cli as cli


def assert_one_line_usage_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert fragment in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            "tasks: {mmlu: {type: mmlu, shot_count: 12}}",
            "tasks.mmlu.shot_count: must be between 0 and 10, got 12",
        ),
        ("models: {m: {type: gemma, size: 5b}}", "models.m.size: unsupported gemma size '5b'"),
        ("tasks: [unclosed", "not valid YAML"),
        ("evaluation: {runz: 2}", "evaluation.runz: unknown key; did you mean 'runs'?"),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(body)
    assert_one_line_usage_error(cli("run", str(path)), fragment)


def test_missing_config_exits_2(tmp_path: Path) -> None:
    assert_one_line_usage_error(cli("run", str(tmp_path / "nope.yaml")), "nope.yaml")


def test_unknown_model_name_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("models: {a: {path: /x}}\ntasks: {mmlu: {}}\n")
    assert_one_line_usage_error(
        cli("run", str(path), "--models", "b"), "models: 'b' not in the config"
    )


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    proc = cli("run", str(tmp_path / "c.yaml"), "--limit", "0")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def tiny_config(tmp_path: Path, model: Path, data_dir: Path, extra_task: str = "") -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            models:
              tiny: {{type: huggingface, path: "{model}"}}
            tasks:
              mmlu: {{type: mmlu, subset: [anatomy, virology], shot_count: 1}}
            data_dir: "{data_dir}"
            """
        )
        + extra_task
    )
    return config


def test_run_succeeds_with_exit_0(tmp_path: Path, tiny_gemma_path: Path, data_dir: Path) -> None:
    config = tiny_config(tmp_path, tiny_gemma_path, data_dir)
    ok = cli("run", str(config), "--output", str(tmp_path / "ok"), "--limit", "3")
    assert ok.returncode == 0, ok.stderr
    document = json.loads((tmp_path / "ok" / "results.json").read_text())
    assert document["results"]["tiny"]["mmlu"]["overall"]["total"] == 6
    assert "tiny" in ok.stdout and "mmlu" in ok.stdout


def test_run_with_a_failing_task_exits_1(
    tmp_path: Path, tiny_gemma_path: Path, data_dir: Path
) -> None:
    broken = "  broken: {type: 'tests.helpers_tasks:ExplodingTask'}\n"
    config = tiny_config(tmp_path, tiny_gemma_path, data_dir)
    config.write_text(config.read_text().replace("tasks:\n", "tasks:\n" + broken))
    repo = Path(__file__).resolve().parents[1]
    partial = cli("run", str(config), "--output", str(tmp_path / "out"), "--limit", "2", cwd=repo)
    assert partial.returncode == 1, partial.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())["results"]["tiny"]
    assert results["broken"]["status"] == "failed"
    assert results["mmlu"]["overall"]["total"] == 4


def test_list_commands() -> None:
    tasks = cli("list-tasks")
    assert tasks.returncode == 0 and "mmlu" in tasks.stdout
    models = cli("list-models")
    assert models.returncode == 0
    assert "google/gemma-2-9b-it" in models.stdout and "mistralai/Mistral-7B-v0.1" in models.stdout


def test_help_does_not_import_torch() -> None:
    code = "import sys; from gemma_benchmark.cli import app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_make_tiny_model_loads_through_from_pretrained(tmp_path: Path, data_dir: Path) -> None:
    proc = cli(
        "make-tiny-model",
        str(tmp_path / "m"),
        "--arch",
        "gemma2",
        "--seed",
        "3",
        "--data-dir",
        str(data_dir),
    )
    assert proc.returncode == 0, proc.stderr
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tmp_path / "m")
    assert config.model_type == "gemma2"
    assert config.initializer_range == pytest.approx(1.0)


def test_download_without_network_fails_cleanly(tmp_path: Path) -> None:
    proc = cli(
        "download-data",
        "--gsm8k",
        "--data-dir",
        str(tmp_path),
        env={"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 1
    assert "gsm8k: download failed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert_one_line_usage_error(cli("download-data"), "choose at least one")


def test_visualize_writes_charts_and_report(
    tmp_path: Path, tiny_gemma_path: Path, data_dir: Path
) -> None:
    config = tiny_config(tmp_path, tiny_gemma_path, data_dir)
    config.write_text(config.read_text() + "output: {visualize: true}\n")
    proc = cli("run", str(config), "--output", str(tmp_path / "out"), "--limit", "2")
    assert proc.returncode == 0, proc.stderr
    charts = sorted(p.name for p in (tmp_path / "out" / "charts").iterdir())
    assert charts and all(name.endswith(".png") for name in charts)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<svg" in html and "tiny" in html and "mmlu" in html


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("models: {m: {path: /no/such/model}}", "models.m.path: no such directory: /no/such/model"),
        ("models: {m: {path: /etc/hostname}}", "models.m.path: /etc/hostname is a file"),
        ("models: {m: {path: ./}}", "models.m.path: ./ has no config.json"),
        ("hardware: {device: 'cuda:7'}", "hardware.device: 'cuda:7' requested, but torch"),
        ("tasks: {mmlu: {data_dir: /no/data}}", "tasks.mmlu.data_dir: no such directory: /no/data"),
        ("output: {path: /etc/hostname/out}", "output.path: cannot create /etc/hostname/out"),
        ("tasks: {}", "tasks: no tasks to run"),
        (
            "output: {path: '{tmp}/out', database_url: 'nodialect://x'}",
            "output.database_url: cannot open results database nodialect://x",
        ),
    ],
)
def test_run_preflight_names_the_key(tmp_path: Path, body: str, fragment: str) -> None:
    from gemma_benchmark.config import parse_config
    from gemma_benchmark.core.preflight import check_run
    from gemma_benchmark.exceptions import ConfigurationError

    good = {
        "models": {"m": {"path": "google/gemma-2b"}},  # a hub id: left to from_pretrained
        "tasks": {"mmlu": {"subset": "virology"}},
        "output": {"path": str(tmp_path / "out")},
    }
    # Each case replaces (or adds) one top-level section of a good config.
    config = parse_config({**good, **yaml.safe_load(body.replace("{tmp}", str(tmp_path)))})
    with pytest.raises(ConfigurationError, match="^" + re.escape(fragment)):
        check_run(config, list(config.models), list(config.tasks))


def test_run_preflight_passes_a_good_config(tmp_path: Path, tiny_gemma_path: Path) -> None:
    from gemma_benchmark.config import parse_config
    from gemma_benchmark.core.preflight import check_run

    out = tmp_path / "deep" / "out"
    raw = {
        "models": {"local": {"path": str(tiny_gemma_path)}, "hub": {"path": "google/gemma-2b"}},
        "tasks": {"mmlu": {"subset": "virology"}},
        "output": {"path": str(out)},
    }
    config = parse_config(raw)
    check_run(config, list(config.models), list(config.tasks))
    assert out.is_dir()  # created up front, so the end of a long run cannot fail on it


def test_missing_model_dir_and_binary_config_exit_2(tmp_path: Path) -> None:
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe models")
    assert_one_line_usage_error(cli("run", str(binary)), "b.yaml: not UTF-8 text")
    config = tmp_path / "c.yaml"
    config.write_text(f"models: {{m: {{path: {tmp_path / 'gone'}}}}}\ntasks: {{mmlu: {{}}}}\n")
    assert_one_line_usage_error(cli("run", str(config)), "models.m.path: no such directory")
