"""The leaderboard: every model in the results database ranked per task and by its mean score.

Which numbers: each model's latest finished run (by finish time) that has results for it; a
task's score is its primary metric (accuracy or pass@1, see `extract.primary_score`) with its
interval: the Student-t interval over repeated runs when the task ran several times, else the
Wilson interval from correct/total, else ±z·stderr. Tasks without such a score (efficiency) are
not ranked.

Ties (the "≈" marker): models are sorted by score, best first. The first model opens a rank
group; each next model joins the current group when its interval overlaps the interval of the
group's first model, and otherwise opens a new group ranked by its position (1, 1, 3, ...).
Every member of a group with more than one model is marked "≈": their scores are not
statistically separable by this rule. A score without an interval counts as the single point
it is (two such scores tie only when equal).
Overlapping 95% intervals is a conservative test (two models can differ significantly while
their intervals overlap); the report's paired tests are the sharper instrument for one run.

Mean ranking: the mean of a model's task scores. Models with a score on every ranked task come
first; models missing some are ranked below them and say how many tasks they cover. The mean's
interval combines the per-task half-widths as independent normal errors:
`mean ± z·sqrt(Σ se_i²)/k` with `se_i = (high_i - low_i) / (2z)`; a model with one task keeps
that task's interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gemma_benchmark.visualization.extract import Score, primary_score
from gemma_benchmark.visualization.loader import results_from_rows

if TYPE_CHECKING:
    from gemma_benchmark.storage import ResultStore

__all__ = ["MEAN_SCOPE", "Entry", "Leaderboard", "Ranking", "build_leaderboard", "rank_entries"]

MEAN_SCOPE = "mean"
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Entry:
    """One model's line in a ranking; `n` is items for a task, tasks covered for the mean."""

    model: str
    score: float
    ci_low: float | None
    ci_high: float | None
    n: int | None
    run_id: int
    rank: int = 0
    tied: bool = False
    note: str = ""

    def interval(self) -> tuple[float, float]:
        """The CI, or the point itself when there is none (so only equal scores overlap)."""
        if self.ci_low is None or self.ci_high is None:
            return self.score, self.score
        return self.ci_low, self.ci_high

    def overlaps(self, other: Entry) -> bool:
        low, high = self.interval()
        other_low, other_high = other.interval()
        return low <= other_high and other_low <= high


@dataclass(frozen=True)
class Ranking:
    """Entries of one task (or of the mean, scope "mean"), best first."""

    scope: str
    metric: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Leaderboard:
    rankings: tuple[Ranking, ...]
    runs: dict[str, int] = field(default_factory=dict)  # model -> run id its scores come from
    confidence: float = 0.95


def rank_entries(entries: Sequence[Entry]) -> tuple[Entry, ...]:
    """Sort best first and assign rank groups by the overlap rule of the module docstring."""
    ordered = sorted(entries, key=lambda e: (-e.score, e.model))
    groups: list[list[Entry]] = []
    for entry in ordered:
        if groups and groups[-1][0].overlaps(entry):
            groups[-1].append(entry)
        else:
            groups.append([entry])
    ranked: list[Entry] = []
    for group in groups:
        rank = len(ranked) + 1
        for entry in group:
            ranked.append(replace(entry, rank=rank, tied=len(group) > 1))
    return tuple(ranked)


def latest_results(store: ResultStore) -> dict[str, tuple[int, dict[str, Any]]]:
    """model -> (run id, {task: result}) from the model's latest finished run."""
    runs = [run for run in store.list_runs() if run.get("status") == "finished"]
    runs.sort(key=lambda run: (run.get("finished_at") or run.get("started_at") or "", run["id"]))
    chosen: dict[str, tuple[int, dict[str, Any]]] = {}
    for run in reversed(runs):
        if not set(run.get("models") or []) - set(chosen):
            continue
        results, _ = results_from_rows(store.task_results(run["id"]))
        for model, per_task in results.items():
            chosen.setdefault(model, (int(run["id"]), per_task))
    return chosen


def build_leaderboard(
    store: ResultStore, task: str | None = None, confidence: float = 0.95
) -> Leaderboard:
    """Rank every model of the database (see the module docstring for the rules).

    Raises ValueError when the database has no finished run with a scored task, or when
    `task` is given and no model has a score for it.
    """
    chosen = latest_results(store)
    scores = _task_scores(chosen, confidence)
    if not scores:
        raise ValueError("no finished run in the database has a task with a score to rank")
    if task is not None and task not in scores:
        raise ValueError(f"no model has a score for task {task!r} (tasks: {', '.join(scores)})")
    tasks = [task] if task is not None else list(scores)
    rankings = [_task_ranking(name, scores[name], chosen) for name in tasks]
    if task is None and len(tasks) > 1:
        rankings.append(_mean_ranking(scores, chosen, confidence))
    runs = {model: run_id for model, (run_id, _) in chosen.items()}
    return Leaderboard(tuple(rankings), runs, confidence)


def _task_scores(
    chosen: Mapping[str, tuple[int, dict[str, Any]]], confidence: float
) -> dict[str, dict[str, Score]]:
    """task -> model -> score, tasks in first-seen order."""
    scores: dict[str, dict[str, Score]] = {}
    for model, (_, per_task) in sorted(chosen.items()):
        for task, result in per_task.items():
            if not isinstance(result, Mapping) or result.get("status") == "failed":
                continue
            score = primary_score(result, confidence)
            if score is not None:
                scores.setdefault(task, {})[model] = score
    return scores


def _task_ranking(
    task: str, scores: Mapping[str, Score], chosen: Mapping[str, tuple[int, Any]]
) -> Ranking:
    entries = [
        Entry(model, s.value, s.ci_low, s.ci_high, s.n, chosen[model][0])
        for model, s in scores.items()
    ]
    metrics = sorted({s.metric for s in scores.values()})
    return Ranking(task, "/".join(metrics), rank_entries(entries))


def _mean_ranking(
    scores: Mapping[str, Mapping[str, Score]],
    chosen: Mapping[str, tuple[int, Any]],
    confidence: float,
) -> Ranking:
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + confidence / 2))
    complete: list[Entry] = []
    partial: list[Entry] = []
    for model, (run_id, _) in sorted(chosen.items()):
        mine = [per_model[model] for per_model in scores.values() if model in per_model]
        if not mine:
            continue
        entry = _mean_entry(model, run_id, mine, z)
        if len(mine) == len(scores):
            complete.append(entry)
        else:
            partial.append(replace(entry, note=f"{len(mine)} of {len(scores)} tasks"))
    ranked = list(rank_entries(complete))
    offset = len(ranked)
    ranked += [replace(e, rank=e.rank + offset) for e in rank_entries(partial)]
    return Ranking(MEAN_SCOPE, ", ".join(scores), tuple(ranked))


def _mean_entry(model: str, run_id: int, mine: list[Score], z: float) -> Entry:
    if len(mine) == 1:
        only = mine[0]
        return Entry(model, only.value, only.ci_low, only.ci_high, 1, run_id)
    mean = sum(s.value for s in mine) / len(mine)
    if not all(s.has_ci for s in mine):
        return Entry(model, mean, None, None, len(mine), run_id)
    variance = sum(((s.ci_high or 0.0) - (s.ci_low or 0.0)) ** 2 / (2 * z) ** 2 for s in mine)
    half = z * math.sqrt(variance) / len(mine)
    return Entry(model, mean, max(0.0, mean - half), min(1.0, mean + half), len(mine), run_id)
