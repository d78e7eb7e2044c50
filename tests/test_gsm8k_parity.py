"""End to end against the reference: our GSM8K task and lm-eval's own `gsm8k` / `gsm8k_cot` run
on the same tiny Gemma and the same test items must agree on prompts, completions, extractions
and exact-match decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gemma_benchmark.core.model_loader import HuggingFaceLoader, ModelWrapper
from gemma_benchmark.reference.lmeval_gsm8k import (
    ReferenceGeneration,
    make_lmeval_model,
    run_lmeval_gsm8k,
)
from gemma_benchmark.tasks.gsm8k import Gsm8kBenchmark, normalise

ITEMS = 24
NEW_TOKENS = 32
BATCH = 8

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _one_thread(single_thread: None) -> None:
    """Every test here runs on one torch thread (see conftest's `single_thread`)."""


@pytest.fixture(scope="module")
def ours_model(tiny_gemma_path: Path) -> ModelWrapper:
    return HuggingFaceLoader().load_model(str(tiny_gemma_path), batch_size=BATCH)


@pytest.fixture(scope="module")
def lmeval_model(tiny_gemma_path: Path) -> Any:
    return make_lmeval_model(str(tiny_gemma_path), batch_size=BATCH)


def run_both(
    ours_model: ModelWrapper, lmeval_model: Any, data_dir: Path, items: int = ITEMS, **options: Any
) -> tuple[list[dict[str, Any]], list[ReferenceGeneration]]:
    cot = bool(options.get("use_chain_of_thought"))
    task = Gsm8kBenchmark({"data_dir": str(data_dir), "max_new_tokens": NEW_TOKENS, **options})
    samples: list[dict[str, Any]] = []
    task.sample_sinks.append(samples.extend)
    task.evaluate(ours_model, num_samples=items)
    reference = run_lmeval_gsm8k(
        lmeval_model,
        data_dir / "gsm8k",
        shots=options.get("shot_count", 5),
        limit=items,
        chain_of_thought=cot,
        max_new_tokens=NEW_TOKENS,
        apply_chat_template=bool(options.get("use_chat_template")),
    )
    return sorted(samples, key=lambda s: int(s["doc_id"])), reference


def normalised(filtered: str) -> str | None:
    """lm-eval's raw filter output as our extraction reports it."""
    return None if filtered == "[invalid]" else normalise(filtered)


def check_agreement(ours: list[dict[str, Any]], reference: list[ReferenceGeneration]) -> None:
    items = len(reference)
    assert [s["doc_id"] for s in ours] == [r.doc_id for r in reference] == list(range(items))
    assert [s["prompt"] for s in ours] == [r.prompt for r in reference]
    same = [s["completion"] == r.completion for s, r in zip(ours, reference, strict=True)]
    assert sum(same) >= 0.95 * items
    assert any(s["completion"] for s in ours)
    decisions = [
        (s["extracted_strict"] == s["target"]) == r.exact_match_strict
        and bool(s["correct"]) == r.exact_match_flexible
        for s, r in zip(ours, reference, strict=True)
    ]
    assert sum(decisions) >= 0.99 * items
    for sample, ref, identical in zip(ours, reference, same, strict=True):
        if identical:  # same text: lm-eval's filters must have read the same answers
            assert sample["extracted_flexible"] == normalised(ref.extracted_flexible)
            assert sample["extracted_strict"] == normalised(ref.extracted_strict)


def test_default_5_shot_matches_lm_eval(
    ours_model: ModelWrapper, lmeval_model: Any, data_dir: Path
) -> None:
    check_agreement(*run_both(ours_model, lmeval_model, data_dir))


def test_chain_of_thought_8_shot_matches_lm_eval(
    ours_model: ModelWrapper, lmeval_model: Any, data_dir: Path
) -> None:
    check_agreement(
        *run_both(ours_model, lmeval_model, data_dir, use_chain_of_thought=True, shot_count=8)
    )


def test_chat_template_prompts_match_lm_eval(
    ours_model: ModelWrapper, lmeval_model: Any, data_dir: Path
) -> None:
    """lm-eval's `--apply_chat_template` with few-shot in one user turn (not multi-turn)."""
    ours, reference = run_both(
        ours_model, lmeval_model, data_dir, items=6, shot_count=2, use_chat_template=True
    )
    assert ours[0]["prompt"].startswith("<bos><start_of_turn>user\nQuestion: ")
    check_agreement(ours, reference)
