"""Log-likelihood multiple choice: the shape shared by MMLU, ARC, HellaSwag and TruthfulQA.

A task turns its data into `ChoiceDoc`s (context, continuations, target); this module asks the
model for the log-likelihood of every continuation, picks the argmax, and aggregates accuracy
per group, category and overall. Docs are processed in chunks of one group so that requests
sharing a few-shot prefix reach the backend together.

A doc that carries `norm_lengths` is also scored as lm-eval's `acc_norm`: the argmax of
log-likelihood divided by the character length of each choice text (Python `len` of the choice
without the leading target delimiter, not its UTF-8 byte count; lm-eval 0.4 `acc_norm`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

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
    norm_lengths: tuple[int, ...] | None = None
    """Per-continuation divisor for `acc_norm` (see the module docstring); None: no acc_norm."""


def argmax(values: Sequence[float]) -> int:
    """Index of the first maximum, as `numpy.argmax` breaks ties."""
    return max(range(len(values)), key=lambda i: values[i])


def normalised_scores(scores: Sequence[float], lengths: Sequence[int]) -> list[float]:
    """lm-eval's `lls / completion_len`; an empty choice scores -inf (numpy gives -inf there)."""
    return [s / n if n else -math.inf for s, n in zip(scores, lengths, strict=True)]


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
    chunk_by_group: ClassVar[bool] = True
    """False: chunk docs in data order (tasks without a shared few-shot prefix per group)."""
    group_breakdown: ClassVar[str | None] = "subjects"
    """Result key of the per-group breakdown; None omits it (a task with a single group)."""

    def build_docs(self) -> list[ChoiceDoc]:
        raise NotImplementedError

    def category_of(self, group: str) -> str | None:
        """A group's category, for tasks with a two-level breakdown (MMLU)."""
        return None

    def count_items(self) -> int:
        return len(self.build_docs())

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
        if not self.chunk_by_group:
            return list(chunked(docs, CHUNK_DOCS))
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
        predicted = argmax(scores)
        sample: Sample = {
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
        if doc.norm_lengths is not None:
            predicted_norm = argmax(normalised_scores(scores, doc.norm_lengths))
            sample["prediction_norm"] = doc.labels[predicted_norm]
            sample["correct_norm"] = predicted_norm == doc.target
        return sample

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
        }
        if any("correct_norm" in s for s in samples):
            result["acc_norm"] = accuracy_stats([bool(s.get("correct_norm")) for s in samples])
        if self.group_breakdown is not None:
            result[self.group_breakdown] = {
                g: accuracy_stats(v) for g, v in sorted(by_group.items())
            }
        if by_category:
            result["categories"] = {c: accuracy_stats(v) for c, v in sorted(by_category.items())}
        return result
