"""Config validation: every malformed config gives one ConfigurationError naming the key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gemma_benchmark.config import load_config, parse_config
from gemma_benchmark.exceptions import ConfigurationError

GOOD_MODEL = {"type": "gemma", "size": "2b", "variant": "it"}
GOOD_TASK = {"type": "mmlu", "subset": "mathematics", "shot_count": 5}


def config_with(**sections: object) -> dict[str, object]:
    base: dict[str, object] = {"models": {"gemma-2b": GOOD_MODEL}, "tasks": {"mmlu": GOOD_TASK}}
    base.update(sections)
    return base


BAD_CONFIGS = [
    # (config, expected message fragment)
    (
        config_with(tasks={"mmlu": {**GOOD_TASK, "shot_count": 12}}),
        "tasks.mmlu.shot_count: must be between 0 and 10, got 12",
    ),
    (
        config_with(tasks={"mmlu": {**GOOD_TASK, "shot_count": -1}}),
        "tasks.mmlu.shot_count: must be between 0 and 10, got -1",
    ),
    (
        config_with(tasks={"mmlu": {**GOOD_TASK, "shot_count": "five"}}),
        "tasks.mmlu.shot_count: expected an integer, got 'five'",
    ),
    (
        config_with(tasks={"mmlu": {**GOOD_TASK, "shot_cout": 5}}),
        "tasks.mmlu.shot_cout: unknown key; did you mean 'shot_count'?",
    ),
    (
        config_with(tasks={"mmlu": {**GOOD_TASK, "subset": "astrology"}}),
        "tasks.mmlu.subset: unknown subset 'astrology'",
    ),
    (
        config_with(tasks={"mmlu": {**GOOD_TASK, "subset": ["anatomy", "alchemy"]}}),
        "tasks.mmlu.subset: unknown subset 'alchemy'",
    ),
    (
        config_with(tasks={"mmlu": {**GOOD_TASK, "limit": 0}}),
        "tasks.mmlu.limit: must be greater than or equal to 1, got 0",
    ),
    (
        config_with(tasks={"mmlu": {"type": "mmlux"}}),
        "tasks.mmlu.type: unknown task type 'mmlux'; did you mean 'mmlu'?",
    ),
    (
        config_with(tasks={"t": {"type": "no_such_pkg.tasks:MyTask"}}),
        "tasks.t.type: cannot import task module 'no_such_pkg.tasks'",
    ),
    (
        config_with(tasks={"t": {"type": "gemma_benchmark.tasks.mmlu:Nope"}}),
        "tasks.t.type: module 'gemma_benchmark.tasks.mmlu' has no task class 'Nope'",
    ),
    (config_with(tasks=["mmlu"]), "tasks: expected a mapping, got ['mmlu']"),
    (
        config_with(models={"m": {"type": "gema", "size": "2b"}}),
        "models.m.type: unknown model type 'gema'; did you mean 'gemma'?",
    ),
    (
        config_with(models={"m": {"type": "gemma", "size": "3b"}}),
        "models.m.size: unsupported gemma size '3b'",
    ),
    (
        config_with(models={"m": {"type": "gemma", "size": "2b", "variant": "chat"}}),
        "models.m.variant: unknown gemma 2 2b variant 'chat'",
    ),
    (
        config_with(models={"m": {"type": "gemma", "size": "2b", "version": 4}}),
        "models.m.version: unknown gemma version '4'",
    ),
    (
        config_with(models={"m": {"type": "mistral", "size": "13b"}}),
        "models.m.size: unsupported mistral size '13b'",
    ),
    (
        config_with(models={"m": {"type": "huggingface"}}),
        "models.m.path: required for type 'huggingface'",
    ),
    (
        config_with(models={"m": {"type": "gemma"}}),
        "models.m.size: required for type 'gemma' without path",
    ),
    (
        config_with(models={"m": {**GOOD_MODEL, "quantisation": True}}),
        "models.m.quantisation: unknown key; did you mean 'quantization'?",
    ),
    (
        config_with(models={"m": {**GOOD_MODEL, "trust_remote_code": "maybe"}}),
        "models.m.trust_remote_code: expected true or false, got 'maybe'",
    ),
    (
        config_with(evaluation={"runs": 0}),
        "evaluation.runs: must be greater than or equal to 1, got 0",
    ),
    (config_with(evaluation={"batch_size": "big"}), "evaluation.batch_size"),
    (
        config_with(evaluation={"batch_size": 0}),
        "evaluation.batch_size: must be a positive integer or 'auto', got 0",
    ),
    (
        config_with(evaluation={"confidence_level": 1.5}),
        "evaluation.confidence_level: must be less than 1, got 1.5",
    ),
    (
        config_with(output={"export_formats": ["json", "xml"]}),
        "output.export_formats.1: must be one of 'json', 'yaml' or 'csv', got 'xml'",
    ),
    (config_with(output={"pth": "x"}), "output.pth: unknown key; did you mean 'path'?"),
    (
        config_with(hardware={"precision": "fp8"}),
        "hardware.precision: must be one of 'auto', 'float32', 'bfloat16' or 'float16', got 'fp8'",
    ),
    (
        config_with(hardware={"device": "tpu"}),
        "hardware.device: must be auto, cpu, cuda, cuda:N or mps, got 'tpu'",
    ),
    (config_with(modles={}), "modles: unknown key; did you mean 'models'?"),
    (config_with(evaluation=[1, 2]), "evaluation: expected a mapping, got [1, 2]"),
]


@pytest.mark.parametrize(("raw", "expected"), BAD_CONFIGS)
def test_bad_config_names_the_key_path(raw: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_config(raw)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_there_are_at_least_twenty_bad_configs() -> None:
    assert len(BAD_CONFIGS) >= 20


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "absent.yaml")


def test_invalid_yaml_raises_yaml_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models: [unclosed\n  tasks: {")
    with pytest.raises(yaml.YAMLError):
        load_config(path)


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(ConfigurationError, match="top level must be a mapping"):
        parse_config(["models"])


def test_spec_schema_example_is_valid() -> None:
    raw = yaml.safe_load(
        """
models:
  gemma-2b:
    type: gemma
    size: 2b
    variant: it
    cache_dir: cache/models
    quantization: true
    device_map: auto
    max_memory: {0: "15GB", 1: "15GB"}
tasks:
  mmlu: {type: mmlu, subset: mathematics, shot_count: 5}
  gsm8k: {type: gsm8k, shot_count: 5, use_chain_of_thought: true}
  efficiency:
    type: efficiency
    sample_prompts: ["Explain quantum computing", "Write Python code"]
    output_lengths: [128, 256, 512]
evaluation: {runs: 3, batch_size: auto, statistical_tests: true, confidence_level: 0.95}
output: {path: results, save_predictions: false, visualize: true, export_formats: [json, yaml]}
hardware: {device: auto, precision: bfloat16, quantization: true, mixed_precision: true,
           torch_compile: false}
"""
    )
    config = parse_config(raw)
    assert config.models["gemma-2b"].hub_id() == "google/gemma-2-2b-it"
    assert config.models["gemma-2b"].max_memory == {0: "15GB", 1: "15GB"}
    assert config.evaluation.runs == 3
    assert config.task_options("mmlu") == {"subset": "mathematics", "shot_count": 5}


def test_path_replaces_size_and_task_type_defaults_to_name(tmp_path: Path) -> None:
    config = parse_config(
        {
            "models": {"local": {"path": str(tmp_path)}},
            "tasks": {"mmlu": {"limit": 3}},
            "data_dir": "/data",
        }
    )
    assert config.models["local"].hub_id() == str(tmp_path)
    assert config.models["local"].trust_remote_code is False
    assert config.tasks["mmlu"].type == "mmlu"
    assert config.task_options("mmlu") == {"limit": 3, "data_dir": "/data"}


@pytest.mark.parametrize(
    ("entry", "hub_id"),
    [
        ({"size": "7b"}, "google/gemma-7b-it"),
        ({"size": "2b", "version": 1, "variant": "pt"}, "google/gemma-2b"),
        ({"size": "9b", "variant": "pt"}, "google/gemma-2-9b"),
        ({"size": "27b", "version": "3"}, "google/gemma-3-27b-it"),
        ({"size": "1b", "variant": "pt"}, "google/gemma-3-1b-pt"),
        ({"size": "12b"}, "google/gemma-3-12b-it"),
        ({"size": "270M", "variant": "pt"}, "google/gemma-3-270m"),
    ],
)
def test_gemma_catalogue_ids(entry: dict[str, object], hub_id: str) -> None:
    config = parse_config({"models": {"m": {"type": "gemma", **entry}}})
    assert config.models["m"].hub_id() == hub_id


@pytest.mark.parametrize(
    ("entry", "hub_id"),
    [
        ({"size": "7b"}, "mistralai/Mistral-7B-Instruct-v0.3"),
        ({"size": "7b", "version": "v0.1", "variant": "base"}, "mistralai/Mistral-7B-v0.1"),
        ({"size": "7b", "version": "v0.2"}, "mistralai/Mistral-7B-Instruct-v0.2"),
    ],
)
def test_mistral_catalogue_ids(entry: dict[str, object], hub_id: str) -> None:
    config = parse_config({"models": {"m": {"type": "mistral", **entry}}})
    assert config.models["m"].hub_id() == hub_id


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("MMLU", "mmlu"),
        ("GSM8K", "gsm8k"),
        ("arc-challenge", "arc_challenge"),
        ("Efficiency", "efficiency"),
    ],
)
def test_task_type_spelling_is_normalised(written: str, canonical: str) -> None:
    config = parse_config({"tasks": {"t": {"type": written}, written: None}})
    assert config.tasks["t"].type == canonical
    assert config.tasks[written].type == canonical  # a type taken from the key, too


def test_model_type_spelling_is_normalised() -> None:
    config = parse_config({"models": {"g": {"type": "Gemma", "size": "2b"}}})
    assert config.models["g"].type == "gemma"
    assert config.models["g"].hub_id() == "google/gemma-2-2b-it"
