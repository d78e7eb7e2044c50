"""Turn a validated model entry of the config into a loaded `ModelWrapper`."""

from __future__ import annotations

from typing import Any

from gemma_benchmark.config import EvaluationConfig, HardwareConfig, ModelConfig
from gemma_benchmark.core.model_loader import (
    GemmaLoader,
    HuggingFaceLoader,
    MistralLoader,
    ModelWrapper,
)

LOADERS: dict[str, type[HuggingFaceLoader]] = {
    "gemma": GemmaLoader,
    "mistral": MistralLoader,
    "huggingface": HuggingFaceLoader,
}


def load_from_config(
    name: str, entry: ModelConfig, hardware: HardwareConfig, evaluation: EvaluationConfig
) -> ModelWrapper:
    """Raises ModelLoadingError (or ValueError for a bad catalogue entry)."""
    if entry.type == "openai_compatible":
        from gemma_benchmark.backends.openai_compatible import load_openai_compatible

        return load_openai_compatible(name, entry)
    common: dict[str, Any] = {
        "name": name,
        "cache_dir": entry.cache_dir,
        "quantization": hardware.quantization if entry.quantization is None else entry.quantization,
        "precision": entry.precision or hardware.precision,
        "device": hardware.device,
        "device_map": entry.device_map,
        "max_memory": entry.max_memory,
        "trust_remote_code": entry.trust_remote_code,
        "revision": entry.revision,
        "batch_size": evaluation.batch_size,
        "prefix_cache": hardware.prefix_cache,
    }
    instruct = entry.is_instruction_tuned() if entry.chat_template is None else entry.chat_template
    if entry.path:
        return HuggingFaceLoader().load_model(entry.path, instruction_tuned=instruct, **common)
    loader = LOADERS[entry.type]()
    assert isinstance(loader, GemmaLoader)  # catalogue types; `huggingface` always has a path
    quantization = common.pop("quantization")
    cache_dir = common.pop("cache_dir")
    return loader.load_model(
        entry.size or "",
        entry.variant or "",
        cache_dir,
        bool(quantization),
        version=entry.version,
        instruction_tuned=instruct,
        **common,
    )
