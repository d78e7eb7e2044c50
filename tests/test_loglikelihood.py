"""The log-likelihood engine against a naive one-request-at-a-time computation on tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from gemma_benchmark.backends.tokenization import encode_pair, make_encoder
from gemma_benchmark.core.model_loader import HuggingFaceLoader, ModelWrapper

REQUESTS = [
    ("The capital of France is", " Paris"),
    ("The capital of France is ", "Paris"),  # trailing space moves to the continuation
    ("Question: 2+2?\nAnswer:", " A"),
    ("Question: 2+2?\nAnswer:", " B"),
    ("Question: 2+2?\nAnswer:", " four and more words"),
    ("", "An empty context uses the prefix token"),
    ("x" * 50, " y"),
]


def naive_loglikelihood(wrapper: ModelWrapper, context: str, continuation: str) -> float:
    encode = make_encoder(wrapper.tokenizer, wrapper.add_bos)
    bos = wrapper.tokenizer.bos_token_id
    ctx, cont = encode_pair(encode, context, continuation, bos)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logits = wrapper.model(input_ids=ids).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    start = len(ctx)
    return float(sum(logprobs[start - 1 + i, tok] for i, tok in enumerate(cont)))


@pytest.fixture(scope="module", params=["gemma", "gemma2", "gemma3"])
def any_tiny(request: pytest.FixtureRequest) -> ModelWrapper:
    name = {"gemma": "tiny_gemma_path", "gemma2": "tiny_gemma2_path", "gemma3": "tiny_gemma3_path"}
    path = request.getfixturevalue(name[request.param])
    return HuggingFaceLoader().load_model(str(path), batch_size=3)


def test_batched_equals_naive(any_tiny: ModelWrapper) -> None:
    got = any_tiny.loglikelihood(REQUESTS)
    expected = [naive_loglikelihood(any_tiny, c, x) for c, x in REQUESTS]
    assert got == pytest.approx(expected, abs=1e-4)


def test_batch_size_does_not_change_scores(tiny_gemma: ModelWrapper) -> None:
    results = []
    for size in (1, 2, 16):
        tiny_gemma.batch_size = size
        results.append(tiny_gemma.loglikelihood(REQUESTS))
    tiny_gemma.batch_size = 16
    assert results[0] == pytest.approx(results[1], abs=1e-4)
    assert results[0] == pytest.approx(results[2], abs=1e-4)


def test_one_forward_pass_per_question_for_letter_choices(tiny_gemma: ModelWrapper) -> None:
    questions = [f"Question {i}: pick one.\nAnswer:" for i in range(5)]
    requests = [(q, f" {letter}") for q in questions for letter in "ABCD"]
    rows: list[int] = []
    handle = tiny_gemma.model.register_forward_hook(
        lambda _m, _args, kwargs, _out: rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        tiny_gemma.loglikelihood(requests)
    finally:
        handle.remove()
    assert sum(rows) == len(questions)


def test_gemma_always_gets_bos(tiny_gemma: ModelWrapper) -> None:
    encode = tiny_gemma.encoder()
    assert tiny_gemma.add_bos is True
    assert encode("Hello")[0] == tiny_gemma.tokenizer.bos_token_id
    assert encode("<bos>Hello").count(tiny_gemma.tokenizer.bos_token_id) == 1


def test_continuation_tokens_follow_lm_eval_split(tiny_gemma: ModelWrapper) -> None:
    encode = tiny_gemma.encoder()
    bos = tiny_gemma.tokenizer.bos_token_id
    ctx, cont = encode_pair(encode, "Answer: ", "A", bos)
    ctx2, cont2 = encode_pair(encode, "Answer:", " A", bos)
    assert (ctx, cont) == (ctx2, cont2)
    whole = encode("Answer: A")
    assert ctx + cont == whole
    assert encode_pair(encode, "", "hi", bos) == ([bos], encode("hi"))


def test_no_model_raises_value_error() -> None:
    empty: Any = ModelWrapper("nothing")
    with pytest.raises(ValueError, match="nothing"):
        empty.generate("hello")
    with pytest.raises(ValueError, match="nothing"):
        empty.loglikelihood([("a", "b")])


def test_tiny_model_predictions_vary(tiny_gemma: ModelWrapper, data_dir: Path) -> None:
    from gemma_benchmark.tasks.mmlu import MMLUBenchmark

    task = MMLUBenchmark(
        {"subset": "anatomy", "shot_count": 0, "limit": 40, "data_dir": str(data_dir)}
    )
    samples: list[dict[str, Any]] = []
    task.sample_sinks.append(samples.extend)
    task.evaluate(tiny_gemma)
    assert len({s["prediction"] for s in samples}) >= 3
