"""Roofline arithmetic on known cases, and the peak table's name matching."""

from __future__ import annotations

import pytest

from gemma_benchmark.utils.roofline import (
    PeakChoice,
    PeakSpec,
    Workload,
    decode_bytes_per_step,
    decode_limit,
    kv_cache_bytes,
    lookup_peak,
    percent_of,
    prefill_limit,
    resolve_peak,
    roofline,
)

H100 = PeakSpec("H100 SXM", 3350.0, 989.0)
# A 2B-parameter model in bf16: 4 GB of weights.
TWO_B = Workload(params=2e9, weight_bytes=4e9, kv_bytes_per_sequence=0.0, batch_size=1)


def test_batch1_decode_limit_is_bandwidth_over_weight_bytes() -> None:
    limit, bound = decode_limit(TWO_B, H100)
    assert limit == pytest.approx(3350e9 / 4e9)  # 837.5 tokens/s
    assert bound == "memory"


def test_prefill_limit_is_peak_flops_over_two_flop_per_param() -> None:
    assert prefill_limit(2e9, H100) == pytest.approx(989e12 / 4e9)  # 247,250 tokens/s


def test_kv_cache_adds_to_bytes_read_per_sequence_in_the_batch() -> None:
    work = Workload(params=2e9, weight_bytes=4e9, kv_bytes_per_sequence=1e8, batch_size=8)
    assert decode_bytes_per_step(work) == pytest.approx(4e9 + 8 * 1e8)
    limit, _ = decode_limit(work, H100)
    assert limit == pytest.approx(8 * 3350e9 / 4.8e9)


def test_large_batches_become_compute_bound() -> None:
    work = Workload(params=2e9, weight_bytes=4e9, kv_bytes_per_sequence=0.0, batch_size=1000)
    limit, bound = decode_limit(work, H100)
    assert bound == "compute"
    assert limit == pytest.approx(prefill_limit(2e9, H100))


def test_sliding_layers_hold_at_most_their_window() -> None:
    # 2 full layers at 1000 tokens + 2 sliding layers capped at 500, 1 kB per token per layer.
    assert kv_cache_bytes(1000, 1000, [None, None, 500, 500]) == pytest.approx(3e6)
    assert kv_cache_bytes(100, 1000, [None, 500]) == pytest.approx(2e5)


def test_percent_of_the_limit() -> None:
    assert percent_of(418.75, 837.5) == pytest.approx(50.0)
    assert percent_of(None, 837.5) is None


def test_prefill_limit_rejects_no_params() -> None:
    with pytest.raises(ValueError, match="params must be positive"):
        prefill_limit(0, H100)


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB"),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM"),
        ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA A10", "A10"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
    ],
)
def test_known_devices_match_their_entry(device: str, expected: str) -> None:
    spec = lookup_peak(device)
    assert spec is not None and spec.name == expected


def test_unknown_device_has_no_entry() -> None:
    assert lookup_peak("Tesla T4") is None


def test_cpu_has_no_limit_and_says_why() -> None:
    choice = resolve_peak(None)
    assert choice.spec is None and choice.source == "none"
    assert choice.note is not None and "peak_bandwidth_gbps" in choice.note


def test_config_overrides_the_table_and_fills_gaps() -> None:
    both = resolve_peak(None, bandwidth_gbps=100.0, tflops=2.0)
    assert both.spec == PeakSpec("cpu", 100.0, 2.0) and both.source == "config"
    partial = resolve_peak("NVIDIA H100 80GB HBM3", bandwidth_gbps=3000.0)
    assert partial.spec == PeakSpec("H100 SXM", 3000.0, 989.0)
    assert partial.source == "table+config"
    assert resolve_peak("Tesla T4", bandwidth_gbps=320.0).spec is None  # FLOP/s still unknown


def test_roofline_section_reports_percentages_of_both_limits() -> None:
    section = roofline(TWO_B, PeakChoice(H100, "table"), 418.75, 247250.0 / 4)
    assert section["decode_limit_tokens_per_s"] == pytest.approx(837.5)
    assert section["decode_pct_of_limit"] == pytest.approx(50.0)
    assert section["prefill_pct_of_limit"] == pytest.approx(25.0)
    assert section["bytes_per_decode_step"] == pytest.approx(4e9)
    assert section["note"] is None


def test_roofline_without_peaks_keeps_the_bytes_and_the_reason() -> None:
    section = roofline(TWO_B, resolve_peak(None), 10.0, 100.0)
    assert section["decode_pct_of_limit"] is None and section["prefill_pct_of_limit"] is None
    assert section["bytes_per_decode_step"] == pytest.approx(4e9)
    assert "CPUs are not in the peak table" in section["note"]
