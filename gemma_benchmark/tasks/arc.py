"""ARC (AI2 Reasoning Challenge), prompted and scored exactly as lm-evaluation-harness 0.4's
`arc_challenge` / `arc_easy`.

Zero-shot, test split: `Question: {stem}\\nAnswer:`, each choice text scored as the continuation
` {text}`. `acc` is the argmax log-likelihood; `acc_norm` divides each by the character length of
the choice text (without the leading space), as lm-eval does. Data is AI2's JSONL release
(`arc/ARC-Challenge/ARC-Challenge-Test.jsonl`, ...); the hub copy `allenai/ai2_arc` holds the
same rows (see `gemma_benchmark.data.hub_extra`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from gemma_benchmark.data import find_dataset, read_jsonl
from gemma_benchmark.exceptions import DataNotFoundError
from gemma_benchmark.tasks.base import TaskOptions
from gemma_benchmark.tasks.multiple_choice import ChoiceDoc, MultipleChoiceTask
from gemma_benchmark.tasks.registry import register_task

SPLIT_FILES = {"test": "Test", "validation": "Dev", "train": "Train"}


@dataclass(frozen=True)
class ArcRow:
    """One question as in the hub's `allenai/ai2_arc` rows."""

    id: str
    question: str
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    answer_key: str


def arc_file(arc_dir: Path, subset: str, split: str = "test") -> Path:
    """`<arc_dir>/ARC-Challenge/ARC-Challenge-Test.jsonl` and the like."""
    return Path(arc_dir) / subset / f"{subset}-{SPLIT_FILES[split]}.jsonl"


def parse_arc_record(record: dict[str, Any], where: str) -> ArcRow:
    """An AI2 JSONL record -> ArcRow; raises DataNotFoundError naming `where` when malformed."""
    try:
        question = record["question"]
        choices = question["choices"]
        row = ArcRow(
            id=str(record["id"]),
            question=str(question["stem"]),
            texts=tuple(str(c["text"]) for c in choices),
            labels=tuple(str(c["label"]) for c in choices),
            answer_key=str(record["answerKey"]),
        )
    except (KeyError, TypeError) as err:
        raise DataNotFoundError(f"{where}: not an AI2 ARC record (missing {err})") from None
    if row.answer_key not in row.labels:
        raise DataNotFoundError(f"{where}: answerKey {row.answer_key!r} not among {row.labels}")
    return row


def read_arc(arc_dir: Path, subset: str, split: str = "test") -> list[ArcRow]:
    path = arc_file(arc_dir, subset, split)
    return [parse_arc_record(r, f"{path}: row {i}") for i, r in enumerate(read_jsonl(path))]


def arc_doc(subset: str, index: int, row: ArcRow) -> ChoiceDoc:
    return ChoiceDoc(
        key=f"{subset}/{row.id}",
        doc_id=index,
        group=subset,
        context=f"Question: {row.question}\nAnswer:",
        continuations=tuple(f" {text}" for text in row.texts),
        target=row.labels.index(row.answer_key),
        labels=row.labels,
        norm_lengths=tuple(len(text) for text in row.texts),
    )


class ArcOptions(TaskOptions):
    limit: int | None = Field(default=None, ge=1, description="test questions (the first n)")


class ArcTask(MultipleChoiceTask):
    """Shared body of the two ARC subsets; subclasses name theirs."""

    subset: ClassVar[str] = ""
    primary_metric = "accuracy"
    Options = ArcOptions
    group_field = "subset"
    group_breakdown = None

    def load_data(self) -> list[ArcRow]:
        """Test questions in file order (the first `limit`, when set)."""
        rows = read_arc(find_dataset("arc", self.options.data_dir), self.subset)
        return rows[: self.options.limit] if self.options.limit else rows

    def build_docs(self) -> list[ChoiceDoc]:
        return [arc_doc(self.subset, i, row) for i, row in enumerate(self.load_data())]


@register_task("arc_challenge")
class ArcChallengeBenchmark(ArcTask):
    """ARC Challenge set: grade-school science questions that retrieval baselines fail."""

    subset = "ARC-Challenge"
    description = "ARC-Challenge, 0-shot log-likelihood MC (acc, acc_norm), as lm-eval"
    data_source = "arc/ARC-Challenge/ARC-Challenge-Test.jsonl or hub allenai/ai2_arc"


@register_task("arc_easy")
class ArcEasyBenchmark(ArcTask):
    """ARC Easy set."""

    subset = "ARC-Easy"
    description = "ARC-Easy, 0-shot log-likelihood MC (acc, acc_norm), as lm-eval"
    data_source = "arc/ARC-Easy/ARC-Easy-Test.jsonl or hub allenai/ai2_arc"
