"""Model loading policies, on tiny real checkpoints."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from gemma_benchmark.core.model_loader import GemmaLoader, HuggingFaceLoader, MistralLoader
from gemma_benchmark.exceptions import ModelLoadingError


def test_missing_model_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-model-here"
    with pytest.raises(ModelLoadingError, match="no-model-here"):
        HuggingFaceLoader().load_model(str(missing))


def test_missing_hub_model_names_the_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadingError, match="google/gemma-2-2b-it"):
        GemmaLoader().load_model(size="2b", variant="it", quantization=False)


@pytest.mark.parametrize("size", ["3b", "70b"])
def test_unsupported_gemma_size_is_value_error(size: str) -> None:
    with pytest.raises(ValueError, match=f"unsupported gemma size '{size}'"):
        GemmaLoader().load_model(size=size)


def test_unsupported_mistral_variant_is_value_error() -> None:
    with pytest.raises(ValueError, match="variant 'it'"):
        MistralLoader().load_model(size="7b", variant="it")


def test_four_bit_on_cpu_warns_and_loads_unquantized(
    tiny_gemma_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from gemma_benchmark.backends import hf_load

    hf_load._warned_no_cuda_quantization = False
    with caplog.at_level(logging.WARNING):
        wrapper = HuggingFaceLoader().load_model(str(tiny_gemma_path), quantization=True)
        HuggingFaceLoader().load_model(str(tiny_gemma_path), quantization=True)
    warnings = [r for r in caplog.records if "4-bit quantization needs CUDA" in r.getMessage()]
    assert len(warnings) == 1
    assert getattr(wrapper.model, "quantization_method", None) is None
    assert next(wrapper.model.parameters()).dtype == torch.float32


def test_gpu_placement_config_loads_on_a_cpu_machine(
    tiny_gemma_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The spec's example config (device_map auto, max_memory for GPUs 0 and 1) on a machine
    # without CUDA: the GPU entries are dropped with a warning, and the config is not mutated.
    max_memory = {0: "15GB", 1: "15GB", "cpu": "8GB"}
    with caplog.at_level(logging.WARNING):
        wrapper = HuggingFaceLoader().load_model(
            str(tiny_gemma_path), device_map="auto", max_memory=max_memory
        )
    assert max_memory == {0: "15GB", 1: "15GB", "cpu": "8GB"}
    assert any("max_memory names GPU 0, 1" in r.getMessage() for r in caplog.records)
    assert next(wrapper.model.parameters()).device.type == "cpu"
    assert wrapper.loglikelihood([("Answer:", " A")])[0] < 0


def test_precision_sets_dtype(tiny_gemma_path: Path) -> None:
    wrapper = HuggingFaceLoader().load_model(str(tiny_gemma_path), precision="bfloat16")
    assert next(wrapper.model.parameters()).dtype == torch.bfloat16


def test_remote_code_is_not_run_by_default(tiny_gemma_path: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "remote"
    shutil.copytree(tiny_gemma_path, model_dir)
    canary = tmp_path / "remote-code-ran"
    (model_dir / "modeling_evil.py").write_text(
        f"open({str(canary)!r}, 'w').write('x')\n"
        "from transformers import GemmaForCausalLM\n"
        "class EvilModel(GemmaForCausalLM):\n    pass\n"
    )
    config = json.loads((model_dir / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (model_dir / "config.json").write_text(json.dumps(config))
    try:
        wrapper = HuggingFaceLoader().load_model(str(model_dir))
        assert type(wrapper.model).__name__ == "GemmaForCausalLM"
    except ModelLoadingError as err:
        assert "remote" in str(err)
    assert not canary.exists()


def test_generation_config_sampling_is_not_inherited(tiny_gemma_path: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "sampling"
    shutil.copytree(tiny_gemma_path, model_dir)
    gen = json.loads((model_dir / "generation_config.json").read_text())
    gen.update(do_sample=True, temperature=1.5, top_k=3)
    (model_dir / "generation_config.json").write_text(json.dumps(gen))
    wrapper = HuggingFaceLoader().load_model(str(model_dir))
    outputs = {wrapper.generate("The answer is", max_new_tokens=8) for _ in range(3)}
    assert len(outputs) == 1
