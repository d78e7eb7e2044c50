"""GSM8K, prompted, generated and scored exactly as lm-evaluation-harness 0.4's `gsm8k`.

Default format (lm-eval `gsm8k`): k shots drawn from train by `random.Random(1234).sample`, one
draw per test item in test order (lm-eval's sampler), each `Question: q\\nAnswer: <full reference
answer with #### N>`, blank-line separated, then `Question: q\\nAnswer:`. Chain of thought (lm-eval
`gsm8k_cot`): the first k of Wei et al.'s eight exemplars as `Q: q\\nA: ... The answer is N.`.

Scoring keeps every stage: the raw completion, the strict and flexible extractions (lm-eval's
regex filters) and the exact-match decisions after lm-eval's normalisation. `numeric_match` goes
beyond lm-eval: it compares the flexible extraction and the reference as decimal numbers, so
`18.00` matches `18` (exact match counts that wrong).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from gemma_benchmark.data import find_dataset, read_jsonl
from gemma_benchmark.tasks.base import Sample, Task, TaskOptions, chunked, wants_chat_template
from gemma_benchmark.tasks.multiple_choice import accuracy_stats
from gemma_benchmark.tasks.registry import register_task

MAX_SHOTS = 8
FEWSHOT_SEED = 1234  # lm-eval's default `fewshot_random_seed`
CHUNK_DOCS = 128  # items per generate call: the unit of progress and of resume
MAX_FAILED_EXAMPLES = 20

STRICT_PATTERNS = {False: r"#### (\-?[0-9\.\,]+)", True: r"The answer is (\-?[0-9\.\,]+)."}
FLEXIBLE_PATTERN = r"(-?[$0-9.,]{2,})|(-?[0-9]+)"
# lm-eval's exact_match `regexes_to_ignore`, applied in this order, then lower-casing.
IGNORED_PATTERNS = (",", r"\$", r"(?s).*#### ", r"\.$")
STOPS = {False: ("Question:", "</s>", "<|im_end|>"), True: ("Q:", "</s>", "<|im_end|>")}


def normalise(text: str) -> str:
    """lm-eval's exact-match normalisation: drop `,` `$`, everything up to `#### `, one trailing
    `.`; lower-case."""
    for pattern in IGNORED_PATTERNS:
        text = re.sub(pattern, "", text)
    return text.lower()


def _find(pattern: str, text: str, which: int) -> str | None:
    """lm-eval's `RegexFilter`: match `which` of all; with several groups, its first non-empty."""
    matches = re.findall(pattern, text)
    if not matches:
        return None
    match = matches[which]
    if isinstance(match, tuple):
        match = next((group for group in match if group), None)
        if match is None:
            return None
    return str(match).strip()


def extract_answer(text: str, mode: str, chain_of_thought: bool = False) -> str | None:
    """The normalised answer in a completion, or None when nothing matches.

    `strict`: the first `#### N` (`The answer is N.` with chain of thought); `flexible`: the last
    number-like run anywhere. Raises ValueError for another mode.
    """
    if mode == "strict":
        found = _find(STRICT_PATTERNS[chain_of_thought], text, 0)
    elif mode == "flexible":
        found = _find(FLEXIBLE_PATTERN, text, -1)
    else:
        raise ValueError(f"mode must be 'strict' or 'flexible', got {mode!r}")
    return None if found is None else normalise(found)


def reference_answer(answer: str, chain_of_thought: bool = False) -> str:
    """The normalised target: lm-eval's `gsm8k` scores against the whole reference answer,
    `gsm8k_cot` against the text after its last `####`."""
    if chain_of_thought:
        answer = answer.split("####")[-1].strip()
    return normalise(answer)


def as_number(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def numeric_match(extracted: str | None, target: str) -> bool:
    """Whether both parse as decimal numbers and are equal (18.00 == 18)."""
    value, expected = as_number(extracted), as_number(target)
    return value is not None and expected is not None and value == expected


def cot_exemplars() -> list[dict[str, str]]:
    """Wei et al.'s eight exemplars (question, answer), from the packaged data file."""
    source = resources.files("gemma_benchmark.tasks") / "gsm8k_cot_exemplars.json"
    return list(json.loads(source.read_text(encoding="utf-8"))["exemplars"])


def format_turn(question: str, chain_of_thought: bool, answer: str | None = None) -> str:
    text = f"Q: {question}\nA:" if chain_of_thought else f"Question: {question}\nAnswer:"
    return text if answer is None else f"{text} {answer}\n\n"


def build_prompt(shots: list[dict[str, str]], question: str, chain_of_thought: bool) -> str:
    examples = "".join(format_turn(s["question"], chain_of_thought, s["answer"]) for s in shots)
    return examples + format_turn(question, chain_of_thought)


def sampled_shot_indices(pool_size: int, shots: int, items: int, seed: int) -> list[list[int]]:
    """lm-eval's `ContextSampler`: one `Random(seed)` drawing `shots` train indices per test item,
    in test order, so item i's shots depend only on i (not on which items are still to do)."""
    if shots == 0:
        return [[] for _ in range(items)]
    rng = random.Random(seed)
    return [rng.sample(range(pool_size), shots) for _ in range(items)]


class Gsm8kOptions(TaskOptions):
    shot_count: int = 5
    use_chain_of_thought: bool = False
    use_chat_template: bool | None = Field(
        default=None, description="None: on for instruction-tuned models with a template"
    )
    max_new_tokens: int = Field(default=256, ge=1)
    fewshot_seed: int = FEWSHOT_SEED
    limit: int | None = Field(default=None, ge=1, description="test items (the first n)")

    @field_validator("shot_count")
    @classmethod
    def _shots_in_range(cls, value: int) -> int:
        if not 0 <= value <= MAX_SHOTS:
            raise ValueError(f"must be between 0 and {MAX_SHOTS}, got {value}")
        return value


@dataclass(frozen=True)
class Gsm8kDoc:
    """One test item, ready to generate. `prompt` is before any chat template."""

    key: str
    doc_id: int
    question: str
    prompt: str
    target: str


@register_task("gsm8k")
class Gsm8kBenchmark(Task):
    """Grade-school math word problems, answered by free generation."""

    description = "GSM8K, k-shot generation scored by lm-eval's strict/flexible exact match"
    data_source = "gsm8k/{train,test}.jsonl or hub openai/gsm8k"
    Options = Gsm8kOptions

    @property
    def opts(self) -> Gsm8kOptions:
        assert isinstance(self.options, Gsm8kOptions)
        return self.options

    def load_data(self, num_samples: int | None = None) -> list[dict[str, Any]]:
        """The first `num_samples` (else `limit`, else all) test records."""
        if num_samples is not None and num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        records = read_jsonl(self._data_root() / "test.jsonl")
        count = num_samples if num_samples is not None else self.opts.limit
        return records[:count] if count is not None else records

    def _data_root(self) -> Path:
        return find_dataset("gsm8k", self.opts.data_dir)

    def count_items(self) -> int:
        return len(self.load_data())

    def shots_per_item(self, items: int) -> list[list[dict[str, str]]]:
        k, cot = self.opts.shot_count, self.opts.use_chain_of_thought
        if cot:
            return [cot_exemplars()[:k]] * items
        train = read_jsonl(self._data_root() / "train.jsonl") if k else []
        draws = sampled_shot_indices(len(train), k, items, self.opts.fewshot_seed)
        return [[train[i] for i in draw] for draw in draws]

    def build_docs(self, num_samples: int | None = None) -> list[Gsm8kDoc]:
        records = self.load_data(num_samples)
        cot = self.opts.use_chain_of_thought
        shots = self.shots_per_item(len(records))
        return [
            Gsm8kDoc(
                key=f"gsm8k/{doc_id}",
                doc_id=doc_id,
                question=record["question"],
                prompt=build_prompt(shots[doc_id], record["question"], cot),
                target=reference_answer(record["answer"], cot),
            )
            for doc_id, record in enumerate(records)
        ]

    def evaluate(self, model: Any, num_samples: int | None = None) -> dict[str, Any]:
        """Scores the first `num_samples` test items (default: option `limit`, else all)."""
        docs = self.build_docs(num_samples)
        chat = wants_chat_template(self.opts.use_chat_template, model)
        samples, pending = self.split_done(docs, key=lambda doc: doc.key)
        self.report_progress(len(samples), len(docs))
        pending.sort(key=lambda doc: -len(doc.prompt))  # similar lengths share a batch
        for chunk in chunked(pending, CHUNK_DOCS):
            scored = self.run_chunk(model, chunk, chat)
            self.emit(scored)
            samples.extend(scored)
            self.report_progress(len(samples), len(docs))
        return self.aggregate(samples, docs, chat)

    def run_chunk(self, model: Any, chunk: Sequence[Gsm8kDoc], chat: bool) -> list[Sample]:
        prompts = [model.apply_chat_template(d.prompt) if chat else d.prompt for d in chunk]
        completions = model.generate_batch(
            prompts,
            max_new_tokens=self.opts.max_new_tokens,
            stop=list(STOPS[self.opts.use_chain_of_thought]),
        )
        return [self.score(d, p, c) for d, p, c in zip(chunk, prompts, completions, strict=True)]

    def score(self, doc: Gsm8kDoc, prompt: str, completion: str) -> Sample:
        cot = self.opts.use_chain_of_thought
        flexible = extract_answer(completion, "flexible", cot)
        return {
            "key": doc.key,
            "doc_id": doc.doc_id,
            "prompt": prompt,
            "completion": completion,
            "extracted_strict": extract_answer(completion, "strict", cot),
            "extracted_flexible": flexible,
            "target": doc.target,
            "correct": flexible == doc.target,
            "_prompt": prompt,
            "_response": completion,
        }

    def aggregate(self, samples: list[Sample], docs: list[Gsm8kDoc], chat: bool) -> dict[str, Any]:
        """Metrics recomputed from the stored fields, so resumed samples count the same way."""
        samples = sorted(samples, key=lambda s: int(s["doc_id"]))
        strict = [s["extracted_strict"] == s["target"] for s in samples]
        flexible = [s["extracted_flexible"] == s["target"] for s in samples]
        numeric = [numeric_match(s["extracted_flexible"], s["target"]) for s in samples]
        return {
            "overall": accuracy_stats(flexible),
            "metrics": {
                "exact_match_strict": accuracy_stats(strict),
                "exact_match_flexible": accuracy_stats(flexible),
                "numeric_match": accuracy_stats(numeric),
            },
            "config": {
                "shot_count": self.opts.shot_count,
                "use_chain_of_thought": self.opts.use_chain_of_thought,
                "num_samples": len(samples),
                "use_chat_template": chat,
                "max_new_tokens": self.opts.max_new_tokens,
                "fewshot_seed": self.opts.fewshot_seed,
            },
            "failed_examples": failed_examples(samples, docs),
        }


def failed_examples(samples: list[Sample], docs: list[Gsm8kDoc]) -> list[dict[str, Any]]:
    """The first few wrong items (flexible exact match), in test order, for reading."""
    questions = {doc.doc_id: doc.question for doc in docs}
    wrong = [s for s in samples if s["extracted_flexible"] != s["target"]]
    return [
        {
            "doc_id": s["doc_id"],
            "question": questions.get(int(s["doc_id"]), ""),
            "completion": s["completion"],
            "extracted": s["extracted_flexible"],
            "target": s["target"],
        }
        for s in wrong[:MAX_FAILED_EXAMPLES]
    ]
