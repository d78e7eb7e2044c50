"""The `gemma-benchmark` command line: a thin shell over the package's API.

Exit codes: 0 all succeeded; 1 some model or task failed; 2 a bad config or bad usage, reported
as one line on stderr without a traceback. Heavy imports (torch) happen inside commands only.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from gemma_benchmark.exceptions import ConfigurationError, DataNotFoundError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Evaluate Gemma and other causal LMs: MMLU, GSM8K, HumanEval, efficiency.",
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def fail_usage(message: str) -> typer.Exit:
    """Print `message` as one error line (secrets redacted: it may quote a path or URL)."""
    from gemma_benchmark.storage.redaction import redact

    err_console.print(
        f"[red]error:[/red] {escape(redact(message))}", highlight=False, soft_wrap=True
    )
    return typer.Exit(EXIT_USAGE)


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    from gemma_benchmark.storage import SecretRedactingFilter

    handler = RichHandler(console=err_console, show_path=False, show_time=False)
    handler.addFilter(SecretRedactingFilter())
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler], force=True
    )


def split_names(value: str | None) -> list[str] | None:
    return [n.strip() for n in value.split(",") if n.strip()] if value else None


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML config file")],
    models: Annotated[str | None, typer.Option(help="comma-separated model names")] = None,
    tasks: Annotated[str | None, typer.Option(help="comma-separated task names")] = None,
    output: Annotated[Path | None, typer.Option(help="output directory")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="items per task (quick runs)")] = None,
    resume: Annotated[bool, typer.Option(help="continue the newest unfinished run")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the configured tasks on the configured models; writes <output>/results.json."""
    from gemma_benchmark.cli_run import execute_run

    setup_logging(verbose)
    try:
        code = execute_run(config, split_names(models), split_names(tasks), output, limit, resume)
    except (FileNotFoundError, ConfigurationError, DataNotFoundError) as err:
        raise fail_usage(str(err)) from None
    except KeyboardInterrupt:
        err_console.print(
            "interrupted: every scored chunk is already in the results database; "
            "run the same command with --resume to continue",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except yaml.YAMLError as err:
        raise fail_usage(f"{config}: not valid YAML: {one_line(err)}") from None
    raise typer.Exit(code)


def one_line(err: Exception) -> str:
    return " ".join(str(err).split())


DbOption = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL or SQLite file")]


@app.command()
def runs(db: DbOption = None) -> None:
    """List the runs in the results database."""
    from gemma_benchmark.cli_store import list_runs

    with_store_errors(lambda: list_runs(db))


@app.command()
def show(run_id: int, db: DbOption = None) -> None:
    """Print one run's results table."""
    from gemma_benchmark.cli_store import show_run

    with_store_errors(lambda: show_run(run_id, db))


@app.command()
def compare(run_ids: Annotated[list[int], typer.Argument()], db: DbOption = None) -> None:
    """Runs side by side, with McNemar significance markers against the first."""
    from gemma_benchmark.cli_store import compare_runs

    with_store_errors(lambda: compare_runs(run_ids, db))


@app.command()
def report(
    source: Annotated[str, typer.Argument(help="a run id or a results.json/.yaml file")],
    output: Annotated[Path | None, typer.Option(help="the HTML file to write")] = None,
    db: DbOption = None,
) -> None:
    """Write a self-contained HTML report of a run (no network needed to view it)."""
    from gemma_benchmark.visualization.cli_commands import report_command

    raise typer.Exit(report_command(source, output, db))


@app.command()
def leaderboard(
    db: DbOption = None,
    task: Annotated[str | None, typer.Option(help="rank on one task only")] = None,
    format: Annotated[str, typer.Option("--format", help="table, markdown, csv or html")] = "table",
) -> None:
    """Rank every model in the database, marking ties that are not statistically separable."""
    from gemma_benchmark.visualization.cli_commands import leaderboard_command

    raise typer.Exit(leaderboard_command(db, task, format))


def with_store_errors(action: Any) -> None:
    from gemma_benchmark.storage import RunNotFoundError, StorageError

    try:
        action()
    except (FileNotFoundError, RunNotFoundError, StorageError, ConfigurationError) as err:
        raise fail_usage(one_line(err)) from None


@app.command("list-tasks")
def list_tasks() -> None:
    """Built-in tasks: description, primary metric and data source."""
    from rich.table import Table

    from gemma_benchmark.tasks.registry import registered_tasks

    table = Table("type", "description", "metric", "data")
    for name, cls in registered_tasks().items():
        table.add_row(
            name,
            getattr(cls, "description", ""),
            getattr(cls, "primary_metric", ""),
            getattr(cls, "data_source", ""),
        )
    console.print(table)


@app.command("list-models")
def list_models() -> None:
    """Catalogue models (type/version/size/variant -> hub id); any hub id or path also works."""
    from rich.table import Table

    from gemma_benchmark.core.model_registry import catalogue

    table = Table("type", "version", "size", "variant", "hub id")
    for spec in catalogue():
        table.add_row(spec.family, spec.version, spec.size, spec.variant, spec.hub_id)
    console.print(table)
    console.print("type: huggingface with path: <hub id or local dir> loads any causal LM.")


@app.command("download-data")
def download_data(
    mmlu: bool = False,
    gsm8k: bool = False,
    humaneval: bool = False,
    arc: bool = False,
    hellaswag: bool = False,
    truthfulqa: bool = False,
    all_: Annotated[bool, typer.Option("--all")] = False,
    force: bool = False,
    data_dir: Annotated[Path, typer.Option(help="where to write")] = Path("data"),
) -> None:
    """Download datasets from the Hugging Face hub into the local layout."""
    from gemma_benchmark.utils.data_downloader import all_downloaders

    downloaders = all_downloaders()
    flags = {
        "mmlu": mmlu,
        "gsm8k": gsm8k,
        "humaneval": humaneval,
        "arc": arc,
        "hellaswag": hellaswag,
        "truthfulqa": truthfulqa,
    }
    chosen = list(downloaders) if all_ else [name for name, on in flags.items() if on]
    if not chosen:
        raise fail_usage(f"choose at least one of --{', --'.join(flags)} or --all")
    failed = False
    for name in chosen:
        try:
            path = downloaders[name](str(data_dir / name), force=force)
            console.print(f"{name}: {path}")
        except Exception as err:  # network or hub errors: reported per dataset
            err_console.print(f"[red]{name}: download failed:[/red] {one_line(err)}")
            failed = True
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command("make-tiny-model")
def make_tiny_model(
    directory: Annotated[Path, typer.Argument(help="output directory")],
    arch: Annotated[str, typer.Option(help="gemma, gemma2, gemma3, mistral or llama")] = "gemma",
    seed: int = 0,
    data_dir: Annotated[str | None, typer.Option(help="benchmark data root")] = None,
    hidden_size: Annotated[int, typer.Option(min=8)] = 64,
    layers: Annotated[int, typer.Option(min=1)] = 2,
) -> None:
    """Write a tiny random-weight checkpoint of a real architecture (offline)."""
    from gemma_benchmark.tiny_model import ARCHES, TinyShape, build_tiny_model

    if arch not in ARCHES:
        raise fail_usage(f"--arch: unknown {arch!r}; choose from {', '.join(ARCHES)}")
    shape = TinyShape(hidden_size=hidden_size, num_hidden_layers=layers)
    try:
        path = build_tiny_model(directory, arch, seed, shape=shape, data_dir=data_dir)
    except DataNotFoundError as err:
        raise fail_usage(str(err)) from None
    console.print(f"tiny {arch} model written to {path}")


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return app(args=argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
