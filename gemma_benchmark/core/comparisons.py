"""Paired significance tests between every pair of models on the same task and items."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from gemma_benchmark.config import EvaluationConfig
from gemma_benchmark.storage import ResultStore
from gemma_benchmark.utils.metrics import compare_models


def _correctness(store: ResultStore, run_id: int, model: str, task: str) -> dict[str, bool]:
    rows = store.completed_samples(run_id, model, task, 0)
    return {
        key: bool(row["correct"]) for key, row in rows.items() if row.get("correct") is not None
    }


def compare_all(
    store: ResultStore, run_id: int, results: dict[str, Any], evaluation: EvaluationConfig
) -> dict[str, Any]:
    """`{task: {"A vs B": {diff, ci_low, ci_high, mcnemar_p, bootstrap_p, significant, n}}}`
    over the items both models answered; tasks without per-item correctness are skipped."""
    tasks = {t for per_model in results.values() for t in per_model if isinstance(per_model, dict)}
    comparisons: dict[str, Any] = {}
    for task in sorted(tasks):
        models = [
            m for m, r in results.items() if isinstance(r.get(task), dict) and "error" not in r
        ]
        per_model = {m: _correctness(store, run_id, m, task) for m in models}
        pairs: dict[str, Any] = {}
        for a, b in combinations(models, 2):
            shared = sorted(set(per_model[a]) & set(per_model[b]))
            if len(shared) < 2:
                continue
            result = compare_models(
                [per_model[a][k] for k in shared],
                [per_model[b][k] for k in shared],
                evaluation.confidence_level,
            )
            pairs[f"{a} vs {b}"] = {**result, "n": len(shared)}
            store.record_task_result(
                run_id, f"{a} vs {b}", task, -1, pairs[f"{a} vs {b}"], "comparison"
            )
        if pairs:
            comparisons[task] = pairs
    return comparisons
