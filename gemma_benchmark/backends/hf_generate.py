"""Batched generation on a Hugging Face causal LM.

Prompts are sorted by length (less padding), left-padded, generated in batches and returned in
the caller's order. Stop strings end a sequence early through transformers' `stop_strings`
criterion; each output is then cut at its first stop string. A fresh `GenerationConfig` is built
for every call, so a checkpoint's own sampling defaults are never inherited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class GenerationRequest:
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """`text` up to (not including) the earliest stop string."""
    cut = len(text)
    for stop in stops:
        if stop:
            found = text.find(stop)
            if found != -1:
                cut = min(cut, found)
    return text[:cut]


def generation_config(tokenizer: Any, request: GenerationRequest) -> Any:
    from transformers import GenerationConfig

    sampling = request.temperature > 0
    settings: dict[str, Any] = {
        "max_new_tokens": request.max_new_tokens,
        "do_sample": sampling,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
    }
    if sampling:
        settings.update(temperature=request.temperature, top_p=request.top_p, top_k=None)
    return GenerationConfig(**settings)


def _left_padded(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


@torch.inference_mode()
def _generate_rows(wrapper: Any, rows: list[list[int]], request: GenerationRequest) -> list[str]:
    tokenizer = wrapper.tokenizer
    ids, mask = _left_padded(rows, int(tokenizer.pad_token_id))
    stops = [s for s in request.stop if s]
    if tokenizer.eos_token:
        stops.append(tokenizer.eos_token)
    if request.seed is not None:
        torch.manual_seed(request.seed)
    output = wrapper.model.generate(
        input_ids=ids.to(wrapper.device),
        attention_mask=mask.to(wrapper.device),
        generation_config=generation_config(tokenizer, request),
        stop_strings=stops or None,
        tokenizer=tokenizer,
    )
    new_tokens = output[:, ids.shape[1] :].cpu()
    texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=False)
    return [cut_at_stop(_strip_padding(t, tokenizer), stops) for t in texts]


def _strip_padding(text: str, tokenizer: Any) -> str:
    pad = tokenizer.pad_token
    if pad and pad != tokenizer.eos_token:
        text = text.replace(pad, "")
    return text


def generate_batch(wrapper: Any, prompts: list[str], request: GenerationRequest) -> list[str]:
    """Completions in prompt order."""
    if not prompts:
        return []
    encode = wrapper.encoder()
    budget = max(wrapper.max_length - request.max_new_tokens, 1)
    rows = [encode(p)[-budget:] for p in prompts]
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    results: list[str] = [""] * len(rows)
    for start in range(0, len(order), wrapper.batch_size):
        picked = order[start : start + wrapper.batch_size]
        texts = _generate_rows(wrapper, [rows[i] for i in picked], request)
        for i, text in zip(picked, texts):
            results[i] = text
    return results
