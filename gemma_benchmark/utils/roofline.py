"""Roofline arithmetic: how fast the hardware could at best run a model, and how close we got.

Pure functions, no torch. Units: bytes, FLOP, seconds; bandwidth in GB/s (1e9 bytes/s) and
compute in TFLOP/s (1e12 FLOP/s), as vendors quote them.

The model (the same first-order one llama.cpp and vLLM users reason with):

- Decoding step at batch b reads every weight once plus each sequence's KV cache, and emits b
  tokens, so it cannot beat `b * bandwidth / (weights + b * kv)` tokens/s (memory bound), nor
  `peak_flops / (2 * params)` tokens/s (compute bound). Its limit is the smaller of the two.
- Prefill is compute bound: `peak_flops / (2 * params)` tokens/s. Attention FLOPs (quadratic in the
  prompt) are left out, which makes the limit slightly optimistic for long prompts.

Peak figures are dense bf16 tensor-core FLOP/s (no sparsity) and HBM/GDDR bandwidth from the
vendors' data sheets. Reaching 60-80 % of the bandwidth limit at batch 1 is good in practice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GB = 1e9
TERA = 1e12


@dataclass(frozen=True)
class PeakSpec:
    """An accelerator's peak memory bandwidth (GB/s) and dense bf16 compute (TFLOP/s)."""

    name: str
    bandwidth_gbps: float
    bf16_tflops: float


# Matched in order against the lower-cased device name (torch.cuda.get_device_name), so the
# specific variants (PCIe, NVL, 80GB) come before the family's default form factor.
KNOWN_PEAKS: tuple[tuple[str, PeakSpec], ...] = (
    (r"\bb200\b", PeakSpec("B200", 8000.0, 2250.0)),
    (r"\bh200\b.*\bnvl\b", PeakSpec("H200 NVL", 4800.0, 835.0)),
    (r"\bh200\b", PeakSpec("H200 SXM", 4800.0, 989.0)),
    (r"\bh100\b.*\bnvl\b", PeakSpec("H100 NVL", 3900.0, 835.0)),
    (r"\bh100\b.*\bpcie\b", PeakSpec("H100 PCIe", 2000.0, 756.0)),
    (r"\bh100\b", PeakSpec("H100 SXM", 3350.0, 989.0)),
    (r"\ba100\b.*80\s*gb.*\bpcie\b", PeakSpec("A100 80GB PCIe", 1935.0, 312.0)),
    (r"\ba100\b.*80\s*gb", PeakSpec("A100 80GB SXM", 2039.0, 312.0)),
    (r"\ba100\b", PeakSpec("A100 40GB", 1555.0, 312.0)),
    (r"\bl40s\b", PeakSpec("L40S", 864.0, 362.0)),
    (r"\bl4\b", PeakSpec("L4", 300.0, 121.0)),
    (r"\ba10g\b", PeakSpec("A10G", 600.0, 70.0)),
    (r"\ba10\b", PeakSpec("A10", 600.0, 125.0)),
    (r"\brtx 4090\b", PeakSpec("RTX 4090", 1008.0, 165.2)),
    (r"\brtx 3090\b", PeakSpec("RTX 3090", 936.0, 71.0)),
)


def lookup_peak(device_name: str) -> PeakSpec | None:
    """The table entry for a device name such as 'NVIDIA A100-SXM4-80GB'; None if unknown."""
    lowered = device_name.lower().replace("-", " ")
    for pattern, spec in KNOWN_PEAKS:
        if re.search(pattern, lowered):
            return spec
    return None


@dataclass(frozen=True)
class PeakChoice:
    """The peaks used for a result, where they came from, and why a percentage may be missing."""

    spec: PeakSpec | None
    source: str  # "table", "config", "table+config" or "none"
    note: str | None = None


def resolve_peak(
    device_name: str | None,
    bandwidth_gbps: float | None = None,
    tflops: float | None = None,
) -> PeakChoice:
    """Config overrides win over the table; with neither, say why no limit can be computed.

    `device_name` None means the model runs on the CPU, whose bandwidth depends on the memory
    configuration (channels, DIMMs), which no table can know.
    """
    known = lookup_peak(device_name) if device_name else None
    bandwidth = bandwidth_gbps if bandwidth_gbps is not None else _field(known, "bandwidth_gbps")
    compute = tflops if tflops is not None else _field(known, "bf16_tflops")
    if bandwidth is None or compute is None:
        where = f"GPU {device_name!r} is not" if device_name else "CPUs are not"
        return PeakChoice(
            None,
            "none",
            f"{where} in the peak table; set peak_bandwidth_gbps and peak_tflops to get "
            "the percentage of the hardware limit",
        )
    name = known.name if known else (device_name or "cpu")
    overridden = bandwidth_gbps is not None or tflops is not None
    source = "config" if known is None else ("table+config" if overridden else "table")
    return PeakChoice(PeakSpec(name, bandwidth, compute), source)


def _field(spec: PeakSpec | None, name: str) -> float | None:
    return None if spec is None else float(getattr(spec, name))


def kv_cache_bytes(
    context_tokens: float, bytes_per_token_per_layer: float, layer_windows: Sequence[int | None]
) -> float:
    """Bytes of K and V one sequence holds at a context length, over all layers.

    `layer_windows` has one entry per layer: None for full attention, else the sliding window
    (a sliding layer never holds more than its window).
    """
    total = 0.0
    for window in layer_windows:
        held = context_tokens if window is None else min(context_tokens, float(window))
        total += held * bytes_per_token_per_layer
    return total


@dataclass(frozen=True)
class Workload:
    """What one measured point does, in hardware-independent terms."""

    params: float
    weight_bytes: float
    kv_bytes_per_sequence: float  # KV read per decoding step per sequence (mean over steps)
    batch_size: int


def decode_bytes_per_step(work: Workload) -> float:
    """Bytes read from memory by one decoding step: the weights once, each sequence's KV."""
    return work.weight_bytes + work.batch_size * work.kv_bytes_per_sequence


def decode_limit(work: Workload, peak: PeakSpec) -> tuple[float, str]:
    """(best possible decode tokens/s over the whole batch, "memory" or "compute" bound)."""
    memory_bound = work.batch_size * peak.bandwidth_gbps * GB / decode_bytes_per_step(work)
    compute_bound = prefill_limit(work.params, peak)
    if memory_bound <= compute_bound:
        return memory_bound, "memory"
    return compute_bound, "compute"


def prefill_limit(params: float, peak: PeakSpec) -> float:
    """Best possible prefill tokens/s: each token costs 2 FLOP per parameter."""
    if params <= 0:
        raise ValueError(f"params must be positive, got {params}")
    return peak.bf16_tflops * TERA / (2.0 * params)


def percent_of(measured: float | None, limit: float) -> float | None:
    """`measured` as a percentage of `limit`; None when nothing was measured."""
    if measured is None:
        return None
    return 100.0 * measured / limit


def roofline(
    work: Workload,
    choice: PeakChoice,
    decode_tokens_per_s: float | None,
    prefill_tokens_per_s: float,
) -> dict[str, Any]:
    """The roofline section of one result: limits, the share of them reached, and the inputs.

    Measured rates are for the whole batch. Without peaks the limits and percentages are None
    and `note` says why; the bytes per step are reported either way.
    """
    section: dict[str, Any] = {
        "bytes_per_decode_step": decode_bytes_per_step(work),
        "weight_bytes": work.weight_bytes,
        "kv_bytes_per_sequence": work.kv_bytes_per_sequence,
        "params": work.params,
        "peak_source": choice.source,
        "hardware": None,
        "peak_bandwidth_gbps": None,
        "peak_tflops": None,
        "decode_limit_tokens_per_s": None,
        "decode_bound": None,
        "decode_pct_of_limit": None,
        "prefill_limit_tokens_per_s": None,
        "prefill_pct_of_limit": None,
        "note": choice.note,
    }
    if choice.spec is None:
        return section
    decode_cap, bound = decode_limit(work, choice.spec)
    prefill_cap = prefill_limit(work.params, choice.spec)
    section.update(
        hardware=choice.spec.name,
        peak_bandwidth_gbps=choice.spec.bandwidth_gbps,
        peak_tflops=choice.spec.bf16_tflops,
        decode_limit_tokens_per_s=decode_cap,
        decode_bound=bound,
        decode_pct_of_limit=percent_of(decode_tokens_per_s, decode_cap),
        prefill_limit_tokens_per_s=prefill_cap,
        prefill_pct_of_limit=percent_of(prefill_tokens_per_s, prefill_cap),
    )
    return section
