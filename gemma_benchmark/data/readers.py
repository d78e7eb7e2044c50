"""Readers for the original file layouts (MMLU CSV, JSONL, gzipped JSONL)."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemma_benchmark.exceptions import DataNotFoundError

MMLU_SPLIT_SUFFIX = {"dev": "dev", "val": "val", "test": "test"}


@dataclass(frozen=True)
class MMLURow:
    """One MMLU question as in the Hendrycks CSV: question, four choices, answer letter."""

    subject: str
    row_index: int
    question: str
    choices: tuple[str, str, str, str]
    answer: str


def read_mmlu_split(mmlu_dir: Path, subject: str, split: str) -> list[MMLURow]:
    """Rows of `<mmlu_dir>/<split>/<subject>_<split>.csv`.

    The release mixes CRLF and LF files and has newlines inside quoted fields, so this reads with
    the csv module (newline=""), never by splitting lines.
    """
    path = Path(mmlu_dir) / split / f"{subject}_{MMLU_SPLIT_SUFFIX[split]}.csv"
    if not path.is_file():
        raise DataNotFoundError(f"MMLU file not found: {path}")
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for index, record in enumerate(csv.reader(handle)):
            if len(record) != 6:
                raise DataNotFoundError(f"{path}: row {index} has {len(record)} columns, not 6")
            question, a, b, c, d, answer = record
            if answer not in ("A", "B", "C", "D"):
                raise DataNotFoundError(f"{path}: row {index} has answer {answer!r}, not A-D")
            rows.append(MMLURow(subject, index, question, (a, b, c, d), answer))
    return rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file (gzipped when the name ends in .gz); blank lines are skipped."""
    return list(iter_jsonl(path))


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for _, record in iter_jsonl_lines(path):
        yield record


def iter_jsonl_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line, gzipped when the name ends in .gz.

    Raises DataNotFoundError for a missing file or a line that is not JSON, naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"data file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as err:
                raise DataNotFoundError(
                    f"{path}: line {number}: not valid JSON ({err.msg}, column {err.colno})"
                ) from None
