"""The leaderboard on a hand-built results database: run choice, ranking, ties and formats."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemma_benchmark.storage import ResultStore
from gemma_benchmark.visualization.cli_commands import leaderboard_command
from gemma_benchmark.visualization.leaderboard import (
    Entry,
    Leaderboard,
    build_leaderboard,
    rank_entries,
)
from gemma_benchmark.visualization.leaderboard_format import format_leaderboard


def _stats(accuracy: float, total: int) -> dict[str, Any]:
    return {"overall": {"correct": round(accuracy * total), "total": total, "accuracy": accuracy}}


def _run(
    store: ResultStore, rows: list[tuple[str, str, int, dict[str, Any], str]], status: str
) -> int:
    run_id = store.start_run(
        {"config": {"evaluation": {"runs": 2}}}, f"h{status}", {}, "0.1.0", None
    )
    for model, task, run_index, metrics, row_status in rows:
        store.record_task_result(run_id, model, task, run_index, metrics, row_status)
    if status != "running":
        store.finish_run(run_id, status)
    return run_id


@pytest.fixture
def db_path(tmp_path: Path) -> Iterator[Path]:
    """Four runs, oldest first; see each test for what it relies on."""
    path = tmp_path / "board.db"
    with ResultStore(f"sqlite:///{path}") as store:
        first = [
            ("model-a", "mmlu", 0, _stats(0.50, 1000), "finished"),
            ("model-b", "mmlu", 0, _stats(0.40, 1000), "finished"),
        ]
        _run(store, first, "finished")
        _run(
            store,
            [
                ("model-a", "mmlu", 0, _stats(0.70, 1000), "finished"),
                ("model-a", "gsm8k", 0, _stats(0.30, 200), "finished"),
                ("model-a", "efficiency", 0, {"latency": {"tokens_128": 1.0}}, "finished"),
                ("model-c", "mmlu", 0, _stats(0.69, 1000), "finished"),
                ("model-c", "gsm8k", 0, _stats(0.10, 200), "finished"),
                ("model-c", "humaneval", 0, {"status": "failed", "error": "boom"}, "failed"),
                (
                    "model-a vs model-c",
                    "mmlu",
                    -1,
                    {"diff": 0.01, "significant": False},
                    "comparison",
                ),
            ],
            "finished",
        )
        _run(store, [("model-a", "mmlu", 0, _stats(0.99, 1000), "finished")], "failed")
        repeated = [
            ("model-d", "mmlu", 0, _stats(0.20, 50), "finished"),
            ("model-d", "mmlu", 1, _stats(0.30, 50), "finished"),
        ]
        _run(store, repeated, "finished")
    yield path


@pytest.fixture
def board(db_path: Path) -> Leaderboard:
    with ResultStore(f"sqlite:///{db_path}") as store:
        return build_leaderboard(store)


def _by_model(board: Leaderboard, scope: str) -> dict[str, Entry]:
    ranking = next(r for r in board.rankings if r.scope == scope)
    return {entry.model: entry for entry in ranking.entries}


def test_each_model_uses_its_latest_finished_run(board: Leaderboard) -> None:
    assert board.runs == {"model-a": 2, "model-b": 1, "model-c": 2, "model-d": 4}
    mmlu = _by_model(board, "mmlu")
    assert mmlu["model-a"].score == 0.70  # not run 1's 0.50, nor the failed run 3's 0.99
    assert mmlu["model-b"].score == 0.40
    assert "model-a vs model-c" not in mmlu


def test_task_ranking_marks_overlapping_intervals_as_ties(board: Leaderboard) -> None:
    ranking = next(r for r in board.rankings if r.scope == "mmlu")
    assert [(e.model, e.rank, e.tied) for e in ranking.entries] == [
        ("model-a", 1, True),  # 70% vs 69% on 1000 items: Wilson intervals overlap
        ("model-c", 1, True),
        ("model-b", 3, True),  # separable from the leaders
        ("model-d", 3, True),  # two runs: the wide t-interval overlaps model-b's
    ]
    d = ranking.entries[3]
    assert d.score == pytest.approx(0.25)  # the mean over its two runs
    assert d.ci_low == 0.0 and d.ci_high is not None and d.ci_high > 0.8
    low, high = ranking.entries[0].ci_low, ranking.entries[0].ci_high
    assert low is not None and high is not None and 0.66 < low < 0.70 < high < 0.74


def test_unscored_and_failed_tasks_are_not_ranked(board: Leaderboard) -> None:
    assert [r.scope for r in board.rankings] == ["mmlu", "gsm8k", "mean"]


def test_mean_ranking_puts_complete_models_first(board: Leaderboard) -> None:
    mean = next(r for r in board.rankings if r.scope == "mean")
    assert [(e.model, e.rank, e.tied) for e in mean.entries] == [
        ("model-a", 1, False),
        ("model-c", 2, False),
        ("model-b", 3, True),
        ("model-d", 3, True),
    ]
    assert mean.entries[0].score == pytest.approx(0.50)
    assert mean.entries[2].note == "1 of 2 tasks"


def test_task_filter_and_unknown_task(db_path: Path) -> None:
    with ResultStore(f"sqlite:///{db_path}") as store:
        only = build_leaderboard(store, task="gsm8k")
        assert [r.scope for r in only.rankings] == ["gsm8k"]
        with pytest.raises(ValueError, match="no model has a score for task 'nope'"):
            build_leaderboard(store, task="nope")


def test_rank_rule_is_anchored_to_the_group_leader() -> None:
    entries = [
        Entry("a", 0.60, 0.55, 0.65, 100, 1),
        Entry("b", 0.54, 0.50, 0.58, 100, 1),  # overlaps a
        Entry("c", 0.49, 0.44, 0.54, 100, 1),  # overlaps b but not a: a new group
        Entry("d", 0.30, None, None, None, 1),
        Entry("e", 0.30, None, None, None, 1),  # no interval: ties an equal score only
    ]
    ranked = rank_entries(entries)
    assert [(e.model, e.rank, e.tied) for e in ranked] == [
        ("a", 1, True),
        ("b", 1, True),
        ("c", 3, False),
        ("d", 4, True),
        ("e", 4, True),
    ]


def test_formats(board: Leaderboard) -> None:
    markdown = format_leaderboard(board, "markdown")
    assert "## mmlu (accuracy)" in markdown and "| ≈1 | model-a | 70.0% |" in markdown
    rows = list(csv.DictReader(io.StringIO(format_leaderboard(board, "csv"))))
    first = rows[0]
    assert (first["scope"], first["rank"], first["tied"], first["model"]) == (
        "mmlu",
        "1",
        "1",
        "model-a",
    )
    assert float(first["score"]) == 0.70
    html = format_leaderboard(board, "html")
    assert html.startswith("<!DOCTYPE html>") and "<td>≈3</td>" in html
    with pytest.raises(ValueError, match="table, markdown, csv, html"):
        format_leaderboard(board, "xml")


def test_html_escapes_model_names(tmp_path: Path) -> None:
    with ResultStore(f"sqlite:///{tmp_path / 'x.db'}") as store:
        _run(
            store,
            [('<script>alert("x")</script>', "mmlu", 0, _stats(0.5, 10), "finished")],
            "finished",
        )
        html = format_leaderboard(build_leaderboard(store), "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_leaderboard_command(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert leaderboard_command(str(db_path), None, "table") == 0
    out = capsys.readouterr().out
    assert "model-a" in out and "≈1" in out and "Mean across tasks" in out
    assert leaderboard_command(f"sqlite:///{db_path}", "mmlu", "csv") == 0
    assert capsys.readouterr().out.startswith("scope,metric,rank")
    assert leaderboard_command(str(db_path), None, "xml") == 2
    assert leaderboard_command(str(db_path), "nope", "table") == 2
    assert leaderboard_command(str(db_path.with_name("missing.db")), None, "table") == 2
    assert "no results database" in capsys.readouterr().err
