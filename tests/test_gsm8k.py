"""GSM8K without a model: answer extraction checked against lm-eval's own filters and metric,
prompts against lm-eval's own sampler and exemplars, and the task's evaluate/resume flow on a stub
model."""

from __future__ import annotations

import itertools
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from gemma_benchmark.data import read_jsonl
from gemma_benchmark.exceptions import BenchmarkExecutionError, TaskInitializationError
from gemma_benchmark.reference.lmeval_gsm8k import TASK_FILES, lmeval_task_dir
from gemma_benchmark.tasks.base import prediction_line, wants_chat_template
from gemma_benchmark.tasks.gsm8k import (
    Gsm8kBenchmark,
    cot_exemplars,
    extract_answer,
    numeric_match,
    reference_answer,
)
from gemma_benchmark.tasks.registry import resolve_task_class

COMPLETIONS = [
    " Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18",
    "#### -5",
    "#### 1,000",
    "#### $1,000.00",
    "It costs 3.5 dollars.\n#### 3.5",
    "#### 18\n#### 20",
    "#### 18.\n\nQuestion: Tom has 3 apples and eats 2. How many are left?\nAnswer: 1",
    "I don't know.",
    "",
    "#### ",
    "####18",
    "#### -0.5",
    "#### .5",
    "The answer is 42.",
    "The answer is 42",
    "The answer is -7.5.",
    "The answer is $42.",
    "So the answer is 1,234,567.",
    "The answer is 5. The answer is 6.",
    "The answer is 12.\nQ: Who?",
    "costs $5 each, so 3 x $5 = $15",
    "42 apples and 7 pears",
    "-3 degrees",
    "5-3=2",
    "1.2.3",
    "....",
    "$$",
    "answer: 7.",
    "#### 7,",
    "It is 10,000,000.",
    "0.50",
    "18.00",
    "3/4 of 12 is 9",
    "x = -12, y = 4",
    "The answer is 100%.",
    "12 ducks.\n#### 12 ducks",
    "Total = 2 + 2\n= 4",
    "no digits here, just words.",
    "#### -1,234.50",
    "The answer is ,.",
    "#### .",
    "A: 5\n\nQ: There are 3 cars.",
    "\n#### 7\n",
    "＃＃＃＃ 5",
    "The answer is 8. So 9 later.",
    "  #### 42  ",
    "#### 5\n#### 6",
    "She has 23 - 15 = 8 dollars left. The answer is 8.",
    "-$5.",
    "$-5",
]
REFERENCE_NUMBERS = ["18", "-5", "1000", "3.5", "42", "7", "12", "15", "9", "0.5", "8", "5", "6"]


@cache
def lmeval_config(chain_of_thought: bool) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        (lmeval_task_dir() / TASK_FILES[chain_of_thought]).read_text()
    )
    return config


def lmeval_filtered(text: str, chain_of_thought: bool, name: str) -> str:
    """The completion through lm-eval's own filter pipeline, built from its YAML."""
    from lm_eval.filters import build_filter_ensemble

    (spec,) = [f for f in lmeval_config(chain_of_thought)["filter_list"] if f["name"] == name]
    components = [
        (step["function"], {k: v for k, v in step.items() if k != "function"})
        for step in spec["filter"]
    ]
    responses: Any = [[text]]
    for make in build_filter_ensemble(name, components).filters:
        responses = make().apply(responses, [{}])
    return str(next(iter(responses)))


def lmeval_metric_kwargs(chain_of_thought: bool) -> dict[str, Any]:
    (metric,) = lmeval_config(chain_of_thought)["metric_list"]
    return {
        k: v for k, v in metric.items() if k not in ("metric", "aggregation", "higher_is_better")
    }


def lmeval_exact_match(prediction: str, reference: str, chain_of_thought: bool) -> bool:
    from lm_eval.api.metrics import exact_match_hf_evaluate

    kwargs = lmeval_metric_kwargs(chain_of_thought)
    result = exact_match_hf_evaluate(predictions=[prediction], references=[reference], **kwargs)
    return bool(result["exact_match"] == 1.0)


def lmeval_normalised(text: str, chain_of_thought: bool) -> str:
    """lm-eval's metric options (read from its YAML) applied the way its metric applies them."""
    kwargs = lmeval_metric_kwargs(chain_of_thought)
    for pattern in kwargs["regexes_to_ignore"]:
        text = re.sub(pattern, "", text)
    return text.lower() if kwargs["ignore_case"] else text


def lmeval_reference(number: str, chain_of_thought: bool) -> str:
    """What lm-eval's doc_to_target yields for a reference answer ending in `#### number`."""
    answer = f"Some steps <<2*3=6>>6 and 1,000 more.\n#### {number}"
    return answer.split("####")[-1].strip() if chain_of_thought else answer


def test_there_are_enough_tricky_completions() -> None:
    assert len(COMPLETIONS) >= 40
    assert len(set(COMPLETIONS)) == len(COMPLETIONS)


@pytest.mark.parametrize("chain_of_thought", [False, True], ids=["default", "cot"])
@pytest.mark.parametrize(
    ("mode", "lmeval_name"), [("strict", "strict-match"), ("flexible", "flexible-extract")]
)
def test_extraction_agrees_with_lm_eval(
    chain_of_thought: bool, mode: str, lmeval_name: str
) -> None:
    for text in COMPLETIONS:
        filtered = lmeval_filtered(text, chain_of_thought, lmeval_name)
        ours = extract_answer(text, mode, chain_of_thought)
        if filtered == "[invalid]":
            assert ours is None, text
        else:
            assert ours == lmeval_normalised(filtered, chain_of_thought), text


@pytest.mark.parametrize("chain_of_thought", [False, True], ids=["default", "cot"])
def test_exact_match_decisions_agree_with_lm_eval(chain_of_thought: bool) -> None:
    for text, number in itertools.product(COMPLETIONS, REFERENCE_NUMBERS):
        reference = lmeval_reference(number, chain_of_thought)
        target = reference_answer(reference, chain_of_thought)
        for mode, name in (("strict", "strict-match"), ("flexible", "flexible-extract")):
            expected = lmeval_exact_match(
                lmeval_filtered(text, chain_of_thought, name), reference, chain_of_thought
            )
            assert (extract_answer(text, mode, chain_of_thought) == target) == expected, (
                text,
                number,
                mode,
            )


def test_known_extractions() -> None:
    assert extract_answer("#### 1,000.00", "strict") == "1000.00"
    assert extract_answer("#### $1,000.00", "strict") is None
    assert extract_answer("#### $1,000.00", "flexible") == "1000.00"
    assert extract_answer("#### 18\n#### 20", "strict") == "18"
    assert extract_answer("#### 18\n#### 20", "flexible") == "20"
    assert extract_answer("The answer is 42.", "strict", chain_of_thought=True) == "42"
    assert extract_answer("no number", "flexible") is None
    assert extract_answer("", "strict") is None
    with pytest.raises(ValueError, match="strict' or 'flexible"):
        extract_answer("#### 1", "loose")


@pytest.mark.parametrize(
    ("extracted", "target", "expected"),
    [
        ("18.00", "18", True),
        ("18", "18", True),
        ("-5", "-5", True),
        ("0.50", ".5", True),
        ("17.99", "18", False),
        (None, "18", False),
        ("1.2.3", "1", False),
        ("", "0", False),
    ],
)
def test_numeric_match(extracted: str | None, target: str, expected: bool) -> None:
    assert numeric_match(extracted, target) is expected


def test_cot_exemplars_are_lm_evals() -> None:
    samples = lmeval_config(True)["fewshot_config"]["samples"]
    assert [(e["question"], e["answer"]) for e in cot_exemplars()] == [
        (s["question"], s["target"]) for s in samples
    ]


def test_shots_are_drawn_as_lm_evals_sampler_draws_them(data_dir: Path) -> None:
    from lm_eval.api.samplers import ContextSampler

    train = read_jsonl(data_dir / "gsm8k" / "train.jsonl")
    sampler = ContextSampler(train, rnd=1234)
    expected = [sampler.sample(n=5) for _ in range(12)]
    task = Gsm8kBenchmark({"data_dir": str(data_dir)})
    assert task.shots_per_item(12) == expected


def test_prompt_formats(data_dir: Path) -> None:
    record = read_jsonl(data_dir / "gsm8k" / "test.jsonl")[0]
    zero = Gsm8kBenchmark({"data_dir": str(data_dir), "shot_count": 0}).build_docs(1)[0]
    assert zero.prompt == f"Question: {record['question']}\nAnswer:"
    assert zero.target == "18"
    cot = Gsm8kBenchmark(
        {"data_dir": str(data_dir), "shot_count": 2, "use_chain_of_thought": True}
    ).build_docs(1)[0]
    first, second = cot_exemplars()[:2]
    assert cot.prompt == (
        f"Q: {first['question']}\nA: {first['answer']}\n\n"
        f"Q: {second['question']}\nA: {second['answer']}\n\n"
        f"Q: {record['question']}\nA:"
    )
    five = Gsm8kBenchmark({"data_dir": str(data_dir)}).build_docs(1)[0]
    assert five.prompt.count("Question: ") == 6
    assert five.prompt.count("\n#### ") == 5


@pytest.mark.parametrize("bad", [-1, 9, 12])
def test_shot_count_is_validated(bad: int) -> None:
    with pytest.raises(TaskInitializationError, match=f"must be between 0 and 8, got {bad}"):
        Gsm8kBenchmark({"shot_count": bad})


def test_unknown_option_is_refused() -> None:
    with pytest.raises(TaskInitializationError, match=r"gsm8k\.temprature"):
        Gsm8kBenchmark({"temprature": 0.5})


def test_registered_as_gsm8k() -> None:
    assert resolve_task_class("gsm8k") is Gsm8kBenchmark


class StubModel:
    """Answers from a table keyed by question; records what it was asked."""

    def __init__(self, replies: dict[str, str], instruction_tuned: bool = False) -> None:
        self.replies = replies
        self.instruction_tuned = instruction_tuned
        self.has_chat_template = instruction_tuned
        self.model_name = "stub"
        self.calls: list[tuple[list[str], int, list[str]]] = []

    def apply_chat_template(self, text: str) -> str:
        return f"<turn>{text}</turn>"

    def generate_batch(self, prompts: list[str], max_new_tokens: int, stop: list[str]) -> list[str]:
        self.calls.append((list(prompts), max_new_tokens, list(stop)))
        return [self.replies[question_of(p)] for p in prompts]


def question_of(prompt: str) -> str:
    last = prompt.removesuffix("</turn>").rsplit("Question: ", 1)[-1].rsplit("Q: ", 1)[-1]
    return last.split("\n")[0]


@pytest.fixture(scope="module")
def replies(data_dir: Path) -> dict[str, str]:
    """Items 0-9: right (####), right but `.00` (numeric match only), or nothing."""
    records = read_jsonl(data_dir / "gsm8k" / "test.jsonl")[:10]
    kinds = [
        lambda n: f" So it is {n}.\n#### {n}\n\nQuestion: next",
        lambda n: f" It is {n}.00 in all.",
        lambda n: " I cannot tell.",
    ]
    return {
        r["question"]: kinds[i % 3](r["answer"].split("#### ")[-1]) for i, r in enumerate(records)
    }


def test_evaluate_scores_and_reports(data_dir: Path, replies: dict[str, str]) -> None:
    task = Gsm8kBenchmark({"data_dir": str(data_dir), "max_new_tokens": 64})
    emitted: list[dict[str, Any]] = []
    task.sample_sinks.append(emitted.extend)
    model = StubModel(replies)
    result = task.evaluate(model, num_samples=10)
    assert model.calls[0][1:] == (64, ["Question:", "</s>", "<|im_end|>"])
    assert result["overall"]["correct"] == 4 and result["overall"]["total"] == 10
    assert result["overall"]["accuracy"] == pytest.approx(0.4)
    assert result["metrics"]["exact_match_strict"]["correct"] == 4
    assert result["metrics"]["numeric_match"]["correct"] == 7
    assert result["config"] == {
        "shot_count": 5, "use_chain_of_thought": False, "num_samples": 10,
        "use_chat_template": False, "max_new_tokens": 64, "fewshot_seed": 1234,
    }  # fmt: skip
    assert len(result["failed_examples"]) == 6
    failed = result["failed_examples"][0]
    assert set(failed) == {"doc_id", "question", "completion", "extracted", "target"}
    assert sorted(s["doc_id"] for s in emitted) == list(range(10))
    assert set(prediction_line(emitted[0])) == {
        "doc_id", "prompt", "completion", "extracted_strict", "extracted_flexible", "target",
        "correct",
    }  # fmt: skip
    assert emitted[0]["_prompt"] == emitted[0]["prompt"]


def test_resume_skips_stored_items_and_counts_them(data_dir: Path, replies: dict[str, str]) -> None:
    first = Gsm8kBenchmark({"data_dir": str(data_dir)})
    stored: list[dict[str, Any]] = []
    first.sample_sinks.append(stored.extend)
    full = first.evaluate(StubModel(replies), num_samples=10)
    resumed = Gsm8kBenchmark({"data_dir": str(data_dir)})
    resumed.completed = {s["key"]: s for s in stored if s["doc_id"] < 6}
    model = StubModel(replies)
    again = resumed.evaluate(model, num_samples=10)
    assert len(model.calls[0][0]) == 4
    assert again == full


def test_limit_option_and_cot_stops(data_dir: Path, replies: dict[str, str]) -> None:
    task = Gsm8kBenchmark({"data_dir": str(data_dir), "limit": 3, "use_chain_of_thought": True})
    model = StubModel(replies)
    result = task.evaluate(model)
    assert result["overall"]["total"] == 3
    assert model.calls[0][2] == ["Q:", "</s>", "<|im_end|>"]


@pytest.mark.parametrize(("option", "wrapped"), [(None, True), (True, True), (False, False)])
def test_chat_template_for_instruction_tuned_models(
    data_dir: Path, replies: dict[str, str], option: bool | None, wrapped: bool
) -> None:
    task = Gsm8kBenchmark({"data_dir": str(data_dir), "limit": 2, "use_chat_template": option})
    model = StubModel(replies, instruction_tuned=True)
    result = task.evaluate(model)
    assert all(p.startswith("<turn>") == wrapped for p in model.calls[0][0])
    assert result["config"]["use_chat_template"] is wrapped


def test_chat_template_resolution() -> None:
    base, chat = StubModel({}), StubModel({}, instruction_tuned=True)
    assert wants_chat_template(None, base) is False
    assert wants_chat_template(None, chat) is True
    assert wants_chat_template(False, chat) is False
    with pytest.raises(BenchmarkExecutionError, match="stub has no chat template"):
        wants_chat_template(True, base)


def test_num_samples_must_be_positive(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="num_samples must be at least 1, got 0"):
        Gsm8kBenchmark({"data_dir": str(data_dir)}).evaluate(StubModel({}), num_samples=0)


def test_count_items_follows_limit(data_dir: Path) -> None:
    # The resume message and progress total count a task's items up front.
    assert Gsm8kBenchmark({"data_dir": str(data_dir), "limit": 7}).count_items() == 7
    assert Gsm8kBenchmark({"data_dir": str(data_dir)}).count_items() == 1319  # the test split
