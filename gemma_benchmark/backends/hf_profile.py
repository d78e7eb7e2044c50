"""Timing and memory of generation on a Hugging Face causal LM: the torch side of `efficiency`.

One measured point is a (prompt batch, N new tokens, eager or compiled) triple. For it we run:
one cold N-token generate (reported alone), `warmup` N-token and 1-token generates, then
`repetitions` pairs of a timed 1-token generate (time to first token) and a timed N-token
generate (end to end). Every generate is forced to emit exactly N tokens (`min_new_tokens =
max_new_tokens`, so EOS is masked) and the emitted token ids are counted; a miscount raises.

Timing: on CUDA, `torch.cuda.synchronize()` brackets each timed region, read with perf_counter,
so the figure is the wall time a caller waits (GPU work and host overhead alike). On CPU,
perf_counter alone.

Memory: see `process_memory`; on CPU the sampler runs during the cold and warmup runs only, so
the timed runs pay no sampling cost.

Compiled mode uses transformers' supported path: a `StaticCache` plus a `CompileConfig` in the
generation config, so `generate` compiles the decoding forward itself (prefill stays eager).
Compiling `model.forward` by hand with CUDA graphs breaks, because `generate` keeps step t's
outputs while step t+1 replays the graph. The cache is built here, sized once for the longest
point (`max_cache_len`), passed to every generate of a batch size and reset in place between
runs. Letting `generate` build its own (`cache_implementation="static"`) allocates fresh cache
tensors on each call, and CUDA graphs re-record whenever a static input's address changes, so
every timed run would pay a graph capture. With one cache the decode graph is captured once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from gemma_benchmark.backends.process_memory import CudaPeak, RssPeak, current_rss_bytes

Runner = Callable[[], tuple[float, int]]
"""One timed generate: (seconds, new token ids counted)."""


@dataclass(frozen=True)
class CompileSettings:
    """`mode` None picks "reduce-overhead" (CUDA graphs) on CUDA and "default" elsewhere: CUDA
    graphs do not exist on CPU, and inductor's default mode compiles and runs correctly there."""

    mode: str | None = None
    backend: str = "inductor"

    def resolved_mode(self, device_type: str) -> str | None:
        if self.backend != "inductor":
            return None  # modes are inductor options; other backends reject them
        if self.mode is not None:
            return self.mode
        return "reduce-overhead" if device_type == "cuda" else "default"


@dataclass(frozen=True)
class PointSpec:
    prompts: list[list[int]]  # one row of token ids per sequence in the batch
    new_tokens: int
    warmup: int
    repetitions: int
    compile: CompileSettings | None = None
    max_cache_len: int | None = None  # static cache size for compiled mode


@dataclass
class PointTimings:
    """Raw measurements of one point; seconds, bytes and counted tokens."""

    cold_start_s: float
    ttft_s: list[float]
    e2e_s: list[float]
    generated_tokens: int  # new token ids counted in each N-token run (batch × N)
    prompt_tokens: int  # real (unpadded) prompt tokens over the batch
    memory: dict[str, float] = field(default_factory=dict)
    memory_usage_bytes: float = 0.0


@dataclass(frozen=True)
class ModelShape:
    """What the roofline needs to know about a model."""

    params: int  # parameters that take part in matmuls (untied input embedding excluded)
    weight_bytes: int  # bytes a decoding step reads (untied input embedding excluded)
    kv_bytes_per_token_per_layer: int
    layer_windows: tuple[int | None, ...]
    device_type: str
    device_name: str | None  # the GPU name; None on CPU


# -- model facts ------------------------------------------------------------------------------


def model_shape(model: Any) -> ModelShape:
    embedding = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    tied = output is not None and output.weight.data_ptr() == embedding.data_ptr()
    params = sum(p.numel() for p in model.parameters())
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    if not tied:
        params -= embedding.numel()
        weight_bytes -= embedding.numel() * embedding.element_size()
    device = next(model.parameters()).device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    config = model.config.get_text_config()
    return ModelShape(
        params=int(params),
        weight_bytes=int(weight_bytes),
        kv_bytes_per_token_per_layer=_kv_bytes_per_token_per_layer(config, model.dtype),
        layer_windows=_layer_windows(config),
        device_type=device.type,
        device_name=name,
    )


def _kv_bytes_per_token_per_layer(config: Any, dtype: torch.dtype) -> int:
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    return 2 * kv_heads * head_dim * dtype.itemsize  # K and V


def _layer_windows(config: Any) -> tuple[int | None, ...]:
    """Per layer: None for full attention, the sliding window for a sliding layer."""
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None)
    layers = int(config.num_hidden_layers)
    if types is not None and window is not None:
        return tuple(int(window) if "sliding" in str(t) else None for t in types)
    return tuple(int(window) if window is not None else None for _ in range(layers))


def random_prompts(
    model: Any, tokenizer: Any, length: int, count: int, seed: int
) -> list[list[int]]:
    """`count` prompts of exactly `length` ids: BOS (if any), then uniform non-special ids."""
    vocab = int(model.config.get_text_config().vocab_size)
    special = set(tokenizer.all_special_ids)
    rng = random.Random(seed)
    bos = tokenizer.bos_token_id
    head = [int(bos)] if bos is not None else []
    rows = []
    for _ in range(count):
        body: list[int] = []
        while len(head) + len(body) < length:
            token = rng.randrange(vocab)
            if token not in special:
                body.append(token)
        rows.append((head + body)[:length])
    return rows


# -- generation -------------------------------------------------------------------------------


def _left_padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(list(row), dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


def exact_generation_config(
    tokenizer: Any, new_tokens: int, spec: PointSpec, device_type: str
) -> Any:
    """Greedy, exactly `new_tokens` tokens; generate's own compile if asked, in which case the
    caller passes the StaticCache (`cache=`), so no cache_implementation is named here.

    Eager runs name the dynamic cache and disable compile explicitly, so a checkpoint's own
    generation config (Gemma 2's asks for a static "hybrid" cache) cannot switch them over.
    """
    from transformers import CompileConfig, GenerationConfig

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    settings: dict[str, Any] = {
        "max_new_tokens": new_tokens,
        "min_new_tokens": new_tokens,
        "do_sample": False,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": pad,
        "bos_token_id": tokenizer.bos_token_id,
        "use_cache": True,
    }
    if spec.compile is None:
        settings.update(cache_implementation="dynamic", disable_compile=True)
        return GenerationConfig(**settings)
    compile_config = CompileConfig(
        mode=spec.compile.resolved_mode(device_type),  # type: ignore[arg-type]
        backend=spec.compile.backend,
    )
    if device_type not in ("cuda", "xpu"):
        # transformers compiles automatically only on accelerators unless told otherwise.
        compile_config._compile_all_devices = True  # type: ignore[assignment]
    # No cache_implementation: the caller passes its own StaticCache (see `StaticCachePool`).
    settings.update(compile_config=compile_config, disable_compile=False)
    return GenerationConfig(**settings)


class StaticCachePool:
    """One StaticCache per (batch size, length), kept across generate calls and reset in place,
    so the compiled decode graph sees the same cache tensors (addresses) on every run."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._key: tuple[int, int] | None = None
        self._cache: Any = None

    def fresh(self, batch: int, max_cache_len: int) -> Any:
        """The pool's cache for this shape, emptied; the previous shape's cache is dropped."""
        from transformers import StaticCache

        if self._key != (batch, max_cache_len):
            self._cache = None  # free the old tensors before allocating the new ones
            config = self.model.config.get_text_config(decoder=True)
            self._cache = StaticCache(config=config, max_cache_len=max_cache_len)
            self._key = (batch, max_cache_len)
        else:
            self._cache.reset()
        return self._cache


class GenerationProfiler:
    """Measures points on one loaded model; construct it right after loading, since its
    baseline RSS (the loaded model) is what CPU memory growth is counted from."""

    def __init__(self, wrapper: Any) -> None:
        self.wrapper = wrapper
        self.shape = model_shape(wrapper.model)
        self.baseline_rss = current_rss_bytes()
        self.static_caches = StaticCachePool(wrapper.model)

    def _sync(self) -> None:
        if self.shape.device_type == "cuda":
            torch.cuda.synchronize()

    def _runner(self, ids: torch.Tensor, mask: torch.Tensor, n: int, spec: PointSpec) -> Runner:
        model = self.wrapper.model
        config = exact_generation_config(self.wrapper.tokenizer, n, spec, self.shape.device_type)
        expected = ids.shape[0] * n
        cache_len = spec.max_cache_len or ids.shape[1] + spec.new_tokens

        def run() -> tuple[float, int]:
            extra: dict[str, Any] = {}
            if spec.compile is not None:
                extra["cache"] = self.static_caches.fresh(ids.shape[0], cache_len)
            self._sync()
            start = time.perf_counter()
            output = model.generate(
                input_ids=ids, attention_mask=mask, generation_config=config, **extra
            )
            self._sync()
            elapsed = time.perf_counter() - start
            counted = int(output[:, ids.shape[1] :].numel())
            if counted != expected:
                raise RuntimeError(f"generate emitted {counted} new token ids, expected {expected}")
            return elapsed, counted

        return run

    def _memory_probe(self) -> RssPeak | CudaPeak:
        if self.shape.device_type == "cuda":
            return CudaPeak()
        return RssPeak(self.baseline_rss)

    @torch.inference_mode()
    def measure(self, spec: PointSpec) -> PointTimings:
        """Raises RuntimeError when a generate emits other than batch × N tokens."""
        pad = self.wrapper.tokenizer.pad_token_id
        ids, mask = _left_padded(spec.prompts, int(pad if pad is not None else 0))
        ids, mask = ids.to(self.wrapper.device), mask.to(self.wrapper.device)
        full = self._runner(ids, mask, spec.new_tokens, spec)
        first = self._runner(ids, mask, 1, spec)
        probe = self._memory_probe()
        probe.start()
        try:
            cold_start, _ = full()
            for _ in range(spec.warmup):
                full()
                first()
        finally:
            probe.pause()
        ttft, e2e, counted = [], [], 0
        for _ in range(spec.repetitions):
            ttft.append(first()[0])
            elapsed, counted = full()
            e2e.append(elapsed)
        memory, usage = probe.finish()
        return PointTimings(
            cold_start_s=cold_start,
            ttft_s=ttft,
            e2e_s=e2e,
            generated_tokens=counted,
            prompt_tokens=int(mask.sum().item()),
            memory=memory,
            memory_usage_bytes=usage,
        )
