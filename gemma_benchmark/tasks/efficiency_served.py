"""The efficiency task against a model served over HTTP (`type: openai_compatible`).

Nothing on the server can be timed from inside, so this measures what a client sees on streamed
requests, with vLLM `benchmark_serving`'s definitions: TTFT, TPOT, inter-token latency and
end-to-end latency. Memory and the roofline belong to the server's machine and are reported as
not measured, with the reason.
"""

from __future__ import annotations

from typing import Any

from gemma_benchmark.utils.system_info import collect_system_info

FILLER = "The quick brown fox jumps over the lazy dog. "
NOT_MEASURED = "measured on the server's machine, not visible to an HTTP client"


def served_prompts(sample_prompts: list[str] | None, prompt_length: int, batch: int) -> list[str]:
    """`batch` prompts: the configured ones, cycled, else filler text of about `prompt_length`
    words (a server takes text, so random token ids cannot be sent)."""
    texts = sample_prompts or [" ".join((FILLER * prompt_length).split()[:prompt_length])]
    return [texts[i % len(texts)] for i in range(batch)]


def evaluate_served(model: Any, options: Any) -> dict[str, Any]:
    """Spec keys (`latency`, `tokens_per_second`, `memory_usage`, `system_info`) for the first
    batch size, plus every (batch, length) point's streaming summary under `measurements`."""
    measurements: dict[str, Any] = {}
    for batch in options.batch_sizes:
        prompts = served_prompts(options.sample_prompts, options.prompt_length, batch)
        points = measurements.setdefault(f"batch_{batch}", {})
        for n in options.output_lengths:
            for _ in range(options.warmup):
                model.stream_latency(prompts, n)
            runs = [model.stream_latency(prompts, n) for _ in range(options.repetitions)]
            points[f"tokens_{n}"] = best_of(runs)
    primary = measurements[f"batch_{options.batch_sizes[0]}"]
    return {
        "latency": {k: p["e2el_ms"]["median"] / 1000 for k, p in primary.items()},
        "tokens_per_second": {k: p["output_throughput"] for k, p in primary.items()},
        "memory_usage": {k: None for k in primary},
        "memory_note": NOT_MEASURED,
        "roofline": {"note": NOT_MEASURED},
        "system_info": {**collect_system_info(), "server": getattr(model, "model_name", "")},
        "primary": {"mode": "served", "batch_size": options.batch_sizes[0]},
        "measurements": {"served": measurements},
        "method": {"timing": "client-side streaming (vLLM benchmark_serving definitions)"},
    }


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The repetition with the median end-to-end latency, and how many there were."""
    ordered = sorted(runs, key=lambda r: r["e2el_ms"]["median"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen.pop("requests", None)
    chosen["repetitions"] = len(runs)
    return chosen
