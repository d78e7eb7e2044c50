"""Batched log-likelihood of continuations on a Hugging Face causal LM.

Requests whose model input is identical (same context, continuation differing only in its last
token: MMLU's " A".." D") share one forward pass. Inputs are sorted longest first, right-padded
(a causal model never attends to the padding after a row's end) and truncated on the left to the
model's context, as lm-eval does. Only the positions that score a continuation are projected onto
the vocabulary, which keeps memory flat for large vocabularies.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from gemma_benchmark.backends.tokenization import Encoder, encode_pair


@dataclass
class _Group:
    """Requests sharing one model input; each member scores its own continuation."""

    tokens: list[int]
    members: list[tuple[int, list[int]]] = field(default_factory=list)  # (request index, cont)


@dataclass(frozen=True)
class LoglikelihoodSettings:
    batch_size: int
    max_length: int
    device: torch.device
    empty_context_token: int
    pad_token_id: int


def encode_requests(
    encode: Encoder, requests: Sequence[tuple[str, str]], empty_context_token: int
) -> list[tuple[list[int], list[int]]]:
    return [encode_pair(encode, ctx, cont, empty_context_token) for ctx, cont in requests]


def group_requests(encoded: Sequence[tuple[list[int], list[int]]], max_length: int) -> list[_Group]:
    """Build one group per distinct model input, longest input first."""
    groups: dict[tuple[int, ...], _Group] = {}
    for index, (context, continuation) in enumerate(encoded):
        if not continuation:
            raise ValueError(f"request {index} has an empty continuation after tokenisation")
        tokens = (context + continuation)[-(max_length + 1) :][:-1]
        key = tuple(tokens)
        if key not in groups:
            groups[key] = _Group(tokens)
        groups[key].members.append((index, continuation))
    return sorted(groups.values(), key=lambda g: -len(g.tokens))


def _accepts_logits_to_keep(model: Any) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def score_groups(
    model: Any, groups: Sequence[_Group], settings: LoglikelihoodSettings
) -> dict[int, float]:
    """Sum of continuation log-probabilities per request index."""
    results: dict[int, float] = {}
    slim = _accepts_logits_to_keep(model)
    for start in range(0, len(groups), settings.batch_size):
        batch = groups[start : start + settings.batch_size]
        results.update(_score_batch(model, batch, settings, slim))
    return results


def _needed_positions(batch: Sequence[_Group]) -> list[int]:
    """Sequence positions whose logits score some continuation in the batch."""
    needed: set[int] = set()
    for group in batch:
        longest = max(len(cont) for _, cont in group.members)
        end = len(group.tokens)
        needed.update(range(max(end - longest, 0), end))
    return sorted(needed)


@torch.inference_mode()
def _score_batch(
    model: Any, batch: Sequence[_Group], settings: LoglikelihoodSettings, slim: bool
) -> dict[int, float]:
    width = max(len(g.tokens) for g in batch)
    ids = torch.full((len(batch), width), settings.pad_token_id, dtype=torch.long)
    for row, group in enumerate(batch):
        ids[row, : len(group.tokens)] = torch.tensor(group.tokens, dtype=torch.long)
    positions = _needed_positions(batch)
    kwargs: dict[str, Any] = {"use_cache": False}
    if slim:
        kwargs["logits_to_keep"] = torch.tensor(positions, device=settings.device)
    logits = model(input_ids=ids.to(settings.device), **kwargs).logits
    if not slim:
        logits = logits[:, positions, :]
    logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
    column = {pos: col for col, pos in enumerate(positions)}
    scores: dict[int, float] = {}
    for row, group in enumerate(batch):
        end = len(group.tokens)
        for index, continuation in group.members:
            cols = [column[p] for p in range(end - len(continuation), end)]
            picked = logprobs[row, cols].gather(-1, torch.tensor(continuation)[:, None])
            scores[index] = float(picked.sum())
    return scores


def loglikelihood(
    model: Any,
    encode: Encoder,
    requests: Sequence[tuple[str, str]],
    settings: LoglikelihoodSettings,
) -> list[float]:
    """Log-likelihood of each (context, continuation), in request order."""
    if not requests:
        return []
    encoded = encode_requests(encode, requests, settings.empty_context_token)
    groups = group_requests(encoded, settings.max_length)
    scores = score_groups(model, groups, settings)
    return [scores[i] for i in range(len(requests))]
