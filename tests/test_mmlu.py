"""MMLU prompt building, subset resolution and aggregation, on the real data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gemma_benchmark.data import read_mmlu_split
from gemma_benchmark.exceptions import DataNotFoundError, TaskInitializationError
from gemma_benchmark.tasks.mmlu import MMLUBenchmark
from gemma_benchmark.tasks.mmlu_subjects import SUBJECT_CATEGORIES, resolve_subset


def test_zero_shot_prompt_is_lm_eval_format(data_dir: Path) -> None:
    task = MMLUBenchmark({"subset": "anatomy", "shot_count": 0, "data_dir": str(data_dir)})
    doc = task.build_docs()[0]
    row = read_mmlu_split(data_dir / "mmlu", "anatomy", "test")[0]
    expected = (
        "The following are multiple choice questions (with answers) about anatomy.\n\n"
        f"{row.question.strip()}\nA. {row.choices[0]}\nB. {row.choices[1]}\n"
        f"C. {row.choices[2]}\nD. {row.choices[3]}\nAnswer:"
    )
    assert doc.context == expected
    assert doc.continuations == (" A", " B", " C", " D")
    assert doc.labels[doc.target] == row.answer


def test_five_shots_come_from_dev_in_file_order(data_dir: Path) -> None:
    task = MMLUBenchmark({"subset": "astronomy", "shot_count": 5, "data_dir": str(data_dir)})
    context = task.build_docs()[0].context
    dev = read_mmlu_split(data_dir / "mmlu", "astronomy", "dev")
    positions = [context.index(shot.question.strip()) for shot in dev]
    assert positions == sorted(positions)
    assert f"Answer: {dev[0].answer}\n\n" in context
    assert context.startswith(
        "The following are multiple choice questions (with answers) about astronomy.\n\n"
    )


def test_more_than_five_shots_continue_from_validation(data_dir: Path) -> None:
    task = MMLUBenchmark({"subset": "virology", "shot_count": 7, "data_dir": str(data_dir)})
    context = task.build_docs()[0].context
    val = read_mmlu_split(data_dir / "mmlu", "virology", "val")
    assert val[0].question.strip() in context and val[1].question.strip() in context
    assert val[2].question.strip() not in context
    assert context.count("\nAnswer:") == 8  # seven shots and the question


@pytest.mark.parametrize(
    ("subset", "count"),
    [
        ("all", 57),
        ("stem", 19),
        ("humanities", 13),
        ("social_sciences", 12),
        ("other", 13),
        ("mathematics", 5),
        ("computer_science", 4),
        ("anatomy", 1),
        (["anatomy", "mathematics", "abstract_algebra"], 6),
    ],
)
def test_subset_resolution(subset: Any, count: int) -> None:
    subjects = resolve_subset(subset)
    assert len(subjects) == count
    assert set(subjects) <= set(SUBJECT_CATEGORIES)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("STEM", "stem"),
        ("Social Sciences", "social_sciences"),
        ("High-School Mathematics", "high_school_mathematics"),
        ("mmlu_virology", "virology"),  # lm-eval's task name
        ("mmlu", "all"),
    ],
)
def test_subset_names_are_normalised(written: str, canonical: str) -> None:
    assert resolve_subset(written) == resolve_subset(canonical)


def test_limit_is_per_subject(data_dir: Path) -> None:
    task = MMLUBenchmark({"subset": "mathematics", "limit": 3, "data_dir": str(data_dir)})
    docs = task.build_docs()
    assert len(docs) == 15
    assert {d.doc_id for d in docs} == {0, 1, 2}


def test_bad_option_is_a_task_initialization_error() -> None:
    with pytest.raises(TaskInitializationError, match="shot_count: must be between 0 and 10"):
        MMLUBenchmark({"shot_count": 11})


def test_missing_data_names_places_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMMA_BENCHMARK_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    task = MMLUBenchmark({"subset": "anatomy", "data_dir": str(tmp_path / "cfg")})
    with pytest.raises(DataNotFoundError) as info:
        task.build_docs()
    message = str(info.value)
    for place in ("cfg/mmlu/test", "env/mmlu/test", "data/mmlu/test", "hub download failed"):
        assert place in message
    assert "\n" not in message


class FixedScores:
    """A stand-in backend that prefers one letter per subject: exercises aggregation only."""

    def __init__(self, favourite: dict[str, int]) -> None:
        self.favourite = favourite

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        scores = []
        for context, continuation in requests:
            subject = next(s for s in self.favourite if s.replace("_", " ") + "." in context)
            scores.append(0.0 if " ABCD"[self.favourite[subject] + 1] == continuation[1] else -1.0)
        return scores


def test_aggregation_is_micro_averaged(data_dir: Path) -> None:
    subjects = {"anatomy": 0, "astronomy": 1, "philosophy": 2}
    task = MMLUBenchmark({"subset": list(subjects), "shot_count": 0, "data_dir": str(data_dir)})
    result = task.evaluate(FixedScores(subjects))
    expected_correct = {
        s: sum(r.answer == "ABCD"[i] for r in read_mmlu_split(data_dir / "mmlu", s, "test"))
        for s, i in subjects.items()
    }
    for subject, correct in expected_correct.items():
        assert result["subjects"][subject]["correct"] == correct
    total = sum(result["subjects"][s]["total"] for s in subjects)
    assert result["overall"]["total"] == total
    assert result["overall"]["accuracy"] == pytest.approx(sum(expected_correct.values()) / total)
    stem = result["categories"]["stem"]
    assert (
        stem["total"]
        == result["subjects"]["anatomy"]["total"] + result["subjects"]["astronomy"]["total"]
    )
    assert set(result["categories"]) == {"stem", "humanities"}
    p, n = result["overall"]["accuracy"], total
    assert result["overall"]["stderr"] == pytest.approx((p * (1 - p) * n / (n - 1)) ** 0.5 / n**0.5)


def test_resume_skips_stored_samples(data_dir: Path) -> None:
    subjects = {"anatomy": 0}
    first = MMLUBenchmark({"subset": "anatomy", "shot_count": 0, "data_dir": str(data_dir)})
    stored: list[dict[str, Any]] = []
    first.sample_sinks.append(stored.extend)
    full = first.evaluate(FixedScores(subjects))

    second = MMLUBenchmark({"subset": "anatomy", "shot_count": 0, "data_dir": str(data_dir)})
    second.completed = {s["key"]: s for s in stored[:50]}
    asked: list[tuple[str, str]] = []

    class Counting(FixedScores):
        def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
            asked.extend(requests)
            return super().loglikelihood(requests)

    resumed = second.evaluate(Counting(subjects))
    assert resumed == full
    assert len(asked) == 4 * (full["overall"]["total"] - 50)
