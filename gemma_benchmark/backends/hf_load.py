"""`from_pretrained` with the project's policies: dtype, device, 4-bit only on CUDA, no remote code
unless asked, and one clear `ModelLoadingError` naming the id or path when anything fails."""

from __future__ import annotations

import logging
from typing import Any

import torch

from gemma_benchmark.exceptions import ModelLoadingError

logger = logging.getLogger(__name__)
_warned_no_cuda_quantization = False


def quantization_config(dtype: torch.dtype, requested: bool) -> Any:
    """A bitsandbytes 4-bit config where CUDA and bitsandbytes exist; else None (one warning)."""
    global _warned_no_cuda_quantization
    if not requested:
        return None
    if not torch.cuda.is_available():
        if not _warned_no_cuda_quantization:
            logger.warning("4-bit quantization needs CUDA; loading unquantized on this machine")
            _warned_no_cuda_quantization = True
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelLoadingError(
            "4-bit quantization needs bitsandbytes: pip install 'gemma-benchmark[cuda]'"
        ) from None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_type="nf4"
    )


def usable_max_memory(max_memory: dict[Any, str] | None) -> dict[Any, str] | None:
    """A copy (accelerate rewrites the dict it gets, and this one belongs to the config) without
    GPU entries when no GPU is visible, so a config written for a GPU box still loads here."""
    if max_memory is None:
        return None
    if torch.cuda.is_available():
        return dict(max_memory)

    def is_gpu(key: Any) -> bool:
        return isinstance(key, int) or str(key).isdigit() or str(key).startswith(("cuda", "xpu"))

    dropped = [str(key) for key in max_memory if is_gpu(key)]
    if dropped:
        logger.warning("max_memory names GPU %s, but none is visible; ignoring", ", ".join(dropped))
    kept = {key: value for key, value in max_memory.items() if not is_gpu(key)}
    return kept or None


def load_pretrained(
    path: str,
    *,
    dtype: torch.dtype,
    device: str,
    quantize_4bit: bool = False,
    cache_dir: str | None = None,
    device_map: str | dict[str, Any] | None = None,
    max_memory: dict[Any, str] | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer with a pad token)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common: dict[str, Any] = {
        "cache_dir": cache_dir,
        "trust_remote_code": trust_remote_code,
        "revision": revision,
    }
    quant = quantization_config(dtype, quantize_4bit)
    kwargs: dict[str, Any] = {**common, "dtype": dtype}
    if quant is not None:
        kwargs["quantization_config"] = quant
        device_map = device_map or "auto"
    if device_map is not None:
        kwargs["device_map"] = device_map
    max_memory = usable_max_memory(max_memory)
    if max_memory is not None:
        kwargs["max_memory"] = max_memory
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **common)
        model: Any = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except Exception as err:  # hub, file-system and format errors all mean "cannot load"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadingError(f"cannot load model {path!r}: {reason}") from err
    if device_map is None and quant is None:
        model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
