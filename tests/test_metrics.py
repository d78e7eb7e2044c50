"""Metrics against hand-worked reference values and their closed forms."""

from __future__ import annotations

import math
from math import comb
from typing import Any

import pytest

from gemma_benchmark.utils.metrics import (
    aggregate_results,
    bootstrap_ci,
    calculate_accuracy,
    calculate_confidence_interval,
    calculate_f1_score,
    calculate_pass_at_k,
    compare_models,
    mcnemar_exact,
    paired_bootstrap_diff,
    standard_error,
)


def test_accuracy_and_f1() -> None:
    assert calculate_accuracy(650, 1000) == pytest.approx(0.65)
    assert calculate_accuracy(0, 3) == 0.0
    assert calculate_f1_score(0.0, 0.0) == 0.0
    assert calculate_f1_score(0.5, 1.0) == pytest.approx(2 / 3)


@pytest.mark.parametrize(("correct", "total"), [(1, 0), (0, -5), (-1, 10), (11, 10)], ids=str)
def test_accuracy_rejects_bad_counts(correct: int, total: int) -> None:
    with pytest.raises(ValueError):
        calculate_accuracy(correct, total)


@pytest.mark.parametrize(("precision", "recall"), [(-0.1, 0.5), (0.5, 1.1), (math.nan, 0.5)])
def test_f1_rejects_out_of_range(precision: float, recall: float) -> None:
    with pytest.raises(ValueError):
        calculate_f1_score(precision, recall)


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20, 50])
def test_pass_at_k_matches_closed_form(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            expected = 1 - comb(n - c, k) / comb(n, k)
            assert calculate_pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_large_n_is_stable() -> None:
    # comb(1000, 100) overflows a float, the product form does not.
    value = calculate_pass_at_k(1000, 10, 100)
    assert 0.0 < value < 1.0
    assert value == pytest.approx(1 - comb(990, 100) / comb(1000, 100), rel=1e-9)


@pytest.mark.parametrize(("n", "c", "k"), [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 6), (5, 2, 0)])
def test_pass_at_k_rejects_bad_inputs(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        calculate_pass_at_k(n, c, k)


@pytest.mark.parametrize(
    ("accuracy", "n", "expected"),
    [
        # Textbook: 50/100 -> (0.4038, 0.5962).
        (0.5, 100, (0.4038, 0.5962)),
        # 0/10, z = 1.96: center = half = (z^2/20) / (1 + z^2/10) = 0.19207 / 1.38415 = 0.13876,
        # so (0, 0.2775), the usual "rule of three"-like upper bound for zero successes.
        (0.0, 10, (0.0, 0.2775)),
        # 40/50: z^2/n = 0.076829; center = (0.8 + 0.038415) / 1.076829 = 0.77860;
        # half = 1.96 * sqrt(0.16/50 + 3.8415/10000) / 1.076829 = 0.10897 -> (0.6696, 0.8876).
        (0.8, 50, (0.6696, 0.8876)),
    ],
)
def test_wilson_interval_textbook_values(
    accuracy: float, n: int, expected: tuple[float, float]
) -> None:
    low, high = calculate_confidence_interval(accuracy, n)
    assert low == pytest.approx(expected[0], abs=1e-4)
    assert high == pytest.approx(expected[1], abs=1e-4)


def test_wilson_interval_widens_with_confidence() -> None:
    narrow = calculate_confidence_interval(0.3, 200, confidence=0.8)
    wide = calculate_confidence_interval(0.3, 200, confidence=0.99)
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]


@pytest.mark.parametrize(
    ("accuracy", "n", "confidence"), [(1.2, 10, 0.95), (0.5, 0, 0.95), (0.5, 10, 1.0), (0.5, 10, 0)]
)
def test_wilson_interval_rejects_bad_inputs(accuracy: float, n: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        calculate_confidence_interval(accuracy, n, confidence)


def test_standard_error_matches_lm_eval_definition() -> None:
    # values 1, 2, 3: sample std 1.0, so stderr = 1 / sqrt(3).
    assert standard_error([1.0, 2.0, 3.0]) == pytest.approx(1 / math.sqrt(3))
    assert math.isnan(standard_error([0.7]))
    assert math.isnan(standard_error([]))


def test_mcnemar_hand_worked_table() -> None:
    # A wrong/B right once, A right/B wrong 9 times: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024.
    a = [False] + [True] * 9 + [True] * 5 + [False] * 3
    b = [True] + [False] * 9 + [True] * 5 + [False] * 3
    result = mcnemar_exact(a, b)
    assert result["b01"] == 1
    assert result["b10"] == 9
    assert result["p_value"] == pytest.approx(22 / 1024)


def test_mcnemar_balanced_and_no_discordance() -> None:
    # 3 vs 3 discordant: 2 * P(X <= 3 | n=6) = 2 * 42/64 > 1, capped to 1.
    a = [True] * 3 + [False] * 3
    assert mcnemar_exact(a, [not x for x in a])["p_value"] == 1.0
    assert mcnemar_exact([True, False], [True, False]) == {"b01": 0, "b10": 0, "p_value": 1.0}


def test_paired_inputs_must_match() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])
    with pytest.raises(ValueError):
        paired_bootstrap_diff([], [])


def test_bootstrap_is_deterministic_with_seed() -> None:
    scores = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0] * 10
    first = bootstrap_ci(scores, seed=7)
    assert bootstrap_ci(scores, seed=7) == first
    assert bootstrap_ci(scores, seed=8) != first
    low, high = first
    assert low < 0.625 < high
    # The percentile interval of a mean should be close to mean +- 1.96 * stderr.
    se = standard_error(scores)
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.2)


def test_bootstrap_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError):
        bootstrap_ci([1.0], n_resamples=0)


def test_paired_bootstrap_diff() -> None:
    a = [1.0] * 80 + [0.0] * 20
    b = [1.0] * 50 + [0.0] * 50
    result = paired_bootstrap_diff(a, b, seed=3)
    assert result["diff"] == pytest.approx(0.3)
    assert result["ci_low"] < 0.3 < result["ci_high"]
    assert result["ci_low"] > 0
    assert result["p_value"] == 0.0
    assert paired_bootstrap_diff(a, b, seed=3) == result
    same = paired_bootstrap_diff(a, a)
    assert same["diff"] == 0.0
    assert same["p_value"] == 1.0


def test_compare_models() -> None:
    a = [False] + [True] * 9 + [True] * 5 + [False] * 3
    b = [True] + [False] * 9 + [True] * 5 + [False] * 3
    result = compare_models(a, b, 0.95)
    assert set(result) == {"diff", "ci_low", "ci_high", "mcnemar_p", "bootstrap_p", "significant"}
    assert result["diff"] == pytest.approx(8 / 18)
    assert result["mcnemar_p"] == pytest.approx(22 / 1024)
    assert result["significant"] is True
    assert compare_models(a, b, 0.99)["significant"] is False


def _run(accuracy: float, algebra: float) -> dict[str, Any]:
    return {
        "overall": {"correct": int(accuracy * 100), "total": 100, "accuracy": accuracy},
        "subjects": {"algebra": {"accuracy": algebra, "total": 50}},
        "config": {"use_chain_of_thought": True},
        "failed_examples": [{"id": 1}],
    }


def test_aggregate_results_three_runs() -> None:
    runs = [_run(0.6, 0.5), _run(0.7, 0.5), _run(0.8, 0.5)]
    runs[1]["only_here"] = {"x": 1.0}
    aggregated = aggregate_results(runs)
    assert set(aggregated) == {
        "overall.correct",
        "overall.total",
        "overall.accuracy",
        "subjects.algebra.accuracy",
        "subjects.algebra.total",
    }
    acc = aggregated["overall.accuracy"]
    # mean 0.7, sample std 0.1, t(0.975, df=2) = 4.302653: half width = 4.302653 * 0.1 / sqrt(3).
    assert acc["mean"] == pytest.approx(0.7)
    assert acc["std"] == pytest.approx(0.1)
    assert (acc["min"], acc["max"]) == pytest.approx((0.6, 0.8))
    assert acc["ci_low"] == pytest.approx(0.7 - 0.248414, abs=1e-6)
    assert acc["ci_high"] == pytest.approx(0.7 + 0.248414, abs=1e-6)
    assert acc["n_runs"] == 3
    assert acc["values"] == pytest.approx([0.6, 0.7, 0.8])
    algebra = aggregated["subjects.algebra.accuracy"]
    assert algebra["std"] == 0.0
    assert algebra["ci_low"] == algebra["ci_high"] == pytest.approx(0.5)


def test_aggregate_results_single_run_and_empty() -> None:
    single = aggregate_results([_run(0.6, 0.4)])
    assert single["overall.accuracy"]["std"] == 0.0
    assert single["overall.accuracy"]["ci_low"] == single["overall.accuracy"]["ci_high"]
    with pytest.raises(ValueError):
        aggregate_results([])
