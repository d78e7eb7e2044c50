"""The batched generation engine on a real tiny Gemma: order, batch-size invariance, stops, EOS,
seeded sampling, and lm-eval's decoding conventions."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from gemma_benchmark.backends.hf_generate import (
    GenerationRequest,
    cut_at_stop,
    decode_continuation,
    encode_prompts,
    eos_token_ids,
    stop_strings,
)
from gemma_benchmark.core.model_loader import HuggingFaceLoader, ModelWrapper
from gemma_benchmark.data import read_jsonl

NEW_TOKENS = 20


@pytest.fixture(scope="module", autouse=True)
def _one_thread(single_thread: None) -> None:
    """Every test here runs on one torch thread (see conftest's `single_thread`)."""


@pytest.fixture(scope="module")
def wrapper(tiny_gemma_path: Path) -> ModelWrapper:
    return HuggingFaceLoader().load_model(str(tiny_gemma_path), name="tiny", batch_size=8)


def with_batch_size(base: ModelWrapper, batch_size: int) -> ModelWrapper:
    return ModelWrapper("tiny", base.model, base.tokenizer, batch_size=batch_size)


@pytest.fixture(scope="module")
def prompts(data_dir: Path) -> list[str]:
    """Eight GSM8K-style prompts of clearly different lengths (so batches need padding)."""
    records = read_jsonl(data_dir / "gsm8k" / "test.jsonl")[:8]
    return [f"Question: {r['question'][: 40 + 25 * i]}\nAnswer:" for i, r in enumerate(records)]


@pytest.fixture(scope="module")
def greedy(wrapper: ModelWrapper, prompts: list[str]) -> list[str]:
    """Reference: each prompt generated on its own (batch size 1, no padding)."""
    return with_batch_size(wrapper, 1).generate_batch(prompts, max_new_tokens=NEW_TOKENS)


class GenerateSpy:
    """Records how many tokens each `model.generate` call added (to see early stopping)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.original = model.generate
        self.new_tokens: list[int] = []

    def __enter__(self) -> GenerateSpy:
        def spy(*args: Any, **kwargs: Any) -> Any:
            output = self.original(*args, **kwargs)
            self.new_tokens.append(int(output.shape[1] - kwargs["input_ids"].shape[1]))
            return output

        self.model.generate = spy
        return self

    def __exit__(self, *exc: object) -> None:
        del self.model.generate


@pytest.mark.parametrize("batch_size", [3, 8])
def test_greedy_outputs_do_not_depend_on_batch_size(
    wrapper: ModelWrapper, prompts: list[str], greedy: list[str], batch_size: int
) -> None:
    batched = with_batch_size(wrapper, batch_size).generate_batch(prompts, NEW_TOKENS)
    assert batched == greedy
    assert all(text for text in greedy)  # a vacuous comparison would prove nothing


def test_gpu_style_batched_prompt_pass_gives_the_same_tokens(
    wrapper: ModelWrapper, prompts: list[str], greedy: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gemma_benchmark.backends import hf_generate

    monkeypatch.setattr(hf_generate, "prefill_rows_alone", lambda device: False)
    assert with_batch_size(wrapper, 8).generate_batch(prompts, NEW_TOKENS) == greedy


def test_outputs_come_back_in_prompt_order(
    wrapper: ModelWrapper, prompts: list[str], greedy: list[str]
) -> None:
    shuffled = [4, 0, 7, 2, 6, 1, 5, 3]
    outputs = wrapper.generate_batch([prompts[i] for i in shuffled], NEW_TOKENS)
    assert outputs == [greedy[i] for i in shuffled]
    assert wrapper.generate(prompts[3], max_new_tokens=NEW_TOKENS) == greedy[3]


def test_each_output_is_cut_at_its_first_stop_string(
    wrapper: ModelWrapper, prompts: list[str], greedy: list[str]
) -> None:
    stop = greedy[0][6:9]  # occurs in the first completion; maybe in others
    outputs = wrapper.generate_batch(prompts, NEW_TOKENS, stop=[stop, "never-generated"])
    assert outputs == [cut_at_stop(text, [stop]) for text in greedy]
    assert stop not in "".join(outputs)


def test_batch_ends_when_every_sequence_has_stopped(
    wrapper: ModelWrapper, prompts: list[str], greedy: list[str]
) -> None:
    pair = prompts[:2]
    stops = [greedy[0][4:8], greedy[1][4:8]]
    with GenerateSpy(wrapper.model) as spy:
        outputs = with_batch_size(wrapper, 2).generate_batch(pair, 64, stop=stops)
    assert spy.new_tokens[0] < 64  # stopped long before the budget
    assert outputs == [cut_at_stop(greedy[0], stops), cut_at_stop(greedy[1], stops)]


def test_a_stopped_sequence_stops_growing_while_others_continue(
    wrapper: ModelWrapper, prompts: list[str], greedy: list[str]
) -> None:
    stop = greedy[0][4:8]
    assert stop not in greedy[1]
    with GenerateSpy(wrapper.model) as spy:
        first, second = with_batch_size(wrapper, 2).generate_batch(prompts[:2], 20, stop=[stop])
    assert spy.new_tokens == [20]
    assert first == cut_at_stop(greedy[0], [stop])
    assert second == greedy[1]


def test_out_of_memory_halves_the_batch_and_retries(
    wrapper: ModelWrapper, prompts: list[str], greedy: list[str]
) -> None:
    original = wrapper.model.generate
    sizes: list[int] = []

    def small_memory(*args: Any, **kwargs: Any) -> Any:
        sizes.append(int(kwargs["input_ids"].shape[0]))
        if sizes[-1] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(*args, **kwargs)

    wrapper.model.generate = small_memory
    try:
        outputs = wrapper.generate_batch(prompts, NEW_TOKENS)
    finally:
        del wrapper.model.generate
    assert outputs == greedy
    assert sizes[:3] == [8, 4, 2] and set(sizes[3:]) == {2}


def test_the_tokenizers_eos_always_stops(wrapper: ModelWrapper, prompts: list[str]) -> None:
    """Declare a token the model generates early to be the EOS: the output ends before it."""
    ids = torch.tensor([wrapper.encoder()(prompts[0])])
    with torch.inference_mode():
        generated = wrapper.model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False)
    tokens = generated[0, ids.shape[1] :].tolist()
    position = next(i for i in range(3, len(tokens)) if tokens[i] not in tokens[:i])
    tokenizer = copy.deepcopy(wrapper.tokenizer)
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(tokens[position])
    eos_wrapper = ModelWrapper("tiny", wrapper.model, tokenizer, batch_size=1)
    with GenerateSpy(wrapper.model) as spy:
        text = eos_wrapper.generate_batch(prompts[:1], NEW_TOKENS)[0]
    assert spy.new_tokens == [position + 1]
    assert text == wrapper.tokenizer.decode(tokens[:position], skip_special_tokens=True)


def test_eos_ids_join_tokenizer_and_checkpoint() -> None:
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=[1, 106]))
    assert eos_token_ids(model, SimpleNamespace(eos_token_id=1)) == [1, 106]
    model.generation_config.eos_token_id = 7
    assert eos_token_ids(model, SimpleNamespace(eos_token_id=1)) == [1, 7]


def test_stop_strings_always_include_the_eos_string() -> None:
    tokenizer = SimpleNamespace(eos_token="<eos>")
    request = GenerationRequest(stop=("Question:", "", "<eos>"))
    assert stop_strings(tokenizer, request) == ["Question:", "<eos>"]
    assert stop_strings(tokenizer, GenerationRequest()) == ["<eos>"]


def test_decoding_matches_lm_eval(wrapper: ModelWrapper) -> None:
    """Up to the first EOS, special tokens dropped (lm-eval decodes with skip_special_tokens)."""
    tokenizer = wrapper.tokenizer
    words = tokenizer.encode(" seven plus one", add_special_tokens=False)
    turn = tokenizer.convert_tokens_to_ids("<start_of_turn>")
    tokens = [*words[:2], turn, *words[2:], tokenizer.eos_token_id, *words]
    eos = frozenset({tokenizer.eos_token_id})
    assert decode_continuation(tokenizer, tokens, ["<eos>"], eos) == " seven plus one"


def test_seeded_sampling_is_reproducible_and_leaves_global_rng_alone(
    wrapper: ModelWrapper, prompts: list[str], greedy: list[str]
) -> None:
    state = torch.get_rng_state()
    first = wrapper.generate_batch(prompts, NEW_TOKENS, temperature=1.0, seed=7)
    second = wrapper.generate_batch(prompts, NEW_TOKENS, temperature=1.0, seed=7)
    other = wrapper.generate_batch(prompts, NEW_TOKENS, temperature=1.0, seed=8)
    assert first == second
    assert first != other
    assert first != greedy
    assert torch.equal(torch.get_rng_state(), state)


def test_long_prompts_are_left_truncated_to_fit_the_context() -> None:
    tokenizer = SimpleNamespace(bos_token_id=2, eos_token_id=1)
    fake = SimpleNamespace(
        max_length=10,
        tokenizer=tokenizer,
        encoder=lambda: lambda text: [2, *range(100, 100 + len(text))],
    )
    assert encode_prompts(fake, ["abcdefghij", ""], 4) == [[104, 105, 106, 107, 108, 109], [2]]
    with pytest.raises(ValueError, match="leaves no room"):
        encode_prompts(fake, ["a"], 10)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_new_tokens"):
        GenerationRequest(max_new_tokens=0)
    with pytest.raises(ValueError, match="top_p"):
        GenerationRequest(top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        GenerationRequest(temperature=-1.0)


def plain_greedy(model_wrapper: ModelWrapper, prompt: str, new_tokens: int) -> str:
    """transformers' own `generate` on one unpadded prompt, decoded as lm-eval reads it."""
    tokenizer = model_wrapper.tokenizer
    ids = torch.tensor([model_wrapper.encoder()(prompt)])
    with torch.inference_mode():
        out = model_wrapper.model.generate(ids, max_new_tokens=new_tokens, do_sample=False)
    eos = frozenset(eos_token_ids(model_wrapper.model, tokenizer))
    tokens = out[0, ids.shape[1] :].tolist()
    return decode_continuation(tokenizer, tokens, [tokenizer.eos_token], eos)


@pytest.mark.parametrize("arch", ["gemma2", "gemma3"])
def test_sliding_window_models_match_plain_generate(
    arch: str, request: pytest.FixtureRequest, data_dir: Path
) -> None:
    """Prompts longer than the tiny models' 256-token window, batched with short ones: the
    stitched prompt cache must leave sliding layers as unpadded generation does."""
    path = request.getfixturevalue(f"tiny_{arch}_path")
    base = HuggingFaceLoader().load_model(str(path), name=arch, batch_size=4)
    records = read_jsonl(data_dir / "gsm8k" / "train.jsonl")[:6]
    prompts = [
        "\n\n".join(f"Question: {r['question']}\nAnswer: {r['answer']}" for r in records[: 1 + i])
        for i in range(0, 6, 2)
    ] + ["Question: What is 3 plus 4?\nAnswer:"]
    lengths = [len(base.encoder()(p)) for p in prompts]
    assert max(lengths) > 256 > min(lengths)
    expected = [plain_greedy(base, p, NEW_TOKENS) for p in prompts]
    assert all(expected)
    for batch_size in (1, 4):
        assert with_batch_size(base, batch_size).generate_batch(prompts, NEW_TOKENS) == expected


def test_a_one_token_prompt_batches_with_longer_ones(
    wrapper: ModelWrapper, prompts: list[str], greedy: list[str]
) -> None:
    """An empty prompt is the prefix token alone: nothing of it is cached before generation."""
    outputs = with_batch_size(wrapper, 3).generate_batch(["", *prompts[:2]], NEW_TOKENS)
    assert outputs == [plain_greedy(wrapper, "", NEW_TOKENS), *greedy[:2]]
    assert outputs[0]


def test_no_prompts_no_work(wrapper: ModelWrapper) -> None:
    assert wrapper.generate_batch([], NEW_TOKENS) == []


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("12 Question: next", ["Question:"], "12 "),
        ("a Q: b Question:", ["Question:", "Q:"], "a "),
        ("nothing", ["Q:"], "nothing"),
        ("keep", [""], "keep"),
        ("", ["Q:"], ""),
    ],
)
def test_cut_at_stop(text: str, stops: list[str], expected: str) -> None:
    assert cut_at_stop(text, stops) == expected
