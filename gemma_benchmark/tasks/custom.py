"""User-defined tasks from a data file (`type: custom`): multiple choice or generation.

Multiple choice (JSONL or CSV): the config names the question field, the choices (one list field
or several columns) and the answer (a 0-based index, a letter or the choice text). Each choice is
scored as the continuation `target_delimiter + choice` (or `+ letter`) after the rendered prompt,
exactly like the built-in log-likelihood tasks; `metric` picks `acc` or `acc_norm` as `overall`
and both are reported. Generation (JSONL or CSV): the prompt is completed greedily up to a stop
string, then scored by `custom_scoring` (optional regex, then exact / contains / numeric).

Few-shot: the first `shot_count` rows of `fewshot_file` (same fields), each rendered as
`prompt + target_delimiter + answer + fewshot_delimiter`, lm-eval's layout. The whole file is
read and every prompt rendered when the task is built, so bad data fails before any model runs.
Relative paths are relative to the working directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gemma_benchmark.exceptions import TaskInitializationError
from gemma_benchmark.tasks.base import Sample, TaskOptions, chunked
from gemma_benchmark.tasks.custom_data import (
    LETTERS,
    Row,
    answer_index,
    choices_of,
    compile_template,
    read_rows,
    render,
    require,
)
from gemma_benchmark.tasks.custom_scoring import MatchMode, extract, is_match, parse_number
from gemma_benchmark.tasks.multiple_choice import ChoiceDoc, MultipleChoiceTask, accuracy_stats
from gemma_benchmark.tasks.registry import register_task

GENERATION_CHUNK = 64  # prompts per generate call: the unit of progress and of resume
MAX_FAILED_EXAMPLES = 10
NO_CATEGORY = "all"


class FieldNames(BaseModel):
    """Which fields (JSON keys or CSV columns) hold what."""

    model_config = ConfigDict(extra="forbid")
    question: str = "question"
    choices: str | list[str] = Field(default="choices", description="a list field, or columns")
    answer: str = "answer"
    category: str | None = Field(default=None, description="optional: per-category breakdown")


class CustomOptions(TaskOptions):
    format: Literal["multiple_choice", "generation"] = "multiple_choice"
    data_file: str
    file_format: Literal["jsonl", "csv"] | None = Field(default=None, description="by suffix")
    fields: FieldNames = Field(default_factory=FieldNames)
    answer_type: Literal["auto", "index", "letter", "text"] = "auto"
    prompt_template: str = "Question: {{ question }}\nAnswer:"
    continuation: Literal["text", "letter"] = "text"
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    fewshot_file: str | None = None
    shot_count: int = Field(default=0, ge=0)
    metric: Literal["acc", "acc_norm"] = "acc"
    stop: list[str] = Field(default_factory=lambda: ["\n\n"])
    max_new_tokens: int = Field(default=32, ge=1)
    answer_regex: str | None = None
    match: MatchMode = "exact"
    ignore_case: bool = False
    use_chat_template: bool = False
    limit: int | None = Field(default=None, ge=1, description="rows (the first n)")

    @field_validator("prompt_template")
    @classmethod
    def _template_parses(cls, value: str) -> str:
        compile_template(value)
        return value

    @field_validator("answer_regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"not a valid regular expression: {err}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CustomOptions:
        if self.shot_count and self.fewshot_file is None:
            raise ValueError(f"shot_count is {self.shot_count} but no fewshot_file is given")
        if self.format == "generation" and self.metric != "acc":
            raise ValueError("metric acc_norm applies to format multiple_choice only")
        return self


@dataclass(frozen=True)
class CustomItem:
    """One checked row: its prompt (few-shot prefix included) and answer."""

    index: int
    line: int
    category: str
    prompt: str
    choices: tuple[str, ...] | None  # None for generation
    answer: int | None  # index into choices; None for generation
    target: str  # the answer's text as it follows a prompt


@register_task("custom")
class CustomBenchmark(MultipleChoiceTask):
    """A task defined by a data file and a config, with no Python to write."""

    description = "Your own task from JSONL/CSV: log-likelihood multiple choice or generation"
    data_source = "the config's data_file (and fewshot_file), JSONL or CSV"
    Options = CustomOptions
    group_field = "category"
    chunk_by_group = False
    group_breakdown = "categories"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.template = compile_template(self.opts.prompt_template)
        self.pattern = re.compile(self.opts.answer_regex) if self.opts.answer_regex else None
        prefix = self._fewshot_prefix()
        rows = read_rows(Path(self.opts.data_file), self.opts.file_format)
        rows = rows[: self.opts.limit] if self.opts.limit else rows
        self.items = [self._item(i, row, self.opts.data_file, prefix) for i, row in enumerate(rows)]

    @property
    def opts(self) -> CustomOptions:
        assert isinstance(self.options, CustomOptions)
        return self.options

    # -- data -------------------------------------------------------------------------------

    def _fewshot_prefix(self) -> str:
        if not self.opts.shot_count or self.opts.fewshot_file is None:
            return ""
        path = self.opts.fewshot_file
        rows = read_rows(Path(path), self.opts.file_format)
        if len(rows) < self.opts.shot_count:
            raise TaskInitializationError(
                f"{path}: shot_count is {self.opts.shot_count} but the file has {len(rows)} rows"
            )
        shots = [self._item(i, row, path, "") for i, row in enumerate(rows[: self.opts.shot_count])]
        delimiter = self.opts.target_delimiter
        return "".join(
            f"{s.prompt}{delimiter}{s.target}{self.opts.fewshot_delimiter}" for s in shots
        )

    def _item(self, index: int, row: Row, path: str, prefix: str) -> CustomItem:
        where = f"{path}: line {row.line}"
        names = self.opts.fields
        question = require(row, names.question, where)
        answer = require(row, names.answer, where)
        category = str(require(row, names.category, where)) if names.category else NO_CATEGORY
        choices, chosen, target = None, None, str(answer).strip()
        if self.opts.format == "multiple_choice":
            choices = choices_of(row, names.choices, where)
            chosen = answer_index(answer, choices, self.opts.answer_type, where)
            target = self._answer_text(choices, chosen)
        elif self.opts.match == "numeric" and parse_number(target) is None:
            raise TaskInitializationError(f"{where}: answer {answer!r} is not a number")
        context = {
            **row.record,
            "row": row.record,
            "question": question,
            "choices": list(choices or ()),
            "letters": list(LETTERS[: len(choices or ())]),
        }
        prompt = render(self.template, context, where, "prompt_template")
        return CustomItem(index, row.line, category, prefix + prompt, choices, chosen, target)

    def _answer_text(self, choices: tuple[str, ...], index: int) -> str:
        return LETTERS[index] if self.opts.continuation == "letter" else choices[index]

    def count_items(self) -> int:
        return len(self.items)

    # -- multiple choice --------------------------------------------------------------------

    def build_docs(self) -> list[ChoiceDoc]:
        docs = []
        for item in self.items:
            assert item.choices is not None and item.answer is not None
            texts = [self._answer_text(item.choices, i) for i in range(len(item.choices))]
            docs.append(
                ChoiceDoc(
                    key=f"custom/{item.index}",
                    doc_id=item.index,
                    group=item.category,
                    context=item.prompt,
                    continuations=tuple(self.opts.target_delimiter + t for t in texts),
                    target=item.answer,
                    labels=tuple(LETTERS[: len(texts)]),
                    norm_lengths=tuple(len(t) for t in texts),
                )
            )
        return docs

    def score_doc(self, doc: ChoiceDoc, scores: list[float]) -> Sample:
        """`prediction` / `correct` follow the chosen metric (what paired tests compare); the
        plain argmax is kept as `prediction_acc` / `correct_acc`."""
        sample = super().score_doc(doc, scores)
        sample["prediction_acc"], sample["correct_acc"] = sample["prediction"], sample["correct"]
        if self.opts.metric == "acc_norm":
            sample["prediction"], sample["correct"] = (
                sample["prediction_norm"],
                sample["correct_norm"],
            )
            sample["_response"] = sample["prediction"]
        return sample

    def evaluate(self, model: Any) -> dict[str, Any]:
        if self.opts.format == "generation":
            return self._evaluate_generation(model)
        result = super().evaluate(model)
        result["metric"] = self.opts.metric
        if self.opts.fields.category is None:
            result.pop(self.group_breakdown or "", None)
        return result

    def aggregate(self, samples: list[Sample]) -> dict[str, Any]:
        result = super().aggregate(samples)
        result["acc"] = accuracy_stats([bool(s["correct_acc"]) for s in samples])
        return result

    # -- generation -------------------------------------------------------------------------

    def _evaluate_generation(self, model: Any) -> dict[str, Any]:
        samples, pending = self.split_done(self.items, key=lambda item: f"custom/{item.index}")
        done = len(samples)
        self.report_progress(done, len(self.items))
        chat = self.opts.use_chat_template
        for chunk in chunked(pending, GENERATION_CHUNK):
            prompts = [model.apply_chat_template(i.prompt) if chat else i.prompt for i in chunk]
            completions = model.generate_batch(
                prompts, max_new_tokens=self.opts.max_new_tokens, stop=list(self.opts.stop)
            )
            scored = [
                self._score_generation(i, p, c)
                for i, p, c in zip(chunk, prompts, completions, strict=True)
            ]
            self.emit(scored)
            samples.extend(scored)
            done += len(chunk)
            self.report_progress(done, len(self.items))
        return self._aggregate_generation(samples)

    def _score_generation(self, item: CustomItem, prompt: str, completion: str) -> Sample:
        extracted = extract(completion, self.pattern)
        return {
            "key": f"custom/{item.index}",
            "doc_id": item.index,
            "line": item.line,
            self.group_field: item.category,
            "completion": completion,
            "extracted": extracted,
            "target": item.target,
            "correct": is_match(extracted, item.target, self.opts.match, self.opts.ignore_case),
            "_prompt": prompt,
            "_response": completion,
        }

    def _aggregate_generation(self, samples: list[Sample]) -> dict[str, Any]:
        samples = sorted(samples, key=lambda s: int(s["doc_id"]))
        result: dict[str, Any] = {
            "overall": accuracy_stats([bool(s["correct"]) for s in samples]),
            "metric": f"{self.opts.match}_match",
        }
        if self.opts.fields.category is not None:
            groups: dict[str, list[bool]] = {}
            for sample in samples:
                groups.setdefault(sample[self.group_field], []).append(bool(sample["correct"]))
            result["categories"] = {g: accuracy_stats(v) for g, v in sorted(groups.items())}
        result["failed_examples"] = [
            {k: s[k] for k in ("doc_id", "line", "completion", "extracted", "target")}
            for s in samples
            if not s["correct"]
        ][:MAX_FAILED_EXAMPLES]
        return result
