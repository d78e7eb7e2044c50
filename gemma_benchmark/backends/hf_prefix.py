"""Shared-prefix KV reuse for log-likelihood requests.

`plan_clusters` groups model inputs by their longest common *token* prefix: inputs are sorted, and
neighbours that share at least `min_prefix` tokens join one cluster. Because the prefix is cut from
the very token ids of each full input (never tokenised on its own), a merge across the boundary
cannot change any request's tokens; an input that shares too little with its neighbours runs
whole (counted as unshared). The prefix is also cut short of every position that scores a
continuation, so all scored logits come from the suffix pass.
"""

from __future__ import annotations

import copy
import inspect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch

G = TypeVar("G")


@dataclass
class Cluster(Generic[G]):
    """Inputs whose first `prefix_len` tokens are identical (0: run each input whole)."""

    prefix_len: int
    members: list[G] = field(default_factory=list)


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    limit = min(len(a), len(b))
    for i in range(limit):
        if a[i] != b[i]:
            return i
    return limit


def plan_clusters(
    groups: Sequence[G],
    min_prefix: int | None,
    tokens: Callable[[G], Sequence[int]],
    first_scored: Callable[[G], int],
) -> list[Cluster[G]]:
    """Partition `groups` into prefix-sharing clusters; `min_prefix=None` disables sharing.

    Sorting makes inputs with a common prefix neighbours. A sorted run then either stays one
    cluster or splits where its neighbours share least, whichever forwards fewer tokens: MMLU
    subjects split apart (each keeps its long few-shot prefix), two questions that merely start
    with the same words do not. `first_scored(g)` is the first position whose logits g needs; a
    cluster's prefix stops before it and leaves at least one token of every member to run.
    """
    if min_prefix is None:
        return [Cluster(0, list(groups))] if groups else []
    ordered = sorted(groups, key=lambda g: tuple(tokens(g)))
    plan = _Plan(ordered, min_prefix, tokens, first_scored)
    clusters, unshared = plan.best(0, len(ordered))[1:]
    if unshared:
        clusters.append(Cluster(0, unshared))
    return clusters


class _Plan(Generic[G]):
    """Cost-minimising split of a sorted run of inputs (cost = tokens forwarded)."""

    def __init__(
        self,
        ordered: list[G],
        min_prefix: int,
        tokens: Callable[[G], Sequence[int]],
        first_scored: Callable[[G], int],
    ) -> None:
        self.ordered = ordered
        self.min_prefix = min_prefix
        self.lengths = [len(tokens(g)) for g in ordered]
        self.limits = [min(first_scored(g), len(tokens(g)) - 1) for g in ordered]
        self.shared = [
            common_prefix_len(tokens(a), tokens(b)) for a, b in itertools.pairwise(ordered)
        ]

    def best(self, lo: int, hi: int) -> tuple[int, list[Cluster[G]], list[G]]:
        """(tokens forwarded, clusters, unshared members) for ordered[lo:hi]."""
        members = self.ordered[lo:hi]
        whole = sum(self.lengths[lo:hi])
        if hi - lo == 1:
            return whole, [], members
        least = min(self.shared[lo : hi - 1])
        prefix = max(0, min(least, *self.limits[lo:hi]))
        if prefix >= self.min_prefix:
            one: tuple[int, list[Cluster[G]], list[G]] = (
                whole - (hi - lo - 1) * prefix,
                [Cluster(prefix, members)],
                [],
            )
        else:
            one = (whole, [], members)
        cuts = [lo] + [i + 1 for i in range(lo, hi - 1) if self.shared[i] == least] + [hi]
        parts = [self.best(a, b) for a, b in itertools.pairwise(cuts)]
        split_cost = sum(p[0] for p in parts)
        if split_cost < one[0]:
            return (
                split_cost,
                [c for p in parts for c in p[1]],
                [g for p in parts for g in p[2]],
            )
        return one


def _forward_parameters(model: Any) -> set[str]:
    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return set()


def accepts_logits_to_keep(model: Any) -> bool:
    return "logits_to_keep" in _forward_parameters(model)


def cache_argument(model: Any) -> str:
    """The forward's KV-cache keyword: `cache` since transformers 5.2x, `past_key_values` before.

    A wrapper whose forward takes only `**kwargs` (an adapter, a test double) names neither;
    then the installed transformers decides, by the field its causal-LM outputs carry.
    """
    parameters = _forward_parameters(model)
    for name in ("cache", "past_key_values"):
        if name in parameters:
            return name
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


@torch.inference_mode()
def run_prefix(model: Any, prefix: Sequence[int], device: torch.device) -> Any:
    """The KV cache of `prefix` (batch of one)."""
    ids = torch.tensor([list(prefix)], dtype=torch.long, device=device)
    kwargs: dict[str, Any] = {"use_cache": True}
    if accepts_logits_to_keep(model):
        kwargs["logits_to_keep"] = 1
    output = model(input_ids=ids, **kwargs)
    return getattr(output, cache_argument(model))


def expand_cache(cache: Any, batch: int) -> Any:
    """A private copy of the prefix cache repeated `batch` times (the forward appends to it)."""
    copied = copy.deepcopy(cache)
    if batch > 1:
        copied.batch_repeat_interleave(batch)
    return copied
