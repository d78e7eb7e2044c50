"""Shared-prefix KV reuse equals full forwards; auto batch size; OOM recovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from gemma_benchmark.backends.hf_batching import BatchSizer, probe_batch_size
from gemma_benchmark.backends.hf_prefix import plan_clusters
from gemma_benchmark.core.model_loader import HuggingFaceLoader, ModelWrapper
from gemma_benchmark.tasks.mmlu import MMLUBenchmark

ARCHES = {"gemma": "tiny_gemma_path", "gemma2": "tiny_gemma2_path", "gemma3": "tiny_gemma3_path"}


def mmlu_requests(data_dir: Path, shots: int, limit: int) -> list[tuple[str, str]]:
    task = MMLUBenchmark(
        {
            "subset": ["anatomy", "high_school_us_history"],
            "shot_count": shots,
            "limit": limit,
            "data_dir": str(data_dir),
        }
    )
    return [(d.context, c) for d in task.build_docs() for c in d.continuations]


@pytest.fixture(scope="module", params=list(ARCHES))
def wrapper(request: pytest.FixtureRequest) -> ModelWrapper:
    path = request.getfixturevalue(ARCHES[request.param])
    return HuggingFaceLoader().load_model(str(path), batch_size=4)


def test_prefix_reuse_equals_full_forward(wrapper: ModelWrapper, data_dir: Path) -> None:
    # 5-shot history prompts run past Gemma 2/3's 256-token sliding window of the tiny models
    requests = mmlu_requests(data_dir, shots=5, limit=6)
    wrapper.prefix_cache, wrapper.engine_stats = False, None
    full = wrapper.loglikelihood(requests)
    full_stats = wrapper.engine_stats
    wrapper.prefix_cache, wrapper.engine_stats = True, None
    reused = wrapper.loglikelihood(requests)
    stats = wrapper.engine_stats
    assert reused == pytest.approx(full, abs=1e-4)
    assert stats.prefix_clusters == 2
    assert stats.tokens_forwarded < 0.5 * full_stats.tokens_forwarded
    assert stats.tokens_full == full_stats.tokens_forwarded


def test_clusters_share_exact_token_prefixes() -> None:
    inputs = {
        "a": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "b": [1, 2, 3, 4, 5, 6, 7, 8, 10],
        "c": [1, 2, 3, 4, 5, 6, 11, 12],
        "d": [9, 9, 9, 9],
    }
    clusters = plan_clusters(list(inputs), 4, lambda k: inputs[k], lambda k: len(inputs[k]) - 1)
    shared = [c for c in clusters if c.prefix_len]
    assert len(shared) == 1 and sorted(shared[0].members) == ["a", "b", "c"]
    assert shared[0].prefix_len == 6
    for name in shared[0].members:
        assert inputs[name][:6] == inputs["a"][:6]
    assert [c.members for c in clusters if not c.prefix_len] == [["d"]]
    assert plan_clusters(list(inputs), None, lambda k: inputs[k], lambda k: 0)[0].prefix_len == 0


def test_prefix_stops_before_scored_positions() -> None:
    inputs = {"a": [1, 2, 3, 4, 5, 6], "b": [1, 2, 3, 4, 5, 7]}
    clusters = plan_clusters(list(inputs), 2, lambda k: inputs[k], lambda k: 3)
    assert clusters[0].prefix_len == 3


def test_boundary_merge_is_never_mistokenised(tiny_gemma: ModelWrapper) -> None:
    """The texts share a long string prefix, but in the last request its final characters merge
    with what follows into other tokens. Token-level clustering keeps each request's own tokens;
    that request shares a shorter prefix, or runs whole."""
    shared_text = "The following are questions about the history of the world. " * 6 + "Of th"
    requests = [(shared_text + ": " + x, " A") for x in ("one", "two", "three")]
    requests.append((shared_text + "e end:", " B"))  # " th" + "e" merges into " the"
    encode = tiny_gemma.encoder()
    prefix_tokens = encode(shared_text)
    assert encode(shared_text + "e end:")[: len(prefix_tokens)] != prefix_tokens
    tiny_gemma.prefix_cache, tiny_gemma.engine_stats = True, None
    reused = tiny_gemma.loglikelihood(requests)
    tiny_gemma.prefix_cache = False
    full = tiny_gemma.loglikelihood(requests)
    tiny_gemma.prefix_cache = True
    assert reused == pytest.approx(full, abs=1e-4)


class OomInjector(torch.nn.Module):
    """The tiny model, raising CUDA OOM on chosen batched forward calls (counted from 1; a
    prefix pass has a batch of one and is not counted)."""

    def __init__(self, model: Any, fail_on: set[int], batched_only: bool = True) -> None:
        super().__init__()
        self.batched_only = batched_only
        self.inner = model
        self.config = model.config
        self.fail_on = fail_on
        self.calls = 0

    def forward(self, input_ids: torch.Tensor, logits_to_keep: Any = 0, **kwargs: Any) -> Any:
        if input_ids.shape[0] > 1 or not self.batched_only:
            self.calls += 1
        if self.calls in self.fail_on and (input_ids.shape[0] > 1 or not self.batched_only):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. (injected)")
        return self.inner(input_ids=input_ids, logits_to_keep=logits_to_keep, **kwargs)


def test_oom_halves_the_batch_and_loses_nothing(tiny_gemma_path: Path, data_dir: Path) -> None:
    requests = mmlu_requests(data_dir, shots=0, limit=10)
    clean = HuggingFaceLoader().load_model(str(tiny_gemma_path), batch_size=8)
    expected = clean.loglikelihood(requests)
    faulty = HuggingFaceLoader().load_model(str(tiny_gemma_path), batch_size=8)
    faulty.model = OomInjector(faulty.model, fail_on={1, 2, 5})
    got = faulty.loglikelihood(requests)
    assert got == pytest.approx(expected, abs=1e-4)
    assert faulty.engine_stats.oom_retries == 3
    assert len(got) == len(requests)


def test_oom_at_batch_size_one_is_raised(tiny_gemma_path: Path) -> None:
    wrapper = HuggingFaceLoader().load_model(str(tiny_gemma_path), batch_size=1)
    wrapper.model = OomInjector(wrapper.model, fail_on=set(range(1, 100)), batched_only=False)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        wrapper.loglikelihood([("a b c", " d")])


def test_probe_halves_until_it_fits() -> None:
    class Fits:
        def __call__(self, input_ids: torch.Tensor, **_: Any) -> None:
            if input_ids.shape[0] > 40:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. (injected)")

    assert probe_batch_size(Fits(), 16, torch.device("cpu"), cap=512) == 32


def test_auto_batch_size_reprobes_as_lengths_fall() -> None:
    probed: list[int] = []

    def probe(model: Any, length: int, device: torch.device) -> int:
        probed.append(length)
        return 4096 // length

    sizer = BatchSizer("auto", None, torch.device("cuda"), probe=probe)
    assert sizer.for_length(1000) == 4
    assert sizer.for_length(900) == 4
    assert sizer.for_length(100) == 32
    assert probed == [1024, 128]
    assert BatchSizer("auto", None, torch.device("cpu")).for_length(100) == 16
    assert BatchSizer(7, None, torch.device("cuda")).for_length(100) == 7
