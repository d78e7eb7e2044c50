"""Serving latency over HTTP, measured on streamed completions as vLLM's `benchmark_serving`.

Definitions (vLLM `benchmarks/backend_request_func.py` and `benchmark_serving.py`):

- TTFT: from sending the request to the first streamed chunk carrying text.
- ITL: the gap between one text chunk and the next (one value per chunk after the first; a
  chunk may hold several tokens).
- E2EL: from sending the request to the last text chunk.
- TPOT: `(E2EL - TTFT) / (output tokens - 1)` per request, for requests with more than one
  output token. Output tokens come from the server's `usage` (`stream_options.include_usage`),
  else the number of text chunks.

Summaries give mean, median, std and p90/p99 in milliseconds, plus request and output-token
throughput over the wall time of the whole batch of requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gemma_benchmark.backends.openai_compatible import OpenAICompatibleModel

Clock = Callable[[], float]


@dataclass(frozen=True)
class StreamTiming:
    """One streamed request. Times in seconds."""

    ttft_s: float
    itl_s: tuple[float, ...]
    latency_s: float
    output_tokens: int
    text: str

    @property
    def tpot_s(self) -> float | None:
        if self.output_tokens <= 1:
            return None
        return (self.latency_s - self.ttft_s) / (self.output_tokens - 1)


def time_stream(
    chunks: Iterable[Any], started: float, clock: Clock = time.perf_counter
) -> StreamTiming:
    """Timing of one stream of completion chunks; `started` is when the request was sent."""
    ttft, last, usage_tokens = 0.0, started, None
    itl: list[float] = []
    pieces: list[str] = []
    for chunk in chunks:
        text = chunk.choices[0].text if chunk.choices else ""
        if text:
            now = clock()
            if not pieces:
                ttft = now - started
            else:
                itl.append(now - last)
            last = now
            pieces.append(text)
        usage = getattr(chunk, "usage", None)
        if usage is not None and usage.completion_tokens is not None:
            usage_tokens = int(usage.completion_tokens)
    tokens = usage_tokens if usage_tokens is not None else len(pieces)
    return StreamTiming(ttft, tuple(itl), last - started, tokens, "".join(pieces))


def stream_one(model: OpenAICompatibleModel, prompt: str, max_new_tokens: int) -> StreamTiming:
    """Send one streamed greedy completion and time it (`ignore_eos` where the server has it)."""
    started = time.perf_counter()
    stream = model.call(
        "streamed completion",
        model.client.completions.create,
        prompt=prompt,
        max_tokens=max_new_tokens,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
    )
    try:
        return time_stream(stream, started)
    except model.openai.APIError as err:
        raise model.request_error("streamed completion", err) from None


def summarize(timings: list[StreamTiming], duration_s: float) -> dict[str, Any]:
    """vLLM's summary figures (milliseconds) for a batch of streamed requests."""
    output_tokens = sum(t.output_tokens for t in timings)
    tpots = [t.tpot_s for t in timings if t.tpot_s is not None]
    return {
        "completed": len(timings),
        "duration_s": duration_s,
        "total_output_tokens": output_tokens,
        "request_throughput": len(timings) / duration_s if duration_s > 0 else None,
        "output_throughput": output_tokens / duration_s if duration_s > 0 else None,
        "ttft_ms": spread_ms([t.ttft_s for t in timings]),
        "tpot_ms": spread_ms(tpots),
        "itl_ms": spread_ms([gap for t in timings for gap in t.itl_s]),
        "e2el_ms": spread_ms([t.latency_s for t in timings]),
    }


def spread_ms(values_s: list[float]) -> dict[str, float] | None:
    if not values_s:
        return None
    values = np.asarray(values_s, dtype=float) * 1000.0
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "std": float(values.std()),
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
    }


def benchmark_streaming(
    model: OpenAICompatibleModel, prompts: list[str], max_new_tokens: int
) -> dict[str, Any]:
    """Stream every prompt (up to the model's `max_concurrency` at once) and summarize.

    Returns the summary plus `requests`: per-request ttft_s, latency_s, output_tokens, tpot_s."""
    started = time.perf_counter()
    timings = model.map(lambda prompt: stream_one(model, prompt, max_new_tokens), prompts)
    result = summarize(timings, time.perf_counter() - started)
    result["requests"] = [
        {
            "ttft_s": t.ttft_s,
            "latency_s": t.latency_s,
            "output_tokens": t.output_tokens,
            "tpot_s": t.tpot_s,
            "itl_s": list(t.itl_s),
        }
        for t in timings
    ]
    return result
