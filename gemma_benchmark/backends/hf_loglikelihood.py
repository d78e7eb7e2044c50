"""Batched log-likelihood of continuations on a Hugging Face causal LM.

Requests whose model input is identical (same context, continuation differing only in its last
token: MMLU's " A".." D") share one forward pass. Requests that share a long token prefix (the
description and few-shot examples of an MMLU subject) share its KV cache: the prefix runs once and
only each request's suffix runs, batched (see `hf_prefix`). Inputs are right-padded (a causal model
never attends to padding after a row's end) and truncated on the left to the model's context, as
lm-eval does. Only the positions that score a continuation are projected onto the vocabulary,
which keeps memory flat for large vocabularies. A CUDA out-of-memory error halves the batch and
retries it, so no request is lost or counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from gemma_benchmark.backends.hf_batching import BatchSizer
from gemma_benchmark.backends.hf_prefix import (
    Cluster,
    accepts_logits_to_keep,
    cache_argument,
    expand_cache,
    plan_clusters,
    run_prefix,
)
from gemma_benchmark.backends.tokenization import Encoder, encode_pair


@dataclass
class Group:
    """Requests sharing one model input; each member scores its own continuation."""

    tokens: list[int]
    members: list[tuple[int, list[int]]] = field(default_factory=list)  # (request index, cont)


@dataclass(frozen=True)
class LoglikelihoodSettings:
    batch_size: BatchSizer
    max_length: int
    device: torch.device
    empty_context_token: int
    pad_token_id: int
    prefix_cache: bool = True
    min_prefix_tokens: int = 16


@dataclass
class EngineStats:
    """What the engine did; `tokens_forwarded` vs `tokens_full` measures prefix reuse."""

    requests: int = 0
    model_inputs: int = 0
    tokens_forwarded: int = 0
    tokens_full: int = 0
    prefix_clusters: int = 0
    unshared_inputs: int = 0
    oom_retries: int = 0

    def add(self, other: EngineStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def encode_requests(
    encode: Encoder, requests: Sequence[tuple[str, str]], empty_context_token: int
) -> list[tuple[list[int], list[int]]]:
    return [encode_pair(encode, ctx, cont, empty_context_token) for ctx, cont in requests]


def group_requests(encoded: Sequence[tuple[list[int], list[int]]], max_length: int) -> list[Group]:
    """One group per distinct model input, longest input first."""
    groups: dict[tuple[int, ...], Group] = {}
    for index, (context, continuation) in enumerate(encoded):
        if not continuation:
            raise ValueError(f"request {index} has an empty continuation after tokenisation")
        tokens = (context + continuation)[-(max_length + 1) :][:-1]
        key = tuple(tokens)
        if key not in groups:
            groups[key] = Group(tokens)
        groups[key].members.append((index, continuation))
    return sorted(groups.values(), key=lambda g: -len(g.tokens))


def _needed_positions(batch: Sequence[Group], offset: int) -> list[int]:
    """Positions (relative to the fed tokens) whose logits score some continuation."""
    needed: set[int] = set()
    for group in batch:
        longest = max(len(cont) for _, cont in group.members)
        end = len(group.tokens) - offset
        needed.update(range(max(end - longest, 0), end))
    return sorted(needed)


@dataclass(frozen=True)
class _Pass:
    """One forward over a batch: either whole inputs, or suffixes after a cached prefix."""

    model: Any
    settings: LoglikelihoodSettings
    slim: bool
    offset: int = 0
    prefix_cache: Any = None
    cache_keyword: str = "cache"


@torch.inference_mode()
def _score_batch(run: _Pass, batch: Sequence[Group]) -> dict[int, float]:
    rows = [group.tokens[run.offset :] for group in batch]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), run.settings.pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    positions = _needed_positions(batch, run.offset)
    device = run.settings.device
    kwargs: dict[str, Any] = {"use_cache": run.prefix_cache is not None}
    if run.slim:
        kwargs["logits_to_keep"] = torch.tensor(positions, device=device)
    if run.prefix_cache is not None:
        place = torch.arange(run.offset, run.offset + width, device=device)
        kwargs[run.cache_keyword] = expand_cache(run.prefix_cache, len(rows))
        kwargs.update(
            position_ids=place.unsqueeze(0).expand(len(rows), -1),
            cache_position=place,
            attention_mask=torch.ones(
                (len(rows), run.offset + width), dtype=torch.long, device=device
            ),
        )
    logits = run.model(input_ids=ids.to(device), **kwargs).logits
    if not run.slim:
        logits = logits[:, positions, :]
    return _gather(torch.log_softmax(logits.float(), dim=-1).cpu(), batch, positions, run.offset)


def _gather(
    logprobs: torch.Tensor, batch: Sequence[Group], positions: list[int], offset: int
) -> dict[int, float]:
    column = {pos: col for col, pos in enumerate(positions)}
    scores: dict[int, float] = {}
    for row, group in enumerate(batch):
        end = len(group.tokens) - offset
        for index, continuation in group.members:
            cols = [column[p] for p in range(end - len(continuation), end)]
            picked = logprobs[row, cols].gather(-1, torch.tensor(continuation)[:, None])
            scores[index] = float(picked.sum())
    return scores


def run_batches(
    items: Sequence[Group],
    batch_size: int,
    score: Callable[[Sequence[Group]], dict[int, float]],
    stats: EngineStats,
) -> dict[int, float]:
    """Score `items` in batches; a CUDA OOM halves the batch size and retries that batch."""
    results: dict[int, float] = {}
    start, size = 0, max(1, batch_size)
    while start < len(items):
        batch = items[start : start + size]
        try:
            results.update(score(batch))
        except torch.cuda.OutOfMemoryError:
            if size == 1:
                raise
            size //= 2
            stats.oom_retries += 1
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        start += len(batch)
    return results


def score_cluster(
    model: Any, cluster: Cluster[Group], settings: LoglikelihoodSettings, stats: EngineStats
) -> dict[int, float]:
    slim = accepts_logits_to_keep(model)
    members = sorted(cluster.members, key=lambda g: -len(g.tokens))
    stats.model_inputs += len(members)
    stats.tokens_full += sum(len(g.tokens) for g in members)
    stats.tokens_forwarded += cluster.prefix_len + sum(
        len(g.tokens) - cluster.prefix_len for g in members
    )
    if cluster.prefix_len == 0:
        stats.unshared_inputs += len(members)
        run = _Pass(model, settings, slim)
    else:
        stats.prefix_clusters += 1
        cache = run_prefix(model, members[0].tokens[: cluster.prefix_len], settings.device)
        run = _Pass(model, settings, slim, cluster.prefix_len, cache, cache_argument(model))
    size = settings.batch_size.for_length(len(members[0].tokens))
    return run_batches(members, size, lambda batch: _score_batch(run, batch), stats)


def loglikelihood(
    model: Any,
    encode: Encoder,
    requests: Sequence[tuple[str, str]],
    settings: LoglikelihoodSettings,
    stats: EngineStats | None = None,
) -> list[float]:
    """Log-likelihood of each (context, continuation), in request order."""
    if not requests:
        return []
    stats = stats if stats is not None else EngineStats()
    stats.requests += len(requests)
    encoded = encode_requests(encode, requests, settings.empty_context_token)
    groups = group_requests(encoded, settings.max_length)
    min_prefix = settings.min_prefix_tokens if settings.prefix_cache else None
    scores: dict[int, float] = {}
    for cluster in plan_clusters(groups, min_prefix, lambda g: g.tokens, _last_scored):
        scores.update(score_cluster(model, cluster, settings, stats))
    return [scores[i] for i in range(len(requests))]


def _last_scored(group: Group) -> int:
    """The first position whose logits a member of the group needs."""
    return len(group.tokens) - max(len(cont) for _, cont in group.members)
