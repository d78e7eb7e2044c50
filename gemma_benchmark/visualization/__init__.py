"""Charts, the self-contained HTML report and the leaderboard, drawn from stored results.

Names are re-exported lazily: importing this package loads neither matplotlib nor Jinja2, so a
CLI that only mentions these commands stays fast to start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemma_benchmark.visualization.charts import ChartGenerator, render_all_charts
    from gemma_benchmark.visualization.leaderboard import Leaderboard, build_leaderboard
    from gemma_benchmark.visualization.leaderboard_format import format_leaderboard
    from gemma_benchmark.visualization.loader import (
        document_from_file,
        document_from_store,
        load_document,
    )
    from gemma_benchmark.visualization.report import render_report, write_report

__all__ = [
    "ChartGenerator",
    "Leaderboard",
    "build_leaderboard",
    "document_from_file",
    "document_from_store",
    "format_leaderboard",
    "load_document",
    "render_all_charts",
    "render_report",
    "write_report",
]

_HOMES = {
    "ChartGenerator": "charts",
    "render_all_charts": "charts",
    "Leaderboard": "leaderboard",
    "build_leaderboard": "leaderboard",
    "format_leaderboard": "leaderboard_format",
    "document_from_file": "loader",
    "document_from_store": "loader",
    "load_document": "loader",
    "render_report": "report",
    "write_report": "report",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
