"""Download benchmark data from the Hugging Face hub into the original local layout.

The files written are the same as those of the official releases (MMLU CSVs per subject and
split, GSM8K JSONL, HumanEval gzipped JSONL), so local and downloaded data read the same way.
Network calls retry with exponential backoff (the spec's "Network Issues").
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

HUB_IDS = {
    "mmlu": ("cais/mmlu", "all"),
    "gsm8k": ("openai/gsm8k", "main"),
    "humaneval": ("openai/openai_humaneval", None),
}
MMLU_SPLITS = {"dev": "dev", "validation": "val", "test": "test"}
LETTERS = "ABCD"


def with_retries(
    action: Callable[[], T], attempts: int = 4, base_delay_s: float = 1.0, what: str = "download"
) -> T:
    """Run `action`, retrying failures with delays of 1, 2, 4... seconds; re-raise the last."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as err:
            if attempt == attempts:
                raise
            delay = base_delay_s * 2 ** (attempt - 1)
            logger.warning(
                "%s failed (%s); retry %d/%d in %.0fs", what, err, attempt, attempts, delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def _load_hub(name: str, attempts: int) -> Any:
    import datasets

    if os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        attempts = 1  # offline by choice: retrying cannot help

    hub_id, subset = HUB_IDS[name]
    return with_retries(
        lambda: datasets.load_dataset(hub_id, subset), attempts=attempts, what=f"{hub_id} download"
    )


def _is_done(marker: Path, force: bool) -> bool:
    if marker.exists() and not force:
        logger.info("%s exists; skipping (force=True downloads again)", marker)
        return True
    return False


def download_mmlu_data(
    target_dir: str = "data/mmlu", force: bool = False, attempts: int = 4
) -> str:
    """Write `<target_dir>/{dev,val,test}/<subject>_<split>.csv` from `cais/mmlu`."""
    target = Path(target_dir)
    if _is_done(target / "test", force):
        return str(target)
    write_mmlu_layout(_load_hub("mmlu", attempts), target)
    return str(target)


def write_mmlu_layout(dataset: Any, target: Path) -> None:
    """Hub rows (subject, question, choices, answer index) -> Hendrycks CSVs (no header)."""
    for hub_split, split in MMLU_SPLITS.items():
        by_subject: dict[str, list[list[str]]] = {}
        for row in dataset[hub_split]:
            record = [row["question"], *row["choices"], LETTERS[int(row["answer"])]]
            by_subject.setdefault(row["subject"], []).append(record)
        (target / split).mkdir(parents=True, exist_ok=True)
        for subject, rows in by_subject.items():
            path = target / split / f"{subject}_{split}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerows(rows)


def download_gsm8k_data(
    target_dir: str = "data/gsm8k", force: bool = False, attempts: int = 4
) -> str:
    """Write `<target_dir>/{train,test}.jsonl` (question, answer) from `openai/gsm8k`."""
    target = Path(target_dir)
    if _is_done(target / "test.jsonl", force):
        return str(target)
    dataset = _load_hub("gsm8k", attempts)
    target.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        rows = ({"question": r["question"], "answer": r["answer"]} for r in dataset[split])
        _write_jsonl(target / f"{split}.jsonl", rows)
    return str(target)


def download_humaneval_data(
    target_dir: str = "data/humaneval", force: bool = False, attempts: int = 4
) -> str:
    """Write `<target_dir>/HumanEval.jsonl.gz` from `openai/openai_humaneval`."""
    target = Path(target_dir)
    if _is_done(target / "HumanEval.jsonl.gz", force):
        return str(target)
    dataset = _load_hub("humaneval", attempts)
    target.mkdir(parents=True, exist_ok=True)
    keys = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
    rows = ({k: r[k] for k in keys} for r in dataset["test"])
    _write_jsonl(target / "HumanEval.jsonl.gz", rows)
    return str(target)


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".partial")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(tmp, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    tmp.replace(path)


DOWNLOADERS: dict[str, Callable[..., str]] = {
    "mmlu": download_mmlu_data,
    "gsm8k": download_gsm8k_data,
    "humaneval": download_humaneval_data,
}


def all_downloaders() -> dict[str, Callable[..., str]]:
    """The spec's three plus ARC, HellaSwag and TruthfulQA (`data.hub_extra`)."""
    from gemma_benchmark.data.hub_extra import EXTRA_DOWNLOADERS

    return {**DOWNLOADERS, **EXTRA_DOWNLOADERS}


def download_dataset(name: str, target: Path, force: bool = False) -> str:
    """Download one dataset by name; raises KeyError-free ValueError for a name with no hub copy."""
    downloaders = all_downloaders()
    if name not in downloaders:
        raise ValueError(f"no hub download for {name!r}; known: {', '.join(downloaders)}")
    return downloaders[name](str(target), force=force)
