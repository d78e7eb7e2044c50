"""Pure statistics for benchmark scores: point estimates, intervals and paired model comparison.

Every function validates its inputs and raises `ValueError` on out-of-range values rather than
returning a misleading number. Nothing here imports torch; numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = [
    "aggregate_results",
    "bootstrap_ci",
    "calculate_accuracy",
    "calculate_confidence_interval",
    "calculate_f1_score",
    "calculate_pass_at_k",
    "compare_models",
    "mcnemar_exact",
    "paired_bootstrap_diff",
    "standard_error",
]

# Bootstrap resamples are drawn in blocks so that memory stays near this many indices
# (8 bytes each), whatever the number of items (MMLU has 14k) times resamples.
_BOOTSTRAP_BLOCK_CELLS = 2_000_000


def calculate_accuracy(correct: int, total: int) -> float:
    """Fraction correct in [0, 1]; `total <= 0` or `correct` outside 0..total raise."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be between 0 and total={total}, got {correct}")
    return correct / total


def calculate_f1_score(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall; 0.0 when both are 0 (not a division error)."""
    _check_unit_interval("precision", precision)
    _check_unit_interval("recall", recall)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def calculate_pass_at_k(n_samples: int, n_correct: int, k: int) -> float:
    """Unbiased pass@k from `n_samples` generations of which `n_correct` pass (Chen et al. 2021).

    Computes 1 - C(n-c, k) / C(n, k) as 1 - prod_{i=n-c+1..n} (1 - k/i), which never forms
    the huge binomials, so it stays exact enough for n in the thousands.
    Raises when n <= 0, k outside 1..n, or c outside 0..n.
    """
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    if not 1 <= k <= n_samples:
        raise ValueError(f"k must be between 1 and n_samples={n_samples}, got {k}")
    if not 0 <= n_correct <= n_samples:
        raise ValueError(f"n_correct must be between 0 and n_samples={n_samples}, got {n_correct}")
    if n_samples - n_correct < k:
        return 1.0
    factors = 1.0 - k / np.arange(n_samples - n_correct + 1, n_samples + 1, dtype=np.float64)
    return float(1.0 - np.prod(factors))


def calculate_confidence_interval(
    accuracy: float, n_samples: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson score interval for a proportion, clipped to [0, 1].

    Wilson rather than the normal (Wald) interval because Wald collapses to zero width at
    accuracy 0 or 1 and undercovers for small n, both common in quick benchmark runs.
    Raises when accuracy is outside [0, 1], n_samples <= 0, or confidence outside (0, 1).
    """
    _check_unit_interval("accuracy", accuracy)
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    _check_confidence(confidence)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    z2_n = z * z / n_samples
    denominator = 1 + z2_n
    center = (accuracy + z2_n / 2) / denominator
    half_width = z * math.sqrt(accuracy * (1 - accuracy) / n_samples + z2_n / (4 * n_samples))
    half_width /= denominator
    return max(0.0, center - half_width), min(1.0, center + half_width)


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean: sample stddev (ddof=1) / sqrt(n), as lm-eval's `mean_stderr`.

    With fewer than two values the spread is unknown: lm-eval's `mean_stderr` divides by zero
    there and its evaluator reports "N/A", so this returns `math.nan` (a float callers can
    test with `math.isnan`) instead of a misleading 0.0.
    """
    if len(values) < 2:
        return math.nan
    array = np.asarray(values, dtype=np.float64)
    return float(np.std(array, ddof=1) / math.sqrt(array.size))


def bootstrap_ci(
    per_item_scores: Sequence[float],
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean item score; the same seed gives the same interval.

    Raises on an empty score list, confidence outside (0, 1) or n_resamples < 1.
    """
    scores = _as_nonempty_array("per_item_scores", per_item_scores)
    _check_confidence(confidence)
    means = _bootstrap_means(scores, n_resamples, seed)
    return _percentile_interval(means, confidence)


def mcnemar_exact(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> dict[str, Any]:
    """Exact McNemar test on paired per-item outcomes of models A and B.

    Returns `{"b01", "b10", "p_value"}` where b01 counts items A got wrong and B right,
    b10 items A got right and B wrong. The p-value is the two-sided exact binomial test of
    b01 against Binomial(b01 + b10, 1/2); 1.0 when there are no discordant pairs.
    Raises when the sequences are empty or of different lengths.
    """
    a, b = _paired_arrays(a_correct, b_correct)
    a_bool, b_bool = a.astype(bool), b.astype(bool)
    b01 = int(np.sum(~a_bool & b_bool))
    b10 = int(np.sum(a_bool & ~b_bool))
    discordant = b01 + b10
    if discordant == 0:
        p_value = 1.0
    else:
        p_value = min(1.0, 2.0 * float(stats.binom.cdf(min(b01, b10), discordant, 0.5)))
    return {"b01": b01, "b10": b10, "p_value": p_value}


def paired_bootstrap_diff(
    a_scores: Sequence[float],
    b_scores: Sequence[float],
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Paired bootstrap of mean(a) - mean(b), resampling items (the same items for both models).

    Returns `{"diff", "ci_low", "ci_high", "p_value"}`. The p-value is two-sided: the share of
    resampled differences on the other side of zero from the observed one (zero included),
    doubled and capped at 1; it is 1.0 when the observed difference is exactly 0.
    """
    a, b = _paired_arrays(a_scores, b_scores)
    _check_confidence(confidence)
    item_diffs = a - b
    diff = float(item_diffs.mean())
    resampled = _bootstrap_means(item_diffs, n_resamples, seed)
    ci_low, ci_high = _percentile_interval(resampled, confidence)
    if diff == 0:
        p_value = 1.0
    else:
        crossing = resampled <= 0 if diff > 0 else resampled >= 0
        p_value = min(1.0, 2.0 * float(crossing.mean()))
    return {"diff": diff, "ci_low": ci_low, "ci_high": ci_high, "p_value": p_value}


def compare_models(
    a_correct: Sequence[bool], b_correct: Sequence[bool], confidence: float = 0.95
) -> dict[str, Any]:
    """Paired significance check of model A against model B on the same items.

    Returns `{"diff", "ci_low", "ci_high", "mcnemar_p", "bootstrap_p", "significant"}`:
    diff and its interval are accuracy(A) - accuracy(B) by paired bootstrap (seed 0);
    `significant` follows the exact McNemar test alone, p < 1 - confidence.
    """
    mcnemar = mcnemar_exact(a_correct, b_correct)
    a = [float(bool(x)) for x in a_correct]
    b = [float(bool(x)) for x in b_correct]
    boot = paired_bootstrap_diff(a, b, confidence=confidence)
    return {
        "diff": boot["diff"],
        "ci_low": boot["ci_low"],
        "ci_high": boot["ci_high"],
        "mcnemar_p": mcnemar["p_value"],
        "bootstrap_p": boot["p_value"],
        "significant": bool(mcnemar["p_value"] < 1 - confidence),
    }


def aggregate_results(all_run_results: list[dict[str, Any]]) -> dict[str, Any]:
    """Summarise repeated runs of one task, metric by metric.

    Every numeric leaf (int or float, not bool) present in all runs is keyed by its dotted
    path through the nested dicts; lists and strings are skipped. Output shape::

        {
            "overall.accuracy": {
                "mean": 0.61, "std": 0.01,        # std: sample std (ddof=1), 0.0 for one run
                "min": 0.60, "max": 0.62,
                "ci_low": 0.585, "ci_high": 0.635,  # Student-t 95% interval of the mean
                "n_runs": 3, "values": [0.60, 0.61, 0.62],
            },
            "subjects.algebra.accuracy": {...},
        }

    With one run the interval collapses to the value. Raises on an empty list.
    """
    if not all_run_results:
        raise ValueError("all_run_results must contain at least one run")
    per_run = [dict(_numeric_leaves(run)) for run in all_run_results]
    shared_paths = [path for path in per_run[0] if all(path in run for run in per_run[1:])]
    return {path: _run_statistics([run[path] for run in per_run]) for path in shared_paths}


def _run_statistics(values: list[float]) -> dict[str, Any]:
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    n_runs = array.size
    std = float(array.std(ddof=1)) if n_runs > 1 else 0.0
    if n_runs > 1 and std > 0:
        half_width = float(stats.t.ppf(0.975, n_runs - 1)) * std / math.sqrt(n_runs)
    else:
        half_width = 0.0
    return {
        "mean": mean,
        "std": std,
        "min": float(array.min()),
        "max": float(array.max()),
        "ci_low": mean - half_width,
        "ci_high": mean + half_width,
        "n_runs": n_runs,
        "values": [float(v) for v in values],
    }


def _numeric_leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _numeric_leaves(value, f"{path}.")
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)
        ):
            yield path, float(value)


def _bootstrap_means(
    values: NDArray[np.float64], n_resamples: int, seed: int
) -> NDArray[np.float64]:
    """Means of `n_resamples` with-replacement resamples, drawn block by block to bound memory."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    n_items = values.size
    block = max(1, _BOOTSTRAP_BLOCK_CELLS // n_items)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, block):
        stop = min(n_resamples, start + block)
        indices = rng.integers(0, n_items, size=(stop - start, n_items))
        means[start:stop] = values[indices].mean(axis=1)
    return means


def _percentile_interval(samples: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    alpha = 1 - confidence
    low, high = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _paired_arrays(
    a: Sequence[float] | Sequence[bool], b: Sequence[float] | Sequence[bool]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a_array = _as_nonempty_array("a", a)
    b_array = _as_nonempty_array("b", b)
    if a_array.size != b_array.size:
        raise ValueError(
            f"paired inputs must have the same length, got {a_array.size} and {b_array.size}"
        )
    return a_array, b_array


def _as_nonempty_array(name: str, values: Sequence[float] | Sequence[bool]) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty flat sequence, got shape {array.shape}")
    return array


def _check_unit_interval(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
