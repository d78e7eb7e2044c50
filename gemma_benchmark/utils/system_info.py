"""The facts that make a timing or a score reproducible: OS, CPU, memory, GPU, library versions.

Used by the efficiency task (its `system_info` result key) and by the orchestrator (run
metadata). torch is imported inside the function, so importing this module stays cheap; without
torch the CUDA fields say so instead of failing. Memory is in GB (1e9 bytes).
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

GB = 1e9


def total_memory_gb() -> float | None:
    """Physical memory of the machine; None where the OS does not tell (e.g. Windows)."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return round(pages * page_size / GB, 2)


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cuda_facts() -> dict[str, Any]:
    """cuda_available, gpu_name (one per visible device), CUDA/cuDNN versions, GPU memory."""
    try:
        import torch
    except ImportError:
        return {"cuda_available": False, "gpu_name": [], "cuda_version": None}
    available = bool(torch.cuda.is_available())
    facts: dict[str, Any] = {
        "cuda_available": available,
        "gpu_name": [],
        "cuda_version": torch.version.cuda,
    }
    if available:
        count = torch.cuda.device_count()
        facts["gpu_name"] = [torch.cuda.get_device_name(i) for i in range(count)]
        facts["gpu_memory_total"] = [
            round(torch.cuda.get_device_properties(i).total_memory / GB, 2) for i in range(count)
        ]
        facts["cudnn_version"] = torch.backends.cudnn.version()
    return facts


def describe_model(model: Any) -> dict[str, Any]:
    """dtype, quantization and attention implementation of a loaded transformers model.

    Read from attributes only (no torch import); a field the model does not expose is None.
    """
    config = getattr(model, "config", None)
    quant = getattr(config, "quantization_config", None)
    if quant is not None and not isinstance(quant, dict):
        quant = quant.to_dict() if hasattr(quant, "to_dict") else str(quant)
    quant_method = quant.get("quant_method") if isinstance(quant, dict) else quant
    return {
        "dtype": str(getattr(model, "dtype", None)).removeprefix("torch."),
        "quantization": str(quant_method) if quant_method is not None else None,
        "attn_implementation": getattr(config, "_attn_implementation", None),
    }


def collect_system_info(model: Any = None) -> dict[str, Any]:
    """The spec's keys (os, cpu_count, memory_total, cuda_available, gpu_name) and more.

    With `model`, its dtype, quantization and attention implementation are added too.
    """
    info: dict[str, Any] = {
        "os": platform.system(),
        "os_release": platform.release(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python_version": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "memory_total": total_memory_gb(),
        "torch_version": package_version("torch"),
        "transformers_version": package_version("transformers"),
    }
    info.update(cuda_facts())
    if model is not None:
        info.update(describe_model(model))
    return info
