"""HumanEval: pass@k against its closed form, program assembly and scoring through the real
sandbox, prompting for base and chat models, options, failed examples, resume and seeding.

Most tests drive the task with `CannedModel`, a stand-in that returns fixed completions: what
is under test is the task's assembly and scoring, not a model. One test runs the tiny Gemma.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from math import comb
from pathlib import Path
from typing import Any

import pytest

from gemma_benchmark.data import read_jsonl
from gemma_benchmark.exceptions import TaskInitializationError
from gemma_benchmark.tasks.base import Sample
from gemma_benchmark.tasks.humaneval import (
    MAX_FAILED_EXAMPLES,
    HumanevalBenchmark,
    pass_at_k,
    problem_of,
)
from gemma_benchmark.tasks.humaneval_prompting import (
    STOP_SEQUENCES,
    Problem,
    assemble_program,
    chat_program_parts,
    extract_code_block,
    sample_seed,
    truncate_at_stops,
)
from gemma_benchmark.tasks.registry import resolve_task_class

STATUSES = {"passed", "failed", "timeout", "memory_exceeded", "crashed"}
WRONG = "    return None\n"


@cache
def records(data_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(data_dir / "humaneval" / "HumanEval.jsonl.gz")


def problem(data_dir: Path, index: int) -> Problem:
    return problem_of(index, records(data_dir)[index])


class CannedModel:
    """Stand-in model: `answer(prompt)` gives each completion; every call is recorded."""

    def __init__(self, answer: Callable[[str], str], chat: bool = False) -> None:
        self.answer = answer
        self.instruction_tuned = chat
        self.has_chat_template = chat
        self.calls: list[dict[str, Any]] = []

    def apply_chat_template(self, message: str) -> str:
        return f"<start_of_turn>user\n{message}<end_of_turn>\n<start_of_turn>model\n"

    def generate_batch(self, prompts: Sequence[str], **kwargs: Any) -> list[str]:
        self.calls.append({"prompts": list(prompts), **kwargs})
        return [self.answer(prompt) for prompt in prompts]


def by_prompt(data_dir: Path, pick: Callable[[int, dict[str, Any]], str]) -> Callable[[str], str]:
    """An `answer` that finds the problem whose prompt is in the model's prompt."""

    def answer(prompt: str) -> str:
        for index, record in enumerate(records(data_dir)):
            if record["prompt"].strip() in prompt:
                return pick(index, record)
        raise AssertionError("prompt of no problem")

    return answer


def make_task(data_dir: Path, **options: Any) -> tuple[HumanevalBenchmark, list[Sample]]:
    task = HumanevalBenchmark({"data_dir": str(data_dir), "workers": 2, **options})
    emitted: list[Sample] = []
    task.sample_sinks = [emitted.extend]
    return task, emitted


# -- pass@k ---------------------------------------------------------------------------------


def closed_form(n: int, c: int, k: int) -> float:
    return 1.0 - comb(n - c, k) / comb(n, k)


def test_pass_at_k_is_the_problem_mean_of_the_closed_form() -> None:
    counts = {"a": (10, 0), "b": (10, 3), "c": (10, 10), "d": (5, 1), "e": (7, 6)}
    result = pass_at_k(counts, [1, 2, 5, 10])
    assert set(result) == {"pass@1", "pass@2", "pass@5"}  # "d" has only 5 samples
    for k in (1, 2, 5):
        expected = sum(closed_form(n, c, k) for n, c in counts.values()) / len(counts)
        assert result[f"pass@{k}"] == pytest.approx(expected, abs=1e-12)
    assert result["pass@1"] == pytest.approx((0 + 0.3 + 1 + 0.2 + 6 / 7) / 5)


# -- assembly and scoring through the sandbox ----------------------------------------------------


def test_canonical_solutions_pass_and_wrong_ones_fail(data_dir: Path) -> None:
    def pick(index: int, record: dict[str, Any]) -> str:
        return record["canonical_solution"] if index % 2 == 0 else WRONG

    model = CannedModel(by_prompt(data_dir, pick))
    task, emitted = make_task(data_dir, limit=4)
    result = task.evaluate(model)
    assert [s["correct"] for s in emitted] == [True, False, True, False]
    assert [s["status"] for s in emitted] == ["passed", "failed", "passed", "failed"]
    assert result["overall"] == pytest.approx(
        {"passed": 2, "total": 4, "pass_at_1": 0.5, "stderr": (1 / 3) ** 0.5 / 2}
        | {"samples": 4, "samples_passed": 2}
    )
    assert result["pass_at_k"] == {"pass@1": 0.5}  # k = 10, 100 need more samples
    assert result["config"]["timeout"] == 10 and result["config"]["n_samples"] == 1
    assert "AssertionError" in result["failed_examples"][0]["stderr_tail"]
    assert {"session", "rlimits", "audit_hook"} <= set(result["sandbox_layers"])
    assert emitted[0]["key"] == "HumanEval/0/0" and emitted[0]["task_id"] == "HumanEval/0"


def test_program_is_prompt_completion_test_and_check(data_dir: Path) -> None:
    p = problem(data_dir, 0)
    program = assemble_program(p.prompt, "    return True\n", p)
    assert program == f"{p.prompt}    return True\n\n{p.test}\ncheck({p.entry_point})\n"


def test_a_completion_is_cut_at_the_first_stop_sequence(data_dir: Path) -> None:
    tail = "\n\ndef other():\n    pass\nprint('x')\n"
    model = CannedModel(by_prompt(data_dir, lambda _, r: r["canonical_solution"] + tail))
    task, emitted = make_task(data_dir, limit=1)
    assert task.evaluate(model)["overall"]["passed"] == 1
    assert emitted[0]["completion"] == records(data_dir)[0]["canonical_solution"] + "\n"
    assert emitted[0]["_response"].endswith(tail)
    assert model.calls[0]["stop"] == list(STOP_SEQUENCES)
    assert model.calls[0]["seed"] is None and model.calls[0]["temperature"] == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("    return x\n\ndef f():", "    return x\n"),
        ("    return x\n# note\nclass A:", "    return x"),
        ("    if a:\n        return 1\nif __name__:", "    if a:\n        return 1"),
        ("    return x\nprint(1)\n#", "    return x"),
        ("    x = 1  # fine\n    return x", "    x = 1  # fine\n    return x"),
    ],
)
def test_truncate_at_stops(text: str, expected: str) -> None:
    assert truncate_at_stops(text) == expected


# -- chat models -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Here:\n```python\ndef f():\n    return 1\n```\nDone.", "def f():\n    return 1\n"),
        ("```\nx = 1\n```\n```python\ny = 2\n```", "x = 1\n"),
        ("```py\ndef f():\n    return 1", "def f():\n    return 1"),  # cut by the token limit
        ("def f():\n    return 1\n", "def f():\n    return 1\n"),  # no fence: the whole reply
    ],
)
def test_first_code_block_is_extracted(reply: str, expected: str) -> None:
    assert extract_code_block(reply) == expected


def test_chat_code_keeps_the_prompts_imports_and_helpers(data_dir: Path) -> None:
    p = problem(data_dir, 38)  # decode_cyclic calls the prompt's encode_cyclic
    code = "def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n"
    head, completion = chat_program_parts(p, code)
    assert completion == code and "def encode_cyclic(" in head and "def decode_cyclic" not in head
    body_only = "    return encode_cyclic(encode_cyclic(s))\n"
    assert chat_program_parts(p, body_only) == (p.prompt, body_only)
    head, _ = chat_program_parts(problem(data_dir, 0), "def has_close_elements(n, t):\n  pass\n")
    assert head.strip() == "from typing import List"


def test_chat_model_replies_are_extracted_and_run(data_dir: Path) -> None:
    def pick(index: int, record: dict[str, Any]) -> str:
        if index == 0:  # the whole function, needing the prompt's `List` import
            function = record["prompt"].split("\n\n\n", 1)[1] + record["canonical_solution"]
            return f"Sure!\n```python\n{function}```\nIt works <b>well</b>."
        return f"```python\n{record['canonical_solution']}```"  # a body only

    model = CannedModel(by_prompt(data_dir, pick), chat=True)
    task, emitted = make_task(data_dir, limit=2)
    result = task.evaluate(model)
    assert [s["status"] for s in emitted] == ["passed", "passed"]
    assert result["config"]["use_chat_template"] is True
    assert model.calls[0]["stop"] == []
    assert emitted[0]["_prompt"].startswith("<start_of_turn>user\nComplete the following")
    assert not emitted[0]["completion"].startswith("Sure")


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_samples": 5}, "n_samples=5 needs temperature > 0"),
        ({"k": []}, "humaneval.k: must be a non-empty list"),
        ({"k": [1, 0]}, "humaneval.k: must be a non-empty list"),
        ({"timeout": 0}, "humaneval.timeout"),
        ({"top_p": 1.5}, "humaneval.top_p"),
        ({"memory_mb": 16}, "humaneval.memory_mb"),
        ({"temprature": 0.2}, "humaneval.temprature"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskInitializationError, match=message):
        HumanevalBenchmark(options)


def test_option_defaults_and_determinism() -> None:
    task = HumanevalBenchmark({})
    assert (task.opts.timeout, task.opts.max_new_tokens, task.opts.n_samples) == (10, 512, 1)
    assert task.opts.k == [1, 10, 100] and task.deterministic
    sampled = HumanevalBenchmark({"temperature": 0.2, "n_samples": 3, "k": [10, 1, 1]})
    assert not sampled.deterministic and sampled.opts.k == [1, 10]
    assert resolve_task_class("humaneval") is HumanevalBenchmark


# -- failed examples, resume, seeding ----------------------------------------------------------


def test_failed_examples_are_capped_and_kept_raw(data_dir: Path) -> None:
    unsafe = "    return '<script>alert(\"&amp;\")</script>'\n"
    task, emitted = make_task(data_dir, limit=MAX_FAILED_EXAMPLES + 2)
    result = task.evaluate(CannedModel(lambda _: unsafe))
    assert len(emitted) == MAX_FAILED_EXAMPLES + 2 and result["overall"]["passed"] == 0
    examples = result["failed_examples"]
    assert len(examples) == MAX_FAILED_EXAMPLES
    assert [e["task_id"] for e in examples] == [f"HumanEval/{i}" for i in range(20)]
    assert examples[0]["completion"] == unsafe and examples[0]["status"] == "failed"
    assert set(examples[0]) == {"task_id", "sample_index", "completion", "status", "stderr_tail"}


def test_resume_skips_stored_samples(data_dir: Path) -> None:
    stored: Sample = {
        "key": "HumanEval/1/0",
        "task_id": "HumanEval/1",
        "sample_index": 0,
        "completion": WRONG,
        "status": "timeout",
        "correct": False,
        "stderr_tail": "",
    }
    model = CannedModel(by_prompt(data_dir, lambda _, r: r["canonical_solution"]))
    task, emitted = make_task(data_dir, limit=3)
    task.completed = {"HumanEval/1/0": stored}
    result = task.evaluate(model, num_samples=2)  # num_samples overrides limit
    assert [s["key"] for s in emitted] == ["HumanEval/0/0"]
    assert len(model.calls) == 1 and len(model.calls[0]["prompts"]) == 1
    assert result["overall"]["passed"] == 1 and result["overall"]["total"] == 2
    assert result["failed_examples"][0]["status"] == "timeout"


def test_sampling_seeds_follow_the_task_seed(data_dir: Path) -> None:
    def seeds(seed: int) -> list[int | None]:
        model = CannedModel(lambda _: WRONG)
        task, emitted = make_task(data_dir, limit=1, temperature=0.8, n_samples=3, k=[1, 2, 3])
        task.seed = seed
        result = task.evaluate(model)
        assert [s["key"] for s in emitted] == [f"HumanEval/0/{j}" for j in range(3)]
        assert result["pass_at_k"] == {"pass@1": 0.0, "pass@2": 0.0, "pass@3": 0.0}
        assert result["config"]["seed"] == seed
        return [call["seed"] for call in model.calls]

    first = seeds(1)
    assert first == [sample_seed(1, j, 0) for j in range(3)] and len(set(first)) == 3
    assert seeds(1) == first and not set(seeds(2)) & set(first)


# -- the real tiny model --------------------------------------------------------------------------


def test_tiny_gemma_end_to_end(tiny_gemma: Any, data_dir: Path) -> None:
    task, emitted = make_task(data_dir, limit=3, max_new_tokens=16)
    result = task.evaluate(tiny_gemma)
    assert result["overall"]["total"] == 3 and 0 <= result["overall"]["pass_at_1"] <= 1
    assert set(result["pass_at_k"]) == {"pass@1"}
    assert [s["task_id"] for s in emitted] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert {s["status"] for s in emitted} <= STATUSES
    assert all(isinstance(s["completion"], str) for s in emitted)
