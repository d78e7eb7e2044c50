"""Batched generation on a Hugging Face causal LM, with lm-evaluation-harness's conventions.

Prompts are sorted longest first (ties by text, as lm-eval's `Collator` does), generated in
batches of `wrapper.batch_size` by transformers' padded `generate`, and returned in the caller's
order. Each prompt but its last token is first run on its own, without padding, and the rows'
key/value caches are stitched into one left-padded static cache that `generate` continues from:
on CPU a padded prompt pass takes SDPA's masked path, about twice as slow as the causal one, and
prompt passes are most of GSM8K's generation time. The static cache also spares each decoding
step the copy of the whole cache that a dynamic cache's concatenation makes. On a GPU, where a
padded batch costs little and rows run one at a time would serialise the prompt pass, `generate`
does its own batched prompt pass instead; both give the same tokens.

Stop strings end each sequence on its own through transformers' `StopStringCriteria`; a batch
ends when every row has stopped. (lm-eval's criteria end a batch only when every row has produced
the *same* stop string, so a batch whose rows stop differently, one at `Question:` and one at
EOS, runs on to `max_new_tokens` there.)

Outputs match lm-eval's `generate_until`: the continuation is cut at the first EOS token, decoded
without special tokens, then cut at the first stop string. Padded `generate` is kept over
transformers' continuous-batching `generate_batch`: on CPU the latter was 8-14x slower with the
same outputs (benchmarks/gsm8k_vs_lmeval.py --engines), and it stops on tokens only, not strings.
A hand-written greedy loop over the same forward calls was no faster than `generate`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from gemma_benchmark.backends.tokenization import prefix_token_id


@dataclass(frozen=True)
class GenerationRequest:
    """Decoding settings shared by every prompt of one call. Greedy when temperature is 0."""

    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """`text` up to (not including) the earliest occurrence of any non-empty stop string."""
    cut = len(text)
    for stop in stops:
        if stop:
            found = text.find(stop)
            if found != -1:
                cut = min(cut, found)
    return text[:cut]


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The tokenizer's EOS plus the checkpoint's own (Gemma IT also ends on `<end_of_turn>`)."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (tokenizer.eos_token_id, configured):
        for token in value if isinstance(value, list) else [value]:
            if token is not None and int(token) not in ids:
                ids.append(int(token))
    return ids


def stop_strings(tokenizer: Any, request: GenerationRequest) -> list[str]:
    """The request's stop strings plus the tokenizer's EOS string (always a stop)."""
    stops = [s for s in request.stop if s]
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    return stops


def generation_config(model: Any, tokenizer: Any, request: GenerationRequest) -> Any:
    """A fresh config for one call. Sampling settings are always ours; other checkpoint defaults
    (a repetition penalty, say) still apply, as they do in lm-eval and plain `generate`."""
    from transformers import GenerationConfig

    settings: dict[str, Any] = {
        "max_new_tokens": request.max_new_tokens,
        "do_sample": request.temperature > 0,
        "eos_token_id": eos_token_ids(model, tokenizer) or None,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "disable_compile": True,  # a static cache would make CUDA `generate` compile each shape
    }
    if request.temperature > 0:
        settings.update(temperature=request.temperature, top_p=request.top_p, top_k=0)
    return GenerationConfig(**settings)


def stopping_criteria(tokenizer: Any, stops: list[str]) -> Any:
    """Per-row stop-string criterion, built once per call (its vocabulary scan is not free)."""
    from transformers import StoppingCriteriaList, StopStringCriteria

    if not stops:
        return StoppingCriteriaList()
    return StoppingCriteriaList([StopStringCriteria(tokenizer=tokenizer, stop_strings=stops)])


def left_padded(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids, attention mask) with every row right-aligned."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


def pad_token_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)


@dataclass(frozen=True)
class _Call:
    """What every batch of one `generate_batch` call shares."""

    config: Any
    criteria: Any
    stops: list[str]
    eos_ids: frozenset[int]


def decode_continuation(
    tokenizer: Any, tokens: list[int], stops: Sequence[str], eos_ids: frozenset[int]
) -> str:
    """Text of the new tokens as lm-eval reads it: up to the first EOS, no special tokens, cut
    at the first stop string."""
    for position, token in enumerate(tokens):
        if token in eos_ids:
            tokens = tokens[:position]
            break
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    return cut_at_stop(text, stops)


def _row_cache(model: Any, row: list[int], device: Any) -> Any | None:
    """The dynamic cache of `row` but its last token, run alone (None when that is empty)."""
    from transformers import DynamicCache

    if len(row) < 2:
        return None
    cache = DynamicCache(config=model.config)
    ids = torch.tensor([row[:-1]], dtype=torch.long, device=device)
    model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
    return cache


def _stitched(parts: list[torch.Tensor | None], width: int) -> torch.Tensor:
    """Batch-1 key (or value) states of shape (1, heads, n, dim), right-aligned in `width`
    positions over zeros: left padding, which the attention mask hides."""
    like = next(part for part in parts if part is not None)
    out = like.new_zeros((len(parts), like.shape[1], width, like.shape[3]))
    for i, part in enumerate(parts):
        if part is not None:
            out[i, :, width - part.shape[2] :] = part[0]
    return out


def prefilled_cache(model: Any, rows: list[list[int]], device: Any, max_new_tokens: int) -> Any:
    """A static cache holding every row but its last token, left-padded to the longest, sized
    for `max_new_tokens` more; None when no row has more than one token. Sliding-window layers
    come out as a padded prompt pass would leave them: each row keeps its own newest tokens."""
    from transformers import StaticCache

    width = max(len(row) for row in rows) - 1
    if width < 1:
        return None
    caches = [_row_cache(model, row, device) for row in rows]
    static = StaticCache(config=model.config, max_cache_len=width + max_new_tokens)
    for index in range(len(static.layers)):
        rows_layers = [None if cache is None else cache.layers[index] for cache in caches]
        keys = _stitched([None if row is None else row.keys for row in rows_layers], width)
        values = _stitched([None if row is None else row.values for row in rows_layers], width)
        static.update(keys, values, index)
    return static


def prefill_rows_alone(device: Any) -> bool:
    """Run each prompt's pass on its own (CPU), or let `generate` batch it (GPU)."""
    return torch.device(device).type == "cpu"


@torch.inference_mode()
def _generate_rows(wrapper: Any, rows: list[list[int]], call: _Call) -> list[str]:
    tokenizer = wrapper.tokenizer
    ids, mask = left_padded(rows, pad_token_id(tokenizer))
    cache = None
    if prefill_rows_alone(wrapper.device):
        cache = prefilled_cache(wrapper.model, rows, wrapper.device, call.config.max_new_tokens)
    output = wrapper.model.generate(
        input_ids=ids.to(wrapper.device),
        attention_mask=mask.to(wrapper.device),
        cache=cache,
        generation_config=call.config,
        stopping_criteria=call.criteria,
        tokenizer=tokenizer,
    )
    new_tokens = output[:, ids.shape[1] :].tolist()
    return [decode_continuation(tokenizer, row, call.stops, call.eos_ids) for row in new_tokens]


@contextmanager
def _seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Seed torch for this call only; the caller's global RNG state is restored afterwards."""
    if seed is None:
        yield
        return
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def encode_prompts(wrapper: Any, prompts: list[str], max_new_tokens: int) -> list[list[int]]:
    """Token ids, left-truncated so that prompt plus generation fit the context (as lm-eval)."""
    budget = wrapper.max_length - max_new_tokens
    if budget < 1:
        raise ValueError(
            f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's "
            f"context of {wrapper.max_length} tokens"
        )
    encode = wrapper.encoder()
    empty = [prefix_token_id(wrapper.tokenizer)]
    return [encode(p)[-budget:] or empty for p in prompts]


def generate_batch(wrapper: Any, prompts: list[str], request: GenerationRequest) -> list[str]:
    """Completions in prompt order. Greedy outputs do not depend on the batch size; sampled ones
    are reproducible for a given seed and batch size."""
    if not prompts:
        return []
    tokenizer = wrapper.tokenizer
    rows = encode_prompts(wrapper, prompts, request.max_new_tokens)
    stops = stop_strings(tokenizer, request)
    call = _Call(
        config=generation_config(wrapper.model, tokenizer, request),
        criteria=stopping_criteria(tokenizer, stops),
        stops=stops,
        eos_ids=frozenset(eos_token_ids(wrapper.model, tokenizer)),
    )
    order = sorted(range(len(rows)), key=lambda i: (-len(rows[i]), prompts[i]))
    results: list[str] = [""] * len(rows)
    with _seeded(request.seed, wrapper.device):
        for picked, texts in _in_batches(wrapper, rows, order, call):
            for i, text in zip(picked, texts, strict=True):
                results[i] = text
    return results


def _in_batches(
    wrapper: Any, rows: list[list[int]], order: list[int], call: _Call
) -> Iterator[tuple[list[int], list[str]]]:
    """(row indices, texts) per batch. A CUDA out-of-memory error halves the batch size from
    then on and retries the batch (greedy outputs do not depend on the batch size)."""
    start, size = 0, max(1, int(wrapper.batch_size))
    while start < len(order):
        picked = order[start : start + size]
        try:
            texts = _generate_rows(wrapper, [rows[i] for i in picked], call)
        except torch.OutOfMemoryError:
            if size == 1:
                raise
            size //= 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        start += len(picked)
        yield picked, texts
