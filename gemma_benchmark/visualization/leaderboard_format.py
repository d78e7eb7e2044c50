"""The leaderboard as text: a rich table for the terminal, Markdown, CSV or a standalone HTML page.

Scores print as percentages with one decimal; CSV keeps the raw fractions for machines. A tied
rank (see `leaderboard` for the rule) prints as "≈2" in every human-readable format.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from gemma_benchmark.visualization.leaderboard import MEAN_SCOPE, Entry, Leaderboard, Ranking

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["FORMATS", "TIE_RULE", "format_leaderboard", "rich_tables"]

FORMATS = ("table", "markdown", "csv", "html")
TIE_RULE = (
    "≈: not separable from the model leading its rank group "
    "(their confidence intervals overlap); ranks then skip, as in 1, ≈1, 3."
)
_CSV_FIELDS = (
    "scope",
    "metric",
    "rank",
    "tied",
    "model",
    "score",
    "ci_low",
    "ci_high",
    "n",
    "run_id",
    "note",
)


def format_leaderboard(board: Leaderboard, fmt: str) -> str:
    """`board` as "markdown", "csv" or "html" text (the "table" format is `rich_tables`)."""
    if fmt == "markdown":
        return _markdown(board)
    if fmt == "csv":
        return _csv(board)
    if fmt == "html":
        return _html(board)
    raise ValueError(f"leaderboard format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def rank_label(entry: Entry) -> str:
    return f"≈{entry.rank}" if entry.tied else str(entry.rank)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def interval(entry: Entry) -> str:
    if entry.ci_low is None or entry.ci_high is None:
        return "–"
    return f"[{pct(entry.ci_low)}, {pct(entry.ci_high)}]"


def heading(ranking: Ranking) -> str:
    if ranking.scope == MEAN_SCOPE:
        return f"Mean across tasks ({ranking.metric})"
    return f"{ranking.scope} ({ranking.metric})"


def count_label(ranking: Ranking) -> str:
    return "tasks" if ranking.scope == MEAN_SCOPE else "items"


def _cells(entry: Entry) -> list[str]:
    return [
        rank_label(entry),
        entry.model,
        pct(entry.score),
        interval(entry),
        "–" if entry.n is None else str(entry.n),
        str(entry.run_id),
        entry.note,
    ]


def _header(ranking: Ranking, confidence: float) -> list[str]:
    return ["Rank", "Model", "Score", f"{confidence:.0%} CI", count_label(ranking), "Run", "Note"]


def _markdown(board: Leaderboard) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = ["# Leaderboard", ""]
    for ranking in board.rankings:
        header = _header(ranking, board.confidence)
        lines += [f"## {heading(ranking)}", "", row(header), row(["---"] * len(header))]
        lines += [row(_cells(entry)) for entry in ranking.entries]
        lines.append("")
    lines.append(f"_{TIE_RULE}_")
    return "\n".join(lines) + "\n"


def _csv(board: Leaderboard) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_CSV_FIELDS)
    for ranking in board.rankings:
        for e in ranking.entries:
            writer.writerow(
                [ranking.scope, ranking.metric, e.rank, int(e.tied), e.model, repr(e.score)]
                + ["" if v is None else repr(v) for v in (e.ci_low, e.ci_high)]
                + ["" if e.n is None else e.n, e.run_id, e.note]
            )
    return buffer.getvalue()


def _html(board: Leaderboard) -> str:
    from gemma_benchmark.visualization.report import environment

    sections = [
        {
            "heading": heading(ranking),
            "header": _header(ranking, board.confidence),
            "rows": [_cells(entry) for entry in ranking.entries],
        }
        for ranking in board.rankings
    ]
    template = environment().get_template("leaderboard.html.j2")
    return template.render(sections=sections, tie_rule=TIE_RULE) + "\n"


def rich_tables(board: Leaderboard) -> list[Table]:
    """One rich table per ranking, for the terminal."""
    from rich.table import Table
    from rich.text import Text

    tables = []
    for position, ranking in enumerate(board.rankings, start=1):
        last = position == len(board.rankings)
        table = Table(
            title=Text(heading(ranking)), caption=TIE_RULE if last else None, title_justify="left"
        )
        for index, name in enumerate(_header(ranking, board.confidence)):
            table.add_column(name, justify="right" if index in (0, 2, 4, 5) else "left")
        for entry in ranking.entries:
            table.add_row(*(Text(cell) for cell in _cells(entry)))  # names are not rich markup
        tables.append(table)
    return tables
