"""The efficiency task on a tiny real Gemma on the CPU: exact token counts, phases that add up,
the spec's keys, ordered percentiles, memory that grows with the batch, compiled mode and
config validation. Timings on a shared CPU are noisy, so no test compares two timings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from gemma_benchmark.backends.hf_profile import (
    CompileSettings,
    GenerationProfiler,
    PointSpec,
    _layer_windows,
    exact_generation_config,
    model_shape,
    random_prompts,
)
from gemma_benchmark.core.model_loader import HuggingFaceLoader, ModelWrapper
from gemma_benchmark.exceptions import BenchmarkExecutionError, TaskInitializationError
from gemma_benchmark.tasks.efficiency import EfficiencyBenchmark, spread
from gemma_benchmark.tasks.registry import resolve_task_class
from gemma_benchmark.utils.system_info import collect_system_info

LENGTHS = [4, 8]
BATCHES = [1, 8]
STATS = ("ttft_s", "e2e_s", "tpot_s", "tokens_per_second", "decode_tokens_per_second")


@pytest.fixture(scope="module")
def eager_result(tiny_gemma: ModelWrapper) -> dict[str, Any]:
    config = {
        "output_lengths": LENGTHS,
        "batch_sizes": BATCHES,
        "prompt_length": 64,
        "repetitions": 2,
        "warmup": 0,  # the compiled test covers warmup; this keeps the module fast
    }
    return EfficiencyBenchmark(config).evaluate(tiny_gemma)


def points(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        point
        for per_batch in result["measurements"].values()
        for per_length in per_batch.values()
        for point in per_length.values()
    ]


def test_registered_as_efficiency() -> None:
    assert resolve_task_class("efficiency") is EfficiencyBenchmark


def test_every_run_emits_exactly_batch_times_n_tokens(eager_result: dict[str, Any]) -> None:
    for point in points(eager_result):
        assert point["generated_tokens"] == point["batch_size"] * point["new_tokens"]
        assert point["prompt_tokens"] == point["batch_size"] * 64


def test_eos_is_ignored(tiny_gemma: ModelWrapper) -> None:
    """Make the greedy first token the EOS: plain generate stops at once, the profiler does not."""
    model = tiny_gemma.model
    rows = random_prompts(model, tiny_gemma.tokenizer, 16, 1, seed=3)
    ids = torch.tensor(rows)
    with torch.inference_mode():
        first = int(model(ids).logits[0, -1].argmax())
        plain = model.generate(ids, max_new_tokens=6, do_sample=False, eos_token_id=first)
    assert plain.shape[1] - ids.shape[1] == 1
    tokenizer = SimpleNamespace(pad_token_id=0, eos_token_id=first, bos_token_id=2)
    wrapper = ModelWrapper("eos-first", model, tokenizer, add_bos=True)
    timings = GenerationProfiler(wrapper).measure(PointSpec(rows, 6, warmup=0, repetitions=1))
    assert timings.generated_tokens == 6


def test_a_miscount_raises(tiny_gemma: ModelWrapper, monkeypatch: pytest.MonkeyPatch) -> None:
    profiler = GenerationProfiler(tiny_gemma)
    monkeypatch.setattr(tiny_gemma.model, "generate", lambda **kwargs: kwargs["input_ids"])
    with pytest.raises(RuntimeError, match="emitted 0 new token ids, expected 4"):
        profiler.measure(PointSpec([[2, 10, 11]], 4, warmup=0, repetitions=1))


def test_phases_add_up_to_end_to_end(eager_result: dict[str, Any]) -> None:
    for point in points(eager_result):
        n = point["new_tokens"]
        rebuilt = point["ttft_s"]["mean"] + (n - 1) * point["tpot_s"]["mean"]
        assert rebuilt == pytest.approx(point["e2e_s"]["mean"], rel=0.10)


def test_spec_keys_present_and_sane(eager_result: dict[str, Any]) -> None:
    keys = {f"tokens_{n}" for n in LENGTHS}
    assert set(eager_result["latency"]) == keys
    assert set(eager_result["memory_usage"]) == keys
    assert set(eager_result["tokens_per_second"]) == keys
    for key in keys:
        assert eager_result["latency"][key] > 0
        assert eager_result["tokens_per_second"][key] > 0
        assert eager_result["memory_usage"][key] >= 0
    info = eager_result["system_info"]
    for name in ("os", "cpu_count", "memory_total", "cuda_available", "gpu_name"):
        assert name in info
    assert info["cuda_available"] is False and info["gpu_name"] == []
    assert info["cpu_count"] >= 1 and info["memory_total"] > 0
    assert info["dtype"] == "float32" and info["torch_version"]
    assert eager_result["primary"] == {"mode": "eager", "batch_size": 1}


def test_spec_keys_report_the_primary_batch(eager_result: dict[str, Any]) -> None:
    primary = eager_result["measurements"]["eager"]["batch_1"]
    for key, point in primary.items():
        assert eager_result["latency"][key] == point["e2e_s"]["median"]


def test_percentiles_are_ordered(eager_result: dict[str, Any]) -> None:
    for point in points(eager_result):
        for name in STATS:
            s = point[name]
            if s is None:  # decode rate when no repetition had a positive decode time
                continue
            assert s["min"] <= s["median"] <= s["p90"] <= s["p99"] <= s["max"]
            assert s["min"] <= s["mean"] <= s["max"] and s["std"] >= 0


def test_spread_of_a_known_series() -> None:
    stats = spread([float(v) for v in range(1, 11)])
    assert stats is not None
    assert stats["median"] == pytest.approx(5.5)
    assert stats["p90"] == pytest.approx(9.1)
    assert stats["p99"] == pytest.approx(9.91)
    assert stats["std"] == pytest.approx(3.0277, abs=1e-4)
    assert spread([]) is None


def test_memory_grows_with_batch_size(eager_result: dict[str, Any]) -> None:
    measured = eager_result["measurements"]["eager"]
    for n in LENGTHS:
        small = measured["batch_1"][f"tokens_{n}"]["memory_usage_gb"]
        large = measured["batch_8"][f"tokens_{n}"]["memory_usage_gb"]
        assert large > small > 0


def test_throughput_counts_the_whole_batch(eager_result: dict[str, Any]) -> None:
    point = eager_result["measurements"]["eager"]["batch_8"]["tokens_8"]
    e2e = point["e2e_s"]
    assert 8 * 8 / e2e["max"] <= point["tokens_per_second"]["median"] <= 8 * 8 / e2e["min"]


def test_cpu_roofline_has_no_percentage_and_says_why(eager_result: dict[str, Any]) -> None:
    roof = points(eager_result)[0]["roofline"]
    assert roof["decode_pct_of_limit"] is None and roof["prefill_pct_of_limit"] is None
    assert "peak_bandwidth_gbps" in roof["note"]
    assert roof["bytes_per_decode_step"] > roof["weight_bytes"] > 0


def test_configured_peaks_give_percentages(tiny_gemma: ModelWrapper) -> None:
    config = {
        "output_lengths": [2],
        "prompt_length": 8,
        "repetitions": 1,
        "warmup": 0,
        "peak_bandwidth_gbps": 10.0,
        "peak_tflops": 0.5,
    }
    result = EfficiencyBenchmark(config).evaluate(tiny_gemma)
    roof = result["measurements"]["eager"]["batch_1"]["tokens_2"]["roofline"]
    assert roof["peak_source"] == "config"
    assert roof["prefill_pct_of_limit"] > 0
    assert "float32" in roof["note"]  # bf16 peak against an fp32 model is flagged


def test_model_shape_of_tiny_gemma(tiny_gemma: ModelWrapper) -> None:
    shape = model_shape(tiny_gemma.model)
    total = sum(p.numel() for p in tiny_gemma.model.parameters())
    assert shape.params == total  # Gemma ties its embeddings: nothing is left out
    assert shape.weight_bytes == 4 * total
    assert shape.kv_bytes_per_token_per_layer == 2 * 2 * 16 * 4  # K+V, 2 kv heads, dim 16, fp32
    assert shape.layer_windows == (None, None)
    assert shape.device_type == "cpu" and shape.device_name is None


def test_sliding_layers_are_read_from_the_config() -> None:
    config = SimpleNamespace(
        num_hidden_layers=2, sliding_window=256, layer_types=["sliding_attention", "full_attention"]
    )
    assert _layer_windows(config) == (256, None)


def test_generation_configs_for_each_mode() -> None:
    tokenizer = SimpleNamespace(pad_token_id=0, eos_token_id=1, bos_token_id=2)
    eager = exact_generation_config(tokenizer, 8, PointSpec([[2]], 8, 0, 1), "cpu")
    assert eager.min_new_tokens == eager.max_new_tokens == 8
    assert eager.cache_implementation == "dynamic" and eager.disable_compile
    spec = PointSpec([[2]], 8, 0, 1, compile=CompileSettings(), max_cache_len=40)
    compiled = exact_generation_config(tokenizer, 8, spec, "cpu")
    assert compiled.cache_implementation is None  # the profiler passes its own StaticCache
    assert not compiled.disable_compile
    assert compiled.compile_config.mode == "default"
    assert compiled.compile_config._compile_all_devices


def test_compile_mode_per_device() -> None:
    assert CompileSettings().resolved_mode("cuda") == "reduce-overhead"
    assert CompileSettings().resolved_mode("cpu") == "default"
    assert CompileSettings("max-autotune").resolved_mode("cuda") == "max-autotune"
    assert CompileSettings(backend="aot_eager").resolved_mode("cuda") is None


def test_compiled_and_eager_compared(tiny_gemma_path: Path) -> None:
    # A model of its own: compiling attaches state to the module. aot_eager traces through
    # dynamo and AOT autograd like inductor, without inductor's minute of C++ builds on a CPU.
    wrapper = HuggingFaceLoader().load_model(str(tiny_gemma_path), name="tiny-compiled")
    config = {
        "output_lengths": [4],
        "prompt_length": 16,
        "repetitions": 1,
        "warmup": 1,
        "torch_compile": True,
        "compare_compiled": True,
        "compile_backend": "aot_eager",
    }
    result = EfficiencyBenchmark(config).evaluate(wrapper)
    assert list(result["measurements"]) == ["eager", "compiled"]
    assert result["primary"]["mode"] == "compiled"
    assert result["compile"]["cache_implementation"] == "static"
    assert result["compile"]["compile_s"] >= 0
    compiled = result["measurements"]["compiled"]["batch_1"]["tokens_4"]
    assert compiled["generated_tokens"] == 4 and compiled["compile_overhead_s"] >= 0
    assert hasattr(wrapper.model, "_compiled_call")  # generate really compiled the decode step


def test_compiled_runs_reuse_one_static_cache(tiny_gemma2_path: Path) -> None:
    # CUDA graphs re-record whenever a static input moves, so every compiled run of a batch
    # size must decode into the same cache tensors. The checkpoint asks for a cache of its own
    # (as Gemma 2's does); the profiler's cache wins, and the tokens equal eager decoding.
    wrapper = HuggingFaceLoader().load_model(str(tiny_gemma2_path), name="tiny-static")
    wrapper.model.generation_config.cache_implementation = "hybrid"
    profiler = GenerationProfiler(wrapper)
    rows = [[2, 17, 33, 41, 58, 60], [2, 90, 12, 7, 301, 77]]
    compiled = CompileSettings(backend="aot_eager")
    seen: list[tuple[int, int]] = []
    original = profiler.static_caches.fresh

    def recording(batch: int, length: int):  # type: ignore[no-untyped-def]
        cache = original(batch, length)
        seen.append((id(cache), cache.layers[0].keys.data_ptr() if seen else 0))
        return cache

    profiler.static_caches.fresh = recording  # type: ignore[method-assign]
    profiler.measure(PointSpec(rows, 5, 1, 2, compile=compiled, max_cache_len=16))
    assert len(seen) == 1 + 2 * 1 + 2 * 2  # cold, warmup (N and 1 token), timed pairs
    assert len({cache_id for cache_id, _ in seen}) == 1
    assert len({ptr for _, ptr in seen[1:]}) == 1  # allocated on the first run, then kept
    assert hasattr(wrapper.model, "_compiled_call")

    ids = torch.tensor(rows)
    mask = torch.ones_like(ids)

    @torch.inference_mode()  # as in the profiler, which built the cache in that mode
    def generate(spec: PointSpec, **extra: Any) -> list[list[int]]:
        config = exact_generation_config(wrapper.tokenizer, 5, spec, "cpu")
        output = wrapper.model.generate(
            input_ids=ids, attention_mask=mask, generation_config=config, **extra
        )
        return output.tolist()

    with torch.inference_mode():
        cache = profiler.static_caches.fresh(2, 16)
    static = generate(PointSpec(rows, 5, 0, 1, compile=compiled), cache=cache)
    assert static == generate(PointSpec(rows, 5, 0, 1))


def test_context_overflow_is_reported(tiny_gemma: ModelWrapper) -> None:
    task = EfficiencyBenchmark({"output_lengths": [8], "prompt_length": 4095})
    with pytest.raises(BenchmarkExecutionError, match="exceeds the model's context of 4096"):
        task.evaluate(tiny_gemma)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"output_lengths": []}, "efficiency.output_lengths: must list at least one value"),
        ({"output_lengths": [4, 0]}, "efficiency.output_lengths: every value must be a positive"),
        ({"output_lengths": [4, 4]}, "efficiency.output_lengths: must not repeat"),
        ({"batch_sizes": []}, "efficiency.batch_sizes: must list at least one value"),
        (
            {"batch_sizes": [-2]},
            "efficiency.batch_sizes: every value must be a positive integer, got -2",
        ),
        ({"repetitions": 0}, "efficiency.repetitions: must be at least 1, got 0"),
        ({"warmup": -1}, "efficiency.warmup: must be 0 or more, got -1"),
        ({"prompt_length": 0}, "efficiency.prompt_length: must be at least 1, got 0"),
        ({"peak_tflops": 0}, "efficiency.peak_tflops: must be positive, got 0"),
        ({"sample_prompts": []}, "efficiency.sample_prompts: must list at least one prompt"),
        ({"output_length": [4]}, "efficiency.output_length: Extra inputs are not permitted"),
    ],
)
def test_config_validation_names_the_field(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskInitializationError) as caught:
        EfficiencyBenchmark(options)
    assert str(caught.value).startswith(message)


def test_sample_prompts_fill_the_batch_cyclically(tiny_gemma: ModelWrapper) -> None:
    task = EfficiencyBenchmark({"sample_prompts": ["Explain AI", "Write code"]})
    rows = task.prompts(tiny_gemma, 3)
    assert rows[0] == rows[2] != rows[1]
    assert rows[0][0] == tiny_gemma.tokenizer.bos_token_id


def test_random_prompts_have_the_length_and_no_special_tokens(tiny_gemma: ModelWrapper) -> None:
    tokenizer = tiny_gemma.tokenizer
    rows = random_prompts(tiny_gemma.model, tokenizer, 32, 2, seed=0)
    assert [len(r) for r in rows] == [32, 32] and rows[0] != rows[1]
    assert rows[0][0] == tokenizer.bos_token_id
    assert not set(rows[0][1:]) & set(tokenizer.all_special_ids)
    assert rows == random_prompts(tiny_gemma.model, tokenizer, 32, 2, seed=0)


def test_system_info_without_a_model() -> None:
    info = collect_system_info()
    assert {"os", "cpu_count", "memory_total", "cuda_available", "gpu_name"} <= set(info)
    assert "dtype" not in info and info["transformers_version"]


def test_task_module_does_not_import_torch() -> None:
    code = "import sys, gemma_benchmark.tasks.efficiency; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
