"""HumanEval: 164 Python functions written from their docstrings, judged by running their tests.

Each sample's program (see `humaneval_prompting`) runs in the sandbox, never in this process.
pass@k is Chen et al.'s unbiased estimator per problem, averaged over problems, reported for
each requested k no larger than the samples per problem. With temperature 0 decoding is greedy,
so one sample per problem is all there is; with temperature > 0, sample j of every problem in
chunk m is drawn with a seed derived from (`seed`, j, m), so a run repeats exactly and
`evaluation.runs` (which re-seeds each run) gives independent draws.

Problems go in chunks: generate every pending sample of the chunk, run the programs, emit the
scored samples. A crash loses at most one chunk, and a resumed run skips stored samples.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator, model_validator

from gemma_benchmark.data import find_dataset, read_jsonl
from gemma_benchmark.sandbox import SandboxResult, active_layers, run_programs
from gemma_benchmark.tasks.base import Sample, Task, TaskOptions, chunked, wants_chat_template
from gemma_benchmark.tasks.humaneval_prompting import (
    STOP_SEQUENCES,
    Problem,
    assemble_program,
    chat_message,
    chat_program_parts,
    extract_code_block,
    sample_seed,
    truncate_at_stops,
)
from gemma_benchmark.tasks.registry import register_task
from gemma_benchmark.utils.metrics import calculate_pass_at_k, standard_error

CHUNK_PROBLEMS = 32  # problems per chunk: the unit of progress and of resume
MAX_FAILED_EXAMPLES = 20
DEFAULT_SEED = 1234  # the orchestrator overrides it with `evaluation.seed + run_index`

WorkItem = tuple[Problem, int]
"""A problem and the index of one of its samples (0 .. n_samples-1)."""


class HumanevalOptions(TaskOptions):
    timeout: float = Field(default=10.0, gt=0, description="seconds per program, wall-clock")
    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_new_tokens: int = Field(default=512, ge=1)
    n_samples: int = Field(default=1, ge=1, description="completions per problem")
    k: list[int] = Field(default_factory=lambda: [1, 10, 100])
    workers: int | None = Field(default=None, ge=1, description="None: the CPU count")
    memory_mb: int = Field(default=1024, ge=64, description="address-space cap per program")
    use_chat_template: bool | None = Field(
        default=None, description="None: on for instruction-tuned models with a template"
    )
    limit: int | None = Field(default=None, ge=1, description="problems (the first n)")

    @field_validator("k")
    @classmethod
    def _k_positive(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value):
            raise ValueError(f"must be a non-empty list of integers >= 1, got {value}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _sampling_needs_temperature(self) -> HumanevalOptions:
        if self.n_samples > 1 and self.temperature == 0:
            raise ValueError(
                f"n_samples={self.n_samples} needs temperature > 0: at temperature 0 decoding "
                "is greedy and every sample would be the same completion"
            )
        return self


def sample_key(task_id: str, sample_index: int) -> str:
    return f"{task_id}/{sample_index}"


@register_task("humaneval")
class HumanevalBenchmark(Task):
    """Code generation judged by unit tests, reported as pass@k."""

    description = "HumanEval (164 problems), generation run in the sandbox, pass@k"
    data_source = "humaneval/HumanEval.jsonl.gz or hub openai/openai_humaneval"
    primary_metric = "pass_at_1"
    Options = HumanevalOptions

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.seed = DEFAULT_SEED

    @property
    def opts(self) -> HumanevalOptions:
        assert isinstance(self.options, HumanevalOptions)
        return self.options

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        """Greedy decoding repeats itself, so `evaluation.runs` needs only one run."""
        return self.opts.temperature == 0

    def load_data(self, num_samples: int | None = None) -> list[Problem]:
        """The first `num_samples` (else `limit`, else all 164) problems, in file order."""
        path = find_dataset("humaneval", self.opts.data_dir) / "HumanEval.jsonl.gz"
        count = num_samples if num_samples is not None else self.opts.limit
        records = read_jsonl(path)
        return [problem_of(i, r) for i, r in enumerate(records[:count] if count else records)]

    def count_items(self) -> int:
        return len(self.load_data()) * self.opts.n_samples

    def evaluate(self, model: Any, num_samples: int | None = None) -> dict[str, Any]:
        """Scores the first `num_samples` problems (an alias of `limit`; default: all)."""
        problems = self.load_data(num_samples)
        chat = wants_chat_template(self.opts.use_chat_template, model)
        items = [(p, j) for p in problems for j in range(self.opts.n_samples)]
        samples, pending = self.split_done(items, key=lambda it: sample_key(it[0].task_id, it[1]))
        pending_keys = {sample_key(p.task_id, j) for p, j in pending}
        done = len(samples)
        self.report_progress(done, len(items))
        for chunk_index, chunk in enumerate(chunked(problems, CHUNK_PROBLEMS)):
            todo = [(p, j) for p in chunk for j in range(self.opts.n_samples)]
            todo = [it for it in todo if sample_key(it[0].task_id, it[1]) in pending_keys]
            if not todo:
                continue
            scored = self.run_chunk(model, todo, chat, chunk_index)
            self.emit(scored)
            samples.extend(scored)
            done += len(scored)
            self.report_progress(done, len(items))
        return self.aggregate(samples, problems, chat)

    def run_chunk(
        self, model: Any, todo: list[WorkItem], chat: bool, chunk_index: int
    ) -> list[Sample]:
        """Generate, assemble and run every sample of one chunk; scored samples in `todo` order."""
        prompts = [chat_message(p.prompt) if chat else p.prompt for p, _ in todo]
        if chat:
            prompts = [model.apply_chat_template(prompt) for prompt in prompts]
        responses = self.generate(model, todo, prompts, chat, chunk_index)
        parts = [self.program_parts(p, r, chat) for (p, _), r in zip(todo, responses, strict=True)]
        programs = [assemble_program(h, c, p) for (p, _), (h, c) in zip(todo, parts, strict=True)]
        results = run_programs(
            programs,
            workers=self.opts.workers or os.cpu_count() or 1,
            timeout_s=self.opts.timeout,
            memory_mb=self.opts.memory_mb,
        )
        rows = zip(todo, prompts, responses, parts, results, strict=True)
        return [score(item, prompt, resp, part[1], res) for item, prompt, resp, part, res in rows]

    def generate(
        self, model: Any, todo: list[WorkItem], prompts: list[str], chat: bool, chunk_index: int
    ) -> list[str]:
        """Raw responses in `todo` order: one `generate_batch` call per sample index, so each
        call has its own seed (the backend seeds per call)."""
        greedy = self.opts.temperature == 0
        responses = [""] * len(todo)
        for j in sorted({j for _, j in todo}):
            positions = [i for i, (_, index) in enumerate(todo) if index == j]
            outputs = model.generate_batch(
                [prompts[i] for i in positions],
                max_new_tokens=self.opts.max_new_tokens,
                stop=[] if chat else list(STOP_SEQUENCES),
                temperature=self.opts.temperature,
                top_p=self.opts.top_p,
                seed=None if greedy else sample_seed(self.seed, j, chunk_index),
            )
            for i, output in zip(positions, outputs, strict=True):
                responses[i] = output
        return responses

    @staticmethod
    def program_parts(problem: Problem, response: str, chat: bool) -> tuple[str, str]:
        """(head, completion) of the program; the completion is what is stored and shown."""
        if chat:
            return chat_program_parts(problem, extract_code_block(response))
        return problem.prompt, truncate_at_stops(response)

    def aggregate(
        self, samples: list[Sample], problems: list[Problem], chat: bool
    ) -> dict[str, Any]:
        """Metrics recomputed from the stored fields, so resumed samples count the same way."""
        order = {p.task_id: p.index for p in problems}
        samples = sorted(samples, key=lambda s: (order[s["task_id"]], int(s["sample_index"])))
        counts = pass_counts(samples)
        return {
            "overall": overall_stats(counts, samples),
            "pass_at_k": pass_at_k(counts, self.opts.k),
            "status_counts": dict(Counter(str(s["status"]) for s in samples)),
            "config": self.result_config(chat),
            "failed_examples": failed_examples(samples),
            "sandbox_layers": list(active_layers()),
        }

    def result_config(self, chat: bool) -> dict[str, Any]:
        opts = self.opts
        config: dict[str, Any] = {
            "temperature": opts.temperature,
            "top_p": opts.top_p,
            "max_new_tokens": opts.max_new_tokens,
            "timeout": opts.timeout,
            "memory_mb": opts.memory_mb,
            "n_samples": opts.n_samples,
            "k": opts.k,
            "use_chat_template": chat,
        }
        if opts.temperature > 0:
            config["seed"] = self.seed
        return config


def problem_of(index: int, record: dict[str, Any]) -> Problem:
    return Problem(
        task_id=str(record["task_id"]),
        index=index,
        prompt=str(record["prompt"]),
        entry_point=str(record["entry_point"]),
        test=str(record["test"]),
    )


def score(
    item: WorkItem, prompt: str, response: str, completion: str, result: SandboxResult
) -> Sample:
    problem, j = item
    return {
        "key": sample_key(problem.task_id, j),
        "task_id": problem.task_id,
        "sample_index": j,
        "completion": completion,
        "status": result.status,
        "correct": result.passed,
        "stderr_tail": "" if result.passed else result.stderr_tail,
        "duration_s": round(result.duration_s, 3),
        "_prompt": prompt,
        "_response": response,
    }


def pass_counts(samples: Sequence[Sample]) -> dict[str, tuple[int, int]]:
    """(samples, passing samples) per task_id, in first-seen order."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sample in samples:
        entry = tally[str(sample["task_id"])]
        entry[0] += 1
        entry[1] += int(bool(sample["correct"]))
    return {task_id: (n, c) for task_id, (n, c) in tally.items()}


def pass_at_k(counts: dict[str, tuple[int, int]], ks: Sequence[int]) -> dict[str, float]:
    """Mean over problems of the unbiased pass@k, for each k every problem has enough samples
    for (a k above that is left out rather than estimated from too few)."""
    if not counts:
        return {}
    fewest = min(n for n, _ in counts.values())
    return {
        f"pass@{k}": sum(calculate_pass_at_k(n, c, k) for n, c in counts.values()) / len(counts)
        for k in ks
        if k <= fewest
    }


def overall_stats(counts: dict[str, tuple[int, int]], samples: Sequence[Sample]) -> dict[str, Any]:
    """`total` counts problems and `passed` those with a passing sample, so with one sample per
    problem pass_at_1 = passed / total; `stderr` is over problems' pass fractions."""
    fractions = [c / n for n, c in counts.values()]
    total = len(fractions)
    return {
        "passed": sum(1 for _, c in counts.values() if c > 0),
        "total": total,
        "pass_at_1": sum(fractions) / total if total else 0.0,
        "stderr": standard_error(fractions) if total > 1 else None,
        "samples": len(samples),
        "samples_passed": sum(1 for s in samples if s["correct"]),
    }


def failed_examples(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """The first few failing samples in problem order, raw (escaping is the report's job)."""
    failing = [s for s in samples if not s["correct"]]
    return [
        {
            "task_id": s["task_id"],
            "sample_index": s["sample_index"],
            "completion": s["completion"],
            "status": s["status"],
            "stderr_tail": s["stderr_tail"],
        }
        for s in failing[:MAX_FAILED_EXAMPLES]
    ]
