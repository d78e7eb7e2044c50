"""Log-likelihood multiple choice: the shape shared by MMLU, ARC, HellaSwag and TruthfulQA.

A task turns its data into `ChoiceDoc`s (context, continuations, target); this module asks the
model for the log-likelihood of every continuation, picks the argmax, and aggregates accuracy
per group, category and overall. Docs are processed in chunks of one group so that requests
sharing a few-shot prefix reach the backend together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gemma_benchmark.tasks.base import Sample, Task, chunked
from gemma_benchmark.utils.metrics import standard_error

CHUNK_DOCS = 512


@dataclass(frozen=True)
class ChoiceDoc:
    """One question, ready to score. `key` is unique within the task."""

    key: str
    doc_id: int
    group: str
    context: str
    continuations: tuple[str, ...]
    target: int
    labels: tuple[str, ...]


def accuracy_stats(correct: Sequence[bool]) -> dict[str, Any]:
    """Correct, total, accuracy (fraction) and its standard error (sample std / sqrt(n))."""
    values = [1.0 if c else 0.0 for c in correct]
    total = len(values)
    hits = int(sum(values))
    return {
        "correct": hits,
        "total": total,
        "accuracy": hits / total if total else 0.0,
        "stderr": standard_error(values) if total > 1 else None,
    }


class MultipleChoiceTask(Task):
    """Base for tasks scored by the argmax of continuation log-likelihoods."""

    group_field = "group"

    def build_docs(self) -> list[ChoiceDoc]:
        raise NotImplementedError

    def category_of(self, group: str) -> str | None:
        """A group's category, for tasks with a two-level breakdown (MMLU)."""
        return None

    def evaluate(self, model: Any) -> dict[str, Any]:
        docs = self.build_docs()
        samples, pending = self.split_done(docs, key=lambda doc: doc.key)
        done = len(samples)
        self.report_progress(done, len(docs))
        for chunk in self._chunks(pending):
            requests = [(doc.context, cont) for doc in chunk for cont in doc.continuations]
            scores = model.loglikelihood(requests)
            scored = self._score_chunk(chunk, scores)
            self.emit(scored)
            samples.extend(scored)
            done += len(chunk)
            self.report_progress(done, len(docs))
        return self.aggregate(samples)

    def _chunks(self, docs: list[ChoiceDoc]) -> list[Sequence[ChoiceDoc]]:
        by_group: dict[str, list[ChoiceDoc]] = defaultdict(list)
        for doc in docs:
            by_group[doc.group].append(doc)
        return [chunk for group in by_group.values() for chunk in chunked(group, CHUNK_DOCS)]

    def _score_chunk(self, chunk: Sequence[ChoiceDoc], scores: Sequence[float]) -> list[Sample]:
        samples, offset = [], 0
        for doc in chunk:
            doc_scores = list(scores[offset : offset + len(doc.continuations)])
            offset += len(doc.continuations)
            samples.append(self.score_doc(doc, doc_scores))
        return samples

    def score_doc(self, doc: ChoiceDoc, scores: list[float]) -> Sample:
        predicted = max(range(len(scores)), key=lambda i: scores[i])
        return {
            "key": doc.key,
            "doc_id": doc.doc_id,
            self.group_field: doc.group,
            "target": doc.labels[doc.target],
            "prediction": doc.labels[predicted],
            "correct": predicted == doc.target,
            "scores": scores,
            "_prompt": doc.context,
            "_response": doc.labels[predicted],
        }

    def aggregate(self, samples: list[Sample]) -> dict[str, Any]:
        """Overall, per-group and per-category accuracy; micro-averaged over items."""
        by_group: dict[str, list[bool]] = defaultdict(list)
        by_category: dict[str, list[bool]] = defaultdict(list)
        for sample in samples:
            group = sample[self.group_field]
            by_group[group].append(bool(sample["correct"]))
            category = self.category_of(group)
            if category is not None:
                by_category[category].append(bool(sample["correct"]))
        result: dict[str, Any] = {
            "overall": accuracy_stats([bool(s["correct"]) for s in samples]),
            "subjects": {g: accuracy_stats(v) for g, v in sorted(by_group.items())},
        }
        if by_category:
            result["categories"] = {c: accuracy_stats(v) for c, v in sorted(by_category.items())}
        return result
