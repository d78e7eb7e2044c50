"""Efficiency: latency, throughput and memory of generation, set against the hardware's limit.

Method (after optimum-benchmark, vLLM's benchmark_latency and llama-bench): every output length
N is generated exactly (EOS masked, emitted ids counted); a cold run is reported alone, then
warmup runs, then `repetitions` timed pairs of a 1-token generate (TTFT, the prefill) and an
N-token generate (end to end). Decode time per output token is (e2e - ttft) / (N - 1). Each
metric gets median, mean, std, p90 and p99. Throughput at batch b counts b × N tokens.

The spec's keys (`latency`, `memory_usage`, `tokens_per_second`, keyed `tokens_<N>`) report the
primary configuration: the first batch size, compiled when `torch_compile` is set, else eager;
`measurements` holds every mode × batch size × length. Memory is in GB (1e9 bytes):
`memory_usage` is the peak allocated on CUDA, and the peak RSS growth over the loaded model on
CPU. Each point's `roofline` gives the decode and prefill limits of the hardware and the share
of them reached (see `gemma_benchmark.utils.roofline`). Timings are wall-clock, so this task is
not deterministic: `evaluation.runs` repeats it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from gemma_benchmark.exceptions import BenchmarkExecutionError
from gemma_benchmark.tasks.base import Task, TaskOptions
from gemma_benchmark.tasks.registry import register_task
from gemma_benchmark.utils.roofline import (
    PeakChoice,
    Workload,
    kv_cache_bytes,
    resolve_peak,
    roofline,
)
from gemma_benchmark.utils.system_info import collect_system_info

GB = 1e9


class EfficiencyOptions(TaskOptions):
    sample_prompts: list[str] | None = Field(
        default=None, description="batch row i uses prompt i mod len; unset: random token prompts"
    )
    output_lengths: list[int] = Field(default_factory=lambda: [128, 256, 512])
    batch_sizes: list[int] = Field(default_factory=lambda: [1])
    prompt_length: int = Field(default=128, description="tokens per random prompt")
    warmup: int = 3
    repetitions: int = 5
    torch_compile: bool = Field(default=False, description="static KV cache + torch.compile")
    compare_compiled: bool = Field(default=False, description="measure eager and compiled")
    compile_mode: str | None = Field(default=None, description="None: reduce-overhead on CUDA")
    compile_backend: str = "inductor"
    peak_bandwidth_gbps: float | None = None
    peak_tflops: float | None = None
    seed: int = 0
    limit: int | None = Field(default=None, ge=1, description="sample prompts used")

    @field_validator("output_lengths", "batch_sizes")
    @classmethod
    def _positive_distinct(cls, values: list[int]) -> list[int]:
        if not values:
            raise ValueError("must list at least one value, got []")
        bad = [v for v in values if v <= 0]
        if bad:
            raise ValueError(f"every value must be a positive integer, got {bad[0]}")
        if len(set(values)) != len(values):
            raise ValueError(f"must not repeat a value, got {values}")
        return values

    @field_validator("repetitions", "prompt_length")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @field_validator("warmup")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"must be 0 or more, got {value}")
        return value

    @field_validator("peak_bandwidth_gbps", "peak_tflops")
    @classmethod
    def _positive_peak(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError(f"must be positive, got {value}")
        return value

    @field_validator("sample_prompts")
    @classmethod
    def _some_prompts(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("must list at least one prompt, or be left out for random prompts")
        return value


def spread(values: list[float]) -> dict[str, float] | None:
    """median, mean, std (sample, 0 for one value), p90, p99, min, max and n; None if empty."""
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return {
        "median": float(np.median(array)),
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if array.size > 1 else 0.0,
        "p90": float(np.percentile(array, 90)),
        "p99": float(np.percentile(array, 99)),
        "min": float(array.min()),
        "max": float(array.max()),
        "n": int(array.size),
    }


def phase_series(raw: Any, batch: int, new_tokens: int) -> dict[str, list[float]]:
    """Per-repetition figures of every phase, from paired (ttft, e2e) timings."""
    pairs = list(zip(raw.ttft_s, raw.e2e_s, strict=True))
    decode = [(e2e - ttft) for ttft, e2e in pairs] if new_tokens > 1 else []
    return {
        "ttft_s": list(raw.ttft_s),
        "e2e_s": list(raw.e2e_s),
        "tpot_s": [d / (new_tokens - 1) for d in decode],
        "tokens_per_second": [batch * new_tokens / e2e for e2e in raw.e2e_s],
        "decode_tokens_per_second": [batch * (new_tokens - 1) / d for d in decode if d > 0],
        "prefill_tokens_per_second": [raw.prompt_tokens / t for t in raw.ttft_s if t > 0],
    }


@register_task("efficiency")
class EfficiencyBenchmark(Task):
    """Generation latency (TTFT, per-token, end to end), throughput and memory per length."""

    description = "Generation latency, throughput and memory, with a roofline per point"
    primary_metric = "tokens_per_second"
    data_source = "sample_prompts from config, or random token prompts"
    Options = EfficiencyOptions
    deterministic = False

    @property
    def opts(self) -> EfficiencyOptions:
        assert isinstance(self.options, EfficiencyOptions)
        return self.options

    def primary_mode(self) -> str:
        return "compiled" if self.opts.torch_compile else "eager"

    def modes(self) -> list[str]:
        """The modes to measure, eager first when both: compiling leaves state behind (dynamo
        caches, retained host memory) that should not weigh on the eager figures."""
        if self.opts.compare_compiled:
            return ["eager", "compiled"]
        return [self.primary_mode()]

    def prompts(self, model: Any, batch: int) -> list[list[int]]:
        from gemma_benchmark.backends.hf_profile import random_prompts

        if self.opts.sample_prompts is None:
            length, seed = self.opts.prompt_length, self.opts.seed
            return random_prompts(model.model, model.tokenizer, length, batch, seed)
        texts = self.opts.sample_prompts[: self.opts.limit]
        encode = model.encoder()
        encoded = [encode(text) for text in texts]
        return [encoded[i % len(encoded)] for i in range(batch)]

    def evaluate(self, model: Any) -> dict[str, Any]:
        """Raises BenchmarkExecutionError when prompt + output exceed the model's context."""
        if hasattr(model, "stream_latency"):  # served over HTTP: time what a client sees
            from gemma_benchmark.tasks.efficiency_served import evaluate_served

            return evaluate_served(model, self.opts)
        from gemma_benchmark.backends.hf_profile import GenerationProfiler

        profiler = GenerationProfiler(model)
        peak = resolve_peak(
            profiler.shape.device_name, self.opts.peak_bandwidth_gbps, self.opts.peak_tflops
        )
        prompts = {b: self.prompts(model, b) for b in self.opts.batch_sizes}
        self._check_context(model, prompts)
        measurements: dict[str, Any] = {}
        total = len(self.modes()) * len(self.opts.batch_sizes) * len(self.opts.output_lengths)
        done = 0
        for mode in self.modes():
            for batch, rows in prompts.items():
                per_length = measurements.setdefault(mode, {}).setdefault(f"batch_{batch}", {})
                for n in self.opts.output_lengths:
                    per_length[f"tokens_{n}"] = self._measure(profiler, peak, mode, rows, n)
                    done += 1
                    self.report_progress(done, total)
        return self._result(model, profiler, measurements, peak)

    def _check_context(self, model: Any, prompts: dict[int, list[list[int]]]) -> None:
        width = max(len(row) for rows in prompts.values() for row in rows)
        longest = max(self.opts.output_lengths)
        if width + longest > model.max_length:
            raise BenchmarkExecutionError(
                f"efficiency: prompt of {width} tokens + {longest} new tokens exceeds the "
                f"model's context of {model.max_length}"
            )

    def _measure(
        self, profiler: Any, peak: PeakChoice, mode: str, rows: list[list[int]], n: int
    ) -> dict[str, Any]:
        from gemma_benchmark.backends.hf_profile import CompileSettings, PointSpec

        compiled = mode == "compiled"
        settings = CompileSettings(self.opts.compile_mode, self.opts.compile_backend)
        width = max(len(row) for row in rows)
        spec = PointSpec(
            prompts=rows,
            new_tokens=n,
            warmup=self.opts.warmup,
            repetitions=self.opts.repetitions,
            compile=settings if compiled else None,
            max_cache_len=width + max(self.opts.output_lengths) if compiled else None,
        )
        raw = profiler.measure(spec)
        point = self._summarize(raw, len(rows), n)
        if compiled:
            point["compile_overhead_s"] = max(raw.cold_start_s - point["e2e_s"]["median"], 0.0)
        point["roofline"] = self._roofline(profiler, peak, point, width)
        return point

    def _summarize(self, raw: Any, batch: int, n: int) -> dict[str, Any]:
        point: dict[str, Any] = {
            "batch_size": batch,
            "new_tokens": n,
            "prompt_tokens": raw.prompt_tokens,
            "generated_tokens": raw.generated_tokens,
            "cold_start_s": raw.cold_start_s,
        }
        for name, values in phase_series(raw, batch, n).items():
            point[name] = spread(values)
        point["memory"] = {k.replace("_bytes", "_gb"): v / GB for k, v in raw.memory.items()}
        point["memory_usage_gb"] = raw.memory_usage_bytes / GB
        return point

    def _roofline(
        self, profiler: Any, peak: PeakChoice, point: dict[str, Any], width: int
    ) -> dict[str, Any]:
        shape = profiler.shape
        context = width + point["new_tokens"] / 2  # mean context over the decoding steps
        work = Workload(
            params=shape.params,
            weight_bytes=shape.weight_bytes,
            kv_bytes_per_sequence=kv_cache_bytes(
                context, shape.kv_bytes_per_token_per_layer, shape.layer_windows
            ),
            batch_size=point["batch_size"],
        )
        decode = point["decode_tokens_per_second"]
        section = roofline(
            work,
            peak,
            decode["median"] if decode else None,
            point["prefill_tokens_per_second"]["median"],
        )
        dtype = str(profiler.wrapper.model.dtype)
        if peak.spec is not None and not dtype.endswith(("bfloat16", "float16")):
            section["note"] = f"model runs in {dtype}; peak_tflops is a bf16 tensor-core figure"
        return section

    def _result(
        self, model: Any, profiler: Any, measurements: dict[str, Any], peak: PeakChoice
    ) -> dict[str, Any]:
        mode = self.primary_mode()
        batch = self.opts.batch_sizes[0]
        primary = measurements[mode][f"batch_{batch}"]
        shape = profiler.shape
        result: dict[str, Any] = {
            "latency": {key: p["e2e_s"]["median"] for key, p in primary.items()},
            "memory_usage": {key: p["memory_usage_gb"] for key, p in primary.items()},
            "tokens_per_second": {
                key: p["tokens_per_second"]["median"] for key, p in primary.items()
            },
            "system_info": collect_system_info(model.model),
            "primary": {"mode": mode, "batch_size": batch},
            "measurements": measurements,
            "model": {
                "params": shape.params,
                "weights_gb": shape.weight_bytes / GB,
                "kv_bytes_per_token": shape.kv_bytes_per_token_per_layer * len(shape.layer_windows),
            },
            "method": self._method(shape.device_type, peak),
        }
        if "compiled" in measurements:
            result["compile"] = self._compile_summary(shape.device_type, measurements["compiled"])
        return result

    def _method(self, device_type: str, peak: PeakChoice) -> dict[str, Any]:
        on_cuda = device_type == "cuda"
        return {
            "warmup": self.opts.warmup,
            "repetitions": self.opts.repetitions,
            "prompts": "random tokens" if self.opts.sample_prompts is None else "sample_prompts",
            "timer": "cuda.synchronize + perf_counter" if on_cuda else "perf_counter",
            "memory": "torch.cuda peak allocated" if on_cuda else "peak RSS growth over model",
            "peak_source": peak.source,
        }

    def _compile_summary(self, device_type: str, compiled: dict[str, Any]) -> dict[str, Any]:
        from gemma_benchmark.backends.hf_profile import CompileSettings

        settings = CompileSettings(self.opts.compile_mode, self.opts.compile_backend)
        overheads = [p["compile_overhead_s"] for p in _points({"compiled": compiled})]
        return {
            "mode": settings.resolved_mode(device_type),
            "backend": settings.backend,
            "cache_implementation": "static",
            "cache_reuse": "one StaticCache per batch size, reset in place between runs",
            "compile_s": float(sum(overheads)),
        }


def _points(measurements: dict[str, Any]) -> list[dict[str, Any]]:
    """Every point of a mode -> batch -> length nesting."""
    return [
        point
        for per_batch in measurements.values()
        for per_length in per_batch.values()
        for point in per_length.values()
    ]
