"""Reading and checking a user's task file (JSONL or CSV), and its sandboxed prompt templates.

Every problem is reported at once, as one line naming the file, the line and the field, so a
user fixes their data instead of reading a traceback; a file with no rows is an error, never a
score of 0. Templates are Jinja2 in an immutable sandbox with strict undefined variables: a
template cannot reach Python internals or mutate the row, and a typo in a variable name fails
at load time rather than rendering as an empty string.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from gemma_benchmark.data.readers import iter_jsonl_lines
from gemma_benchmark.exceptions import DataNotFoundError, TaskInitializationError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ENVIRONMENT = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
)


@dataclass(frozen=True)
class Row:
    """One record of a user file and the line it starts on (1-based, as an editor shows)."""

    line: int
    record: dict[str, Any]


def compile_template(source: str) -> Template:
    """A sandboxed template; raises ValueError (for the options validator) on bad syntax."""
    try:
        return _ENVIRONMENT.from_string(source)
    except TemplateError as err:
        raise ValueError(f"not a valid Jinja2 template: {err}") from None


def render(template: Template, context: dict[str, Any], where: str, option: str) -> str:
    """Render for one row; any template error becomes a one-line TaskInitializationError."""
    try:
        return template.render(context)
    except TemplateError as err:
        raise TaskInitializationError(f"{where}: {option}: {err}") from None


def file_format(path: Path, declared: str | None) -> str:
    if declared is not None:
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".csv"]:
        return "csv"
    if suffixes[-1:] in ([".jsonl"], [".json"]) or suffixes[-2:] == [".jsonl", ".gz"]:
        return "jsonl"
    raise TaskInitializationError(
        f"{path}: unknown file type; name it .jsonl or .csv, or set file_format"
    )


def read_rows(path: Path, declared_format: str | None = None) -> list[Row]:
    """The non-blank records of a JSONL or CSV (header row) file.

    Raises DataNotFoundError for a missing file and TaskInitializationError for a malformed line
    or a file without any record.
    """
    if not path.is_file():
        raise DataNotFoundError(f"task data file not found: {path}")
    fmt = file_format(path, declared_format)
    rows = list(_csv_rows(path) if fmt == "csv" else _jsonl_rows(path))
    if not rows:
        raise TaskInitializationError(f"{path}: no rows (an empty file is an error, not a score)")
    return rows


def _jsonl_rows(path: Path) -> Iterator[Row]:
    for number, record in iter_jsonl_lines(path):
        if not isinstance(record, dict):
            raise TaskInitializationError(
                f"{path}: line {number}: expected a JSON object, got {type(record).__name__}"
            )
        yield Row(number, record)


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:  # reads the header; None: an empty file
            return
        start = reader.line_num + 1
        for record in reader:
            values = [v for k, v in record.items() if k is not None and v is not None]
            if any(str(v).strip() for v in values):
                yield Row(start, {k: v for k, v in record.items() if k is not None})
            start = reader.line_num + 1


def require(row: Row, field: str, where: str) -> Any:
    """The field's value; a missing (or, in a CSV, short-row) field is an error naming it."""
    value = row.record.get(field)
    if value is None:
        raise TaskInitializationError(f"{where}: missing field {field!r}")
    return value


def choices_of(row: Row, spec: str | Sequence[str], where: str) -> tuple[str, ...]:
    """Choices from one list field, or from several columns (empty cells dropped, so rows may
    have fewer choices than columns). 2 to 26 are required (each gets a letter label)."""
    if isinstance(spec, str):
        value = require(row, spec, where)
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
            raise TaskInitializationError(f"{where}: field {spec!r} must be a list of strings")
        choices = tuple(str(v) for v in value)
        label = repr(spec)
    else:
        cells = [require(row, column, where) for column in spec]
        choices = tuple(str(c) for c in cells if str(c).strip())
        label = "choice columns " + ", ".join(repr(c) for c in spec)
    if not 2 <= len(choices) <= len(LETTERS):
        raise TaskInitializationError(
            f"{where}: {label} must give 2 to {len(LETTERS)} choices, not {len(choices)}"
        )
    return choices


def answer_index(value: Any, choices: Sequence[str], answer_type: str, where: str) -> int:
    """The 0-based index of the answer given as an index, a letter or the choice text.

    `auto` reads an int or digit string as a 0-based index, one letter as A=0, B=1..., and any
    other string as the text of a choice.
    """
    kind = answer_type if answer_type != "auto" else _guess_kind(value)
    index = _as_index(value, kind, choices)
    if index is None or not 0 <= index < len(choices):
        shown = f"answer {value!r}" + (f" ({kind})" if answer_type == "auto" else "")
        raise TaskInitializationError(
            f"{where}: {shown} is out of range for {len(choices)} choices"
        )
    return index


def _guess_kind(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return "index"
    text = str(value).strip()
    if text.isdigit():
        return "index"
    if len(text) == 1 and text.isalpha():
        return "letter"
    return "text"


def _as_index(value: Any, kind: str, choices: Sequence[str]) -> int | None:
    if isinstance(value, bool):
        return None
    text = str(value).strip()
    if kind == "index":
        return int(text) if text.lstrip("-").isdigit() else None
    if kind == "letter":
        return LETTERS.index(text.upper()) if len(text) == 1 and text.upper() in LETTERS else None
    return list(choices).index(text) if text in choices else None
