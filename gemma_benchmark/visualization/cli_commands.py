"""The bodies of `gemma-benchmark report` and `gemma-benchmark leaderboard`, as plain functions.

The typer CLI calls these and exits with the code they return: 0 done, 2 bad input (a missing
file, database, run or task, a database that cannot be opened, an unknown format). Errors are
one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from gemma_benchmark.exceptions import ConfigurationError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "leaderboard_command", "report_command"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _expected_errors() -> tuple[type[Exception], ...]:
    """What a wrong source or database raises; imported late so the CLI starts fast."""
    from gemma_benchmark.storage import RunNotFoundError, StorageError

    return (FileNotFoundError, ValueError, RunNotFoundError, StorageError, ConfigurationError)


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    from gemma_benchmark.storage.redaction import redact

    Console(stderr=True).print(f"[red]error:[/red] {escape(redact(message))}", soft_wrap=True)
    return code


def default_report_path(source: str) -> Path:
    """Beside a results file (`a.json` -> `a_report.html`), else `report_run<ID>.html` here."""
    path = Path(source)
    if path.is_file():
        return path.with_name(f"{path.stem}_report.html")
    return Path(f"report_run{source.strip()}.html")


def report_command(source: str, output: Path | None = None, db: str | None = None) -> int:
    """Write the HTML report of `source`: a results.json/.yaml file or a run id in `db`.

    `db` is a SQLAlchemy URL or a SQLite file path (default `results/benchmark.db`); `output`
    defaults to `default_report_path(source)`.
    """
    from gemma_benchmark.visualization.loader import load_document
    from gemma_benchmark.visualization.report import write_report

    try:
        document = load_document(source, db)
        written = write_report(document, output or default_report_path(source))
    except _expected_errors() as err:
        return _fail(str(err))
    Console().print(f"report written to {escape(written)}", soft_wrap=True, highlight=False)
    return EXIT_OK


def leaderboard_command(db: str | None = None, task: str | None = None, fmt: str = "table") -> int:
    """Print every model of the database ranked per task and by mean score, in `fmt`.

    `fmt` is table (rich, for the terminal), markdown, csv or html (a standalone page on stdout).
    """
    from gemma_benchmark.storage import ResultStore
    from gemma_benchmark.visualization.leaderboard import build_leaderboard
    from gemma_benchmark.visualization.leaderboard_format import (
        FORMATS,
        format_leaderboard,
        rich_tables,
    )
    from gemma_benchmark.visualization.loader import database_url

    if fmt not in FORMATS:
        return _fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}", EXIT_USAGE)
    try:
        with ResultStore(database_url(db)) as store:
            board = build_leaderboard(store, task)
    except _expected_errors() as err:
        return _fail(str(err))
    if fmt == "table":
        console = Console()
        for table in rich_tables(board):
            console.print(table)
    else:
        sys.stdout.write(format_leaderboard(board, fmt))
    return EXIT_OK
