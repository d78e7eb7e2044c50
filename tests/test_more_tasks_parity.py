"""Parity with the reference: lm-evaluation-harness's own `arc_challenge`, `arc_easy`,
`hellaswag`, `truthfulqa_mc1` and `truthfulqa_mc2`, item by item, on the same tiny model (float32).

lm-eval runs once per module (all five tasks in one `simple_evaluate`); each test then runs one of
our tasks and compares prompts, per-choice log-likelihoods and per-item decisions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gemma_benchmark.core.model_loader import ModelWrapper
from gemma_benchmark.reference.lmeval_runner import make_hflm
from gemma_benchmark.reference.lmeval_tasks import ReferenceChoiceItem, run_lmeval_tasks
from gemma_benchmark.tasks.registry import resolve_task_class

TASKS = ["arc_challenge", "arc_easy", "hellaswag", "truthfulqa_mc1", "truthfulqa_mc2"]
LIMIT = 40
MIN_AGREEMENT = 0.995

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tiny_gemma_path: Path, data_dir: Path) -> dict[str, list[ReferenceChoiceItem]]:
    lm = make_hflm(str(tiny_gemma_path), batch_size=16)
    return run_lmeval_tasks(lm, data_dir, TASKS, limit=LIMIT)


def run_ours(task_type: str, model: ModelWrapper, data_dir: Path) -> tuple[dict[str, Any], Any]:
    task = resolve_task_class(task_type)({"limit": LIMIT, "data_dir": str(data_dir)})
    samples: list[dict[str, Any]] = []
    task.sample_sinks.append(samples.extend)
    result = task.evaluate(model)
    docs = {doc.doc_id: doc for doc in task.build_docs()}
    return result, {s["doc_id"]: (s, docs[s["doc_id"]]) for s in samples}


def agreement(decisions: list[bool]) -> float:
    return sum(decisions) / len(decisions)


@pytest.mark.parametrize("task_type", TASKS)
def test_matches_lm_eval_item_by_item(
    task_type: str,
    reference: dict[str, list[ReferenceChoiceItem]],
    tiny_gemma: ModelWrapper,
    data_dir: Path,
) -> None:
    result, ours = run_ours(task_type, tiny_gemma, data_dir)
    items = reference[task_type]
    assert len(items) == len(ours) == LIMIT
    for ref in items:
        sample, doc = ours[ref.doc_id]
        assert doc.context == ref.context
        assert list(doc.continuations) == ref.continuations
        assert doc.target == ref.target
        assert sample["scores"] == pytest.approx(ref.scores, abs=1e-3)
    if task_type == "truthfulqa_mc2":
        check_mc2(result, ours, items)
        return
    acc = [ours[r.doc_id][0]["correct"] == bool(r.metrics["acc"]) for r in items]
    assert agreement(acc) >= MIN_AGREEMENT
    reference_acc = sum(r.metrics["acc"] for r in items) / LIMIT
    assert abs(result["overall"]["accuracy"] - reference_acc) <= 0.005
    if "acc_norm" in items[0].metrics:
        norm = [ours[r.doc_id][0]["correct_norm"] == bool(r.metrics["acc_norm"]) for r in items]
        assert agreement(norm) >= MIN_AGREEMENT
        reference_norm = sum(r.metrics["acc_norm"] for r in items) / LIMIT
        assert abs(result["acc_norm"]["accuracy"] - reference_norm) <= 0.005
    # a random model must not pick one position throughout, or agreement would mean nothing
    assert len({ours[r.doc_id][0]["prediction"] for r in items}) >= 2


def check_mc2(
    result: dict[str, Any], ours: dict[int, Any], items: list[ReferenceChoiceItem]
) -> None:
    close = [
        ours[r.doc_id][0]["mc2"] == pytest.approx(r.metrics["acc"], rel=1e-2, abs=1e-6)
        for r in items
    ]
    assert agreement(close) >= MIN_AGREEMENT
    reference_mean = sum(r.metrics["acc"] for r in items) / LIMIT
    assert result["overall"]["accuracy"] == pytest.approx(reference_mean, abs=0.005)
