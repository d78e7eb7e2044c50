"""HellaSwag, preprocessed, prompted and scored exactly as lm-evaluation-harness 0.4's `hellaswag`.

Validation split (the test labels are not public), zero-shot. Context:
`preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())`; the four continuations are
` ` + `preprocess(ending)`. `preprocess` is lm-eval's: strip, ` [title]` -> `. `, drop every
`[...]` (WikiHow artefacts), then one pass of `"  "` -> `" "`. `acc_norm` divides by the character
length of the preprocessed ending. The breakdown is by `activity_label` (192 of them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import Field

from gemma_benchmark.data import find_dataset
from gemma_benchmark.data.readers import iter_jsonl
from gemma_benchmark.exceptions import DataNotFoundError
from gemma_benchmark.tasks.base import TaskOptions
from gemma_benchmark.tasks.multiple_choice import ChoiceDoc, MultipleChoiceTask
from gemma_benchmark.tasks.registry import register_task

VALIDATION_FILE = "hellaswag_val.jsonl.gz"
LABELS = ("0", "1", "2", "3")


def preprocess(text: str) -> str:
    """lm-eval's `hellaswag.utils.preprocess`, step for step (the order matters)."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def hellaswag_context(record: dict[str, Any]) -> str:
    """The query: `str.capitalize` also lower-cases the rest of ctx_b, as in lm-eval."""
    ctx = record["ctx_a"] + " " + record["ctx_b"].capitalize()
    return preprocess(record["activity_label"] + ": " + ctx)


@dataclass(frozen=True)
class HellaswagItem:
    index: int
    activity_label: str
    context: str
    endings: tuple[str, ...]
    label: int


def parse_record(index: int, record: dict[str, Any], where: str) -> HellaswagItem:
    """A validation record -> its preprocessed item; DataNotFoundError when malformed."""
    try:
        endings = tuple(preprocess(e) for e in record["endings"])
        item = HellaswagItem(
            index=index,
            activity_label=str(record["activity_label"]),
            context=hellaswag_context(record),
            endings=endings,
            label=int(record["label"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise DataNotFoundError(f"{where}: not a HellaSwag record ({err!r})") from None
    if len(endings) != len(LABELS) or not 0 <= item.label < len(endings):
        raise DataNotFoundError(f"{where}: needs 4 endings and a label in 0-3")
    return item


def read_hellaswag(hellaswag_dir: Path, limit: int | None = None) -> list[HellaswagItem]:
    path = Path(hellaswag_dir) / VALIDATION_FILE
    records = islice(iter_jsonl(path), limit)  # limit None: all
    return [parse_record(i, r, f"{path}: row {i}") for i, r in enumerate(records)]


def hellaswag_doc(item: HellaswagItem) -> ChoiceDoc:
    return ChoiceDoc(
        key=f"hellaswag/{item.index}",
        doc_id=item.index,
        group=item.activity_label,
        context=item.context,
        continuations=tuple(f" {ending}" for ending in item.endings),
        target=item.label,
        labels=LABELS,
        norm_lengths=tuple(len(ending) for ending in item.endings),
    )


class HellaswagOptions(TaskOptions):
    limit: int | None = Field(default=None, ge=1, description="validation items (the first n)")


@register_task("hellaswag")
class HellaswagBenchmark(MultipleChoiceTask):
    """Commonsense sentence completion (ActivityNet and WikiHow contexts), four endings."""

    description = "HellaSwag validation, 0-shot log-likelihood MC (acc, acc_norm), as lm-eval"
    data_source = "hellaswag/hellaswag_val.jsonl.gz or hub Rowan/hellaswag"
    Options = HellaswagOptions
    group_field = "activity_label"
    chunk_by_group = False  # zero-shot: no shared prefix, so keep backend batches full
    group_breakdown = "categories"

    def load_data(self) -> list[HellaswagItem]:
        """Validation items in file order (the first `limit`, when set)."""
        return read_hellaswag(find_dataset("hellaswag", self.options.data_dir), self.options.limit)

    def build_docs(self) -> list[ChoiceDoc]:
        return [hellaswag_doc(item) for item in self.load_data()]
