"""MMLU, prompted and scored exactly as lm-evaluation-harness 0.4's `mmlu` task.

Prompt: the subject description, k dev-split shots (first k in file order; beyond 5, the
validation split follows), then `question\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer:`. The prediction is
the argmax log-likelihood of " A".." D". Subject accuracy is a mean; category and overall accuracy
are micro-averages over questions, as lm-eval's `weight_by_size` aggregation.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from gemma_benchmark.data import find_dataset, read_mmlu_split
from gemma_benchmark.data.readers import MMLURow
from gemma_benchmark.tasks.base import TaskOptions
from gemma_benchmark.tasks.mmlu_subjects import SUBJECT_CATEGORIES, resolve_subset
from gemma_benchmark.tasks.multiple_choice import ChoiceDoc, MultipleChoiceTask
from gemma_benchmark.tasks.registry import register_task

LETTERS = ("A", "B", "C", "D")
DEV_SHOTS = 5  # the dev split has exactly five questions per subject


class MMLUOptions(TaskOptions):
    subset: str | list[str] = "all"
    shot_count: int = 5
    limit: int | None = Field(default=None, ge=1, description="questions per subject")

    @field_validator("shot_count")
    @classmethod
    def _shots_in_range(cls, value: int) -> int:
        if not 0 <= value <= 10:
            raise ValueError(f"must be between 0 and 10, got {value}")
        return value

    @field_validator("subset")
    @classmethod
    def _known_subset(cls, value: str | list[str]) -> str | list[str]:
        resolve_subset(value)
        return value


def format_question(row: MMLURow) -> str:
    options = "".join(
        f"\n{letter}. {text}" for letter, text in zip(LETTERS, row.choices, strict=True)
    )
    return f"{row.question.strip()}{options}\nAnswer:"


def description(subject: str) -> str:
    topic = subject.replace("_", " ")
    return f"The following are multiple choice questions (with answers) about {topic}.\n\n"


def build_context(subject: str, shots: list[MMLURow], row: MMLURow) -> str:
    examples = "".join(f"{format_question(shot)} {shot.answer}\n\n" for shot in shots)
    return description(subject) + examples + format_question(row)


@register_task("mmlu")
class MMLUBenchmark(MultipleChoiceTask):
    """Massive Multitask Language Understanding: 57 subjects, 4-way multiple choice."""

    description = "MMLU (57 subjects), k-shot log-likelihood multiple choice, as lm-eval `mmlu`"
    data_source = "mmlu/{dev,val,test}/<subject>_<split>.csv or hub cais/mmlu"
    Options = MMLUOptions
    group_field = "subject"

    @property
    def opts(self) -> MMLUOptions:
        assert isinstance(self.options, MMLUOptions)
        return self.options

    def subjects(self) -> list[str]:
        return resolve_subset(self.opts.subset)

    def load_data(self) -> dict[str, list[MMLURow]]:
        """Test questions per subject (first `limit` of each, when set)."""
        root = self._data_root()
        rows = {s: read_mmlu_split(root, s, "test") for s in self.subjects()}
        limit = self.opts.limit
        return {s: r[:limit] if limit else r for s, r in rows.items()}

    def _data_root(self) -> Path:
        return find_dataset("mmlu", self.opts.data_dir)

    def shots_for(self, root: Path, subject: str) -> list[MMLURow]:
        k = self.opts.shot_count
        shots = read_mmlu_split(root, subject, "dev")[:k]
        if k > DEV_SHOTS:
            shots += read_mmlu_split(root, subject, "val")[: k - DEV_SHOTS]
        return shots

    def build_docs(self) -> list[ChoiceDoc]:
        root = self._data_root()
        docs = []
        for subject, rows in self.load_data().items():
            shots = self.shots_for(root, subject)
            for row in rows:
                docs.append(
                    ChoiceDoc(
                        key=f"{subject}/{row.row_index}",
                        doc_id=row.row_index,
                        group=subject,
                        context=build_context(subject, shots, row),
                        continuations=tuple(f" {letter}" for letter in LETTERS),
                        target=LETTERS.index(row.answer),
                        labels=LETTERS,
                    )
                )
        return docs

    def category_of(self, group: str) -> str | None:
        return SUBJECT_CATEGORIES.get(group)
