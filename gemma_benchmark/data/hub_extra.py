"""Hub downloads for ARC, HellaSwag and TruthfulQA, written in the local (original) layouts.

Each writer turns the hub's rows back into the files the tasks read, so a download and a local
copy are read by one code path:

- `allenai/ai2_arc` -> `arc/ARC-{Challenge,Easy}/ARC-*-{Train,Dev,Test}.jsonl` (AI2 JSONL records);
- `Rowan/hellaswag` validation -> `hellaswag/hellaswag_val.jsonl.gz` (label back to an int);
- `truthfulqa/truthful_qa` -> `truthfulqa/v0/mc_task.json` and `truthfulqa/v0/TruthfulQA.csv`.
  The hub's multiple-choice rows are the v0 file's content (see `tasks/truthfulqa.py`), so they
  go to `v0/`, never to the top-level `mc_task.json` (the later revision, not on the hub).

Same signature as `utils.data_downloader`'s downloaders; `EXTRA_DOWNLOADERS` maps dataset names
to them, ready to merge into its `DOWNLOADERS`.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ARC_SUBSETS = ("ARC-Challenge", "ARC-Easy")
ARC_SPLITS = {"train": "Train", "validation": "Dev", "test": "Test"}
TRUTHFULQA_CSV_COLUMNS = (
    "Type",
    "Category",
    "Question",
    "Best Answer",
    "Correct Answers",
    "Incorrect Answers",
    "Source",
)


def load_hub(hub_id: str, subset: str | None, attempts: int) -> Any:
    """`datasets.load_dataset` with retries; one attempt when the hub is off by choice."""
    import datasets

    # imported here so that `utils.data_downloader` may import this module at its top
    from gemma_benchmark.utils.data_downloader import with_retries

    if os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        attempts = 1
    return with_retries(
        lambda: datasets.load_dataset(hub_id, subset), attempts=attempts, what=f"{hub_id} download"
    )


def _write_text(path: Path, write: Callable[[Any], None], compress: bool = False) -> None:
    """Write through a `.partial` file and rename, so an interrupted download leaves no marker."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    opener = gzip.open if compress else open
    with opener(tmp, "wt", encoding="utf-8", newline="") as handle:
        write(handle)
    tmp.replace(path)


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    def write(handle: Any) -> None:
        for row in rows:
            handle.write(json.dumps(row) + "\n")

    _write_text(path, write, compress=path.suffix == ".gz")


def arc_record(row: dict[str, Any]) -> dict[str, Any]:
    """`allenai/ai2_arc` row -> AI2 JSONL record."""
    choices = row["choices"]
    return {
        "id": row["id"],
        "question": {
            "stem": row["question"],
            "choices": [
                {"text": t, "label": lab}
                for t, lab in zip(choices["text"], choices["label"], strict=True)
            ],
        },
        "answerKey": row["answerKey"],
    }


def download_arc_data(target_dir: str = "data/arc", force: bool = False, attempts: int = 4) -> str:
    """Write both ARC subsets, all three splits, from `allenai/ai2_arc`."""
    target = Path(target_dir)
    for subset in ARC_SUBSETS:
        if (target / subset / f"{subset}-Test.jsonl").exists() and not force:
            continue
        dataset = load_hub("allenai/ai2_arc", subset, attempts)
        for split, name in ARC_SPLITS.items():
            path = target / subset / f"{subset}-{name}.jsonl"
            _write_jsonl(path, (arc_record(row) for row in dataset[split]))
    return str(target)


def hellaswag_record(row: dict[str, Any]) -> dict[str, Any]:
    """`Rowan/hellaswag` row -> the release's record (label stored as an int)."""
    return {**row, "label": int(row["label"])}


def download_hellaswag_data(
    target_dir: str = "data/hellaswag", force: bool = False, attempts: int = 4
) -> str:
    """Write `hellaswag_val.jsonl.gz` (the validation split lm-eval scores)."""
    target = Path(target_dir)
    path = target / "hellaswag_val.jsonl.gz"
    if path.exists() and not force:
        return str(target)
    dataset = load_hub("Rowan/hellaswag", None, attempts)
    _write_jsonl(path, (hellaswag_record(row) for row in dataset["validation"]))
    return str(target)


def mc_record(row: dict[str, Any]) -> dict[str, Any]:
    """Hub `multiple_choice` row -> mc_task.json entry ({answer: 0/1} in the hub's order)."""
    return {
        "question": row["question"],
        **{
            key: dict(zip(row[key]["choices"], row[key]["labels"], strict=True))
            for key in ("mc1_targets", "mc2_targets")
        },
    }


def csv_record(row: dict[str, Any]) -> list[str]:
    """Hub `generation` row -> a TruthfulQA.csv line (answer lists joined by `; `)."""
    return [
        row["type"],
        row["category"],
        row["question"],
        row["best_answer"],
        "; ".join(row["correct_answers"]),
        "; ".join(row["incorrect_answers"]),
        row["source"],
    ]


def download_truthfulqa_data(
    target_dir: str = "data/truthfulqa", force: bool = False, attempts: int = 4
) -> str:
    """Write `v0/mc_task.json` and `v0/TruthfulQA.csv` from `truthfulqa/truthful_qa`."""
    target = Path(target_dir)
    mc_path = target / "v0" / "mc_task.json"
    if mc_path.exists() and not force:
        return str(target)
    generation = load_hub("truthfulqa/truthful_qa", "generation", attempts)["validation"]

    def write_csv(handle: Any) -> None:
        writer = csv.writer(handle)
        writer.writerow(TRUTHFULQA_CSV_COLUMNS)
        writer.writerows(csv_record(row) for row in generation)

    _write_text(target / "v0" / "TruthfulQA.csv", write_csv)
    choices = load_hub("truthfulqa/truthful_qa", "multiple_choice", attempts)["validation"]
    records = [mc_record(row) for row in choices]
    _write_text(mc_path, lambda handle: json.dump(records, handle, indent=2, ensure_ascii=False))
    return str(target)


EXTRA_DOWNLOADERS: dict[str, Callable[..., str]] = {
    "arc": download_arc_data,
    "hellaswag": download_hellaswag_data,
    "truthfulqa": download_truthfulqa_data,
}
