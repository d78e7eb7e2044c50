"""User-defined tasks (`type: custom`): prompts and scoring, end to end through the Python API and
the CLI on a tiny real model, and one-line errors for bad data files."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from gemma_benchmark.config import parse_config
from gemma_benchmark.core.benchmark import GemmaBenchmark
from gemma_benchmark.exceptions import (
    ConfigurationError,
    DataNotFoundError,
    TaskInitializationError,
)
from gemma_benchmark.tasks.custom import CustomBenchmark
from gemma_benchmark.tasks.custom_scoring import extract, is_match
from tests.cli_runner import run_cli

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "custom_task"
MC_ROWS = [
    {"q": "Two plus two?", "opts": ["three", "four", "five"], "gold": 1, "kind": "math"},
    {"q": "Colour of grass?", "opts": ["green", "blue"], "gold": "A", "kind": "nature"},
    {"q": "Opposite of up?", "opts": ["left", "down", "in"], "gold": "down", "kind": "words"},
]


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def mc_options(data_file: Path, **extra: Any) -> dict[str, Any]:
    fields = {"question": "q", "choices": "opts", "answer": "gold", "category": "kind"}
    return {"data_file": str(data_file), "fields": fields, **extra}


class ScriptedModel:
    """Log-likelihood = minus the continuation's length; completions from a fixed table."""

    def __init__(self, completions: dict[str, str] | None = None) -> None:
        self.completions = completions or {}
        self.prompts: list[str] = []
        self.stops: list[list[str]] = []

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        return [-float(len(cont)) for _, cont in requests]

    def generate_batch(
        self, prompts: Sequence[str], max_new_tokens: int = 32, stop: Sequence[str] = ()
    ) -> list[str]:
        self.prompts.extend(prompts)
        self.stops.append(list(stop))
        return [self.completions[p.rsplit("Q: ", 1)[-1]] for p in prompts]


# -- multiple choice: prompts and scoring ----------------------------------------------------


def test_multiple_choice_docs_from_jsonl(tmp_path: Path) -> None:
    task = CustomBenchmark(mc_options(write_jsonl(tmp_path / "d.jsonl", MC_ROWS)))
    docs = task.build_docs()
    assert docs[0].context == "Question: Two plus two?\nAnswer:"
    assert docs[0].continuations == (" three", " four", " five")
    assert [d.target for d in docs] == [1, 0, 1]  # index, letter, choice text
    assert docs[1].norm_lengths == (5, 4)


def test_csv_choice_columns_letters_and_fewshot(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text(
        "question,A,B,C,answer\nSky colour?,blue,red,,A\nHot or cold: ice?,hot,cold,warm,B\n"
    )
    shots = tmp_path / "shots.csv"
    shots.write_text("question,A,B,C,answer\nOne plus one?,one,two,three,1\n")
    options = {
        "data_file": str(data),
        "fields": {"choices": ["A", "B", "C"]},
        "prompt_template": (
            "{{ question }}\n{% for c in choices %}{{ letters[loop.index0] }}. {{ c }}\n"
            "{% endfor %}Answer:"
        ),
        "continuation": "letter",
        "fewshot_file": str(shots),
        "shot_count": 1,
    }
    docs = CustomBenchmark(options).build_docs()
    shot = "One plus one?\nA. one\nB. two\nC. three\nAnswer: B\n\n"
    assert docs[0].context == shot + "Sky colour?\nA. blue\nB. red\nAnswer:"
    assert docs[0].continuations == (" A", " B")  # the empty cell drops choice C
    assert docs[1].target == 1


def test_acc_norm_metric_drives_overall_and_both_are_reported(tmp_path: Path) -> None:
    rows = [{"q": "x", "opts": ["a", "bbbbbb"], "gold": 1, "kind": "k"}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    # ScriptedModel: " a" -> -2 (per char -2), " bbbbbb" -> -7 (per char -7/6): acc picks a
    plain = CustomBenchmark(mc_options(data)).evaluate(ScriptedModel())
    norm = CustomBenchmark(mc_options(data, metric="acc_norm")).evaluate(ScriptedModel())
    assert plain["overall"]["accuracy"] == 0.0 and plain["metric"] == "acc"
    assert norm["overall"]["accuracy"] == 1.0 and norm["metric"] == "acc_norm"
    assert norm["acc"]["accuracy"] == 0.0 and norm["acc_norm"]["accuracy"] == 1.0
    assert norm["categories"]["k"]["total"] == 1


# -- generation: extraction and matching ------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "regex", "mode", "target", "right"),
    [
        ("  Paris ", None, "exact", "Paris", True),
        ("paris", None, "exact", "Paris", False),
        ("It is Paris, France.", None, "contains", "Paris", True),
        ("The total is 1,250.", None, "numeric", "1250", True),
        ("about 12.0 or so", None, "numeric", "12", True),
        ("no digits here", None, "numeric", "3", False),
        ("Answer: B because", r"Answer: ([A-D])", "exact", "B", True),
        ("no answer line", r"Answer: ([A-D])", "exact", "B", False),
    ],
)
def test_extraction_and_matching(
    completion: str, regex: str | None, mode: Any, target: str, right: bool
) -> None:
    import re

    pattern = re.compile(regex) if regex else None
    assert is_match(extract(completion, pattern), target, mode, ignore_case=False) is right


def test_generation_prompts_stops_and_scores(tmp_path: Path) -> None:
    rows = [
        {"question": "Capital of France?", "answer": "Paris"},
        {"question": "2+3?", "answer": 5},
    ]
    data = write_jsonl(tmp_path / "g.jsonl", rows)
    shots = write_jsonl(tmp_path / "s.jsonl", [{"question": "1+1?", "answer": 2}])
    options = {
        "format": "generation",
        "data_file": str(data),
        "prompt_template": "Q: {{ question }}",
        "fewshot_file": str(shots),
        "shot_count": 1,
        "stop": ["\n"],
        "match": "contains",
        "ignore_case": True,
    }
    model = ScriptedModel({"Capital of France?": " paris, of course", "2+3?": " six"})
    result = CustomBenchmark(options).evaluate(model)
    assert model.prompts[0] == "Q: 1+1? 2\n\nQ: Capital of France?"
    assert model.stops == [["\n"]]
    assert result["overall"] == {"correct": 1, "total": 2, "accuracy": 0.5, "stderr": 0.5}
    assert result["failed_examples"][0]["extracted"] == "six"


# -- end to end: Python API and CLI on the tiny model -----------------------------------------


def example_config(tmp_path: Path, model: Path) -> Path:
    """The shipped example config, with absolute paths for the model, data and output."""
    text = (EXAMPLE / "config.yaml").read_text()
    text = text.replace("examples/custom_task/", f"{EXAMPLE}/")
    text = text.replace(".cache/tiny-gemma", str(model))
    config = yaml.safe_load(text)
    config["output"]["path"] = str(tmp_path / "out")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_example_config_through_the_python_api(tmp_path: Path, tiny_gemma_path: Path) -> None:
    bench = GemmaBenchmark(str(example_config(tmp_path, tiny_gemma_path)))
    bench.load_models()
    bench.load_tasks()
    results = bench.run_benchmarks()["tiny-gemma"]
    quiz, sums = results["quiz"], results["sums"]
    assert quiz["overall"]["total"] == 20 and quiz["metric"] == "acc_norm"
    assert quiz["overall"] == quiz["acc_norm"]
    assert set(quiz["categories"]) == {"science", "geography", "everyday", "language"}
    assert sums["overall"]["total"] == 8 and sums["metric"] == "numeric_match"
    predictions = tmp_path / "out" / "predictions" / "tiny-gemma" / "quiz.jsonl"
    assert len(predictions.read_text().splitlines()) == 20


def test_example_config_through_the_cli(tmp_path: Path, tiny_gemma_path: Path) -> None:
    config = example_config(tmp_path, tiny_gemma_path)
    out = tmp_path / "cli-out"
    proc = run_cli("run", str(config), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())["results"]["tiny-gemma"]
    assert results["quiz"]["overall"]["total"] == 20
    assert results["sums"]["overall"]["total"] == 8


# -- bad files and bad options ---------------------------------------------------------------


def one_line_error(options: dict[str, Any]) -> str:
    with pytest.raises(TaskInitializationError) as caught:
        CustomBenchmark(options)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    rows = [MC_ROWS[0], {"q": "no answer", "opts": ["a", "b"], "kind": "x"}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    assert one_line_error(mc_options(data)) == f"{data}: line 2: missing field 'gold'"


def test_answer_out_of_range(tmp_path: Path) -> None:
    rows = [{"q": "x", "opts": ["a", "b"], "gold": 2, "kind": "k"}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    message = one_line_error(mc_options(data))
    assert message == f"{data}: line 1: answer 2 (index) is out of range for 2 choices"
    rows[0]["gold"] = "D"
    assert "answer 'D' (letter) is out of range" in one_line_error(
        mc_options(write_jsonl(data, rows))
    )


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file_is_an_error_not_a_zero_score(tmp_path: Path, content: str) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(content)
    assert one_line_error(mc_options(data)).startswith(f"{data}: no rows")


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(MC_ROWS[0]) + "\n\n" + '{"q": "broken", \n')
    assert one_line_error(mc_options(data)).startswith(f"{data}: line 3: not valid JSON")


def test_template_errors_and_sandbox(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", MC_ROWS)
    typo = one_line_error(mc_options(data, prompt_template="{{ qestion }}"))
    assert typo == f"{data}: line 1: prompt_template: 'qestion' is undefined"
    escape = one_line_error(mc_options(data, prompt_template="{{ ''.__class__.__mro__ }}"))
    assert "prompt_template" in escape and "unsafe" in escape


def test_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="task data file not found"):
        CustomBenchmark(mc_options(tmp_path / "nope.jsonl"))


def test_bad_options_are_config_errors_with_key_paths(tmp_path: Path) -> None:
    def config(task: str) -> dict[str, Any]:
        return yaml.safe_load(textwrap.dedent(f"tasks:\n  mine: {task}\n"))

    cases = {
        "{type: custom}": "tasks.mine.data_file",
        "{type: custom, data_file: x.jsonl, shot_count: 2}": "no fewshot_file",
        "{type: custom, data_file: x.jsonl, prompt_template: '{{ q '}": "not a valid Jinja2",
        "{type: custom, data_file: x.jsonl, format: generation, metric: acc_norm}": "acc_norm",
        "{type: custom, data_file: x.jsonl, answer_regex: '(['}": "regular expression",
    }
    for body, fragment in cases.items():
        with pytest.raises(ConfigurationError, match=r"tasks\.mine") as caught:
            parse_config(config(body))
        assert fragment in str(caught.value)


def test_bad_file_fails_only_its_task(tmp_path: Path, tiny_gemma_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("")
    good = write_jsonl(tmp_path / "good.jsonl", MC_ROWS)
    fields = {"question": "q", "choices": "opts", "answer": "gold"}
    config = {
        "models": {"tiny": {"type": "huggingface", "path": str(tiny_gemma_path)}},
        "tasks": {
            "good": {"type": "custom", "data_file": str(good), "fields": fields},
            "bad": {"type": "custom", "data_file": str(bad), "fields": fields},
        },
        "output": {"path": str(tmp_path / "out")},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    bench = GemmaBenchmark(str(path))
    bench.load_models()
    bench.load_tasks()
    results = bench.run_benchmarks()["tiny"]
    assert results["good"]["overall"]["total"] == 3
    assert results["bad"]["status"] == "failed"
    assert "no rows" in results["bad"]["error"]
