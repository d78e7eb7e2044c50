"""Parity with the reference: lm-evaluation-harness's own `mmlu_<subject>` tasks, item by item,
on the same tiny model (float32), at 0 and 5 shots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gemma_benchmark.core.model_loader import ModelWrapper
from gemma_benchmark.reference.lmeval_runner import make_hflm, run_lmeval_mmlu
from gemma_benchmark.tasks.mmlu import MMLUBenchmark

SUBJECTS = ["abstract_algebra", "high_school_geography", "philosophy"]
LIMIT = 30


@pytest.fixture(scope="module")
def reference_lm(tiny_gemma_path: Path) -> Any:
    return make_hflm(str(tiny_gemma_path), batch_size=16)


@pytest.mark.slow
@pytest.mark.parametrize("shots", [0, 5])
def test_mmlu_matches_lm_eval_item_by_item(
    shots: int, reference_lm: Any, tiny_gemma: ModelWrapper, data_dir: Path
) -> None:
    reference = run_lmeval_mmlu(reference_lm, data_dir / "mmlu", SUBJECTS, shots, limit=LIMIT)
    task = MMLUBenchmark(
        {"subset": SUBJECTS, "shot_count": shots, "limit": LIMIT, "data_dir": str(data_dir)}
    )
    ours: list[dict[str, Any]] = []
    task.sample_sinks.append(ours.extend)
    result = task.evaluate(tiny_gemma)

    by_item = {(s["subject"], s["doc_id"]): s for s in ours}
    assert len(reference) == len(ours) == LIMIT * len(SUBJECTS)
    agree = sum(by_item[(r.subject, r.doc_id)]["prediction"] == r.prediction for r in reference)
    assert agree / len(reference) >= 0.995
    assert all(by_item[(r.subject, r.doc_id)]["target"] == r.target for r in reference)
    for r in reference:
        assert by_item[(r.subject, r.doc_id)]["scores"] == pytest.approx(r.scores, abs=1e-3)
    reference_accuracy = sum(r.prediction == r.target for r in reference) / len(reference)
    assert abs(result["overall"]["accuracy"] - reference_accuracy) <= 0.005
    # a random model must not answer one letter throughout, or agreement would mean nothing
    assert len({r.prediction for r in reference}) >= 3
