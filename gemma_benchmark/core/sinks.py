"""Where scored samples go the moment their chunk is done: predictions JSONL and the database.

Both are written per chunk, so an interrupted run keeps everything scored before the kill.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gemma_benchmark.storage import ResultStore, redact
from gemma_benchmark.tasks.base import Sample, prediction_line


class PredictionsWriter:
    """Appends one JSON line per sample to `<output>/predictions/<model>/<task>.jsonl`."""

    def __init__(self, path: Path, already_done: list[Sample]) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # A resumed run starts the file afresh from the stored samples: a line cut by the kill
        # must not survive.
        with path.open("w", encoding="utf-8") as handle:
            self._write(handle, already_done)

    def __call__(self, samples: list[Sample]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            self._write(handle, samples)

    @staticmethod
    def _write(handle: Any, samples: list[Sample]) -> None:
        for sample in samples:
            handle.write(json.dumps(redact(prediction_line(sample)), ensure_ascii=False) + "\n")
        handle.flush()


class StoreSink:
    """Commits samples to the results database, one small transaction per chunk."""

    def __init__(self, store: ResultStore, run_id: int, model: str, task: str, run_index: int):
        self.store = store
        self.where = (run_id, model, task, run_index)

    def __call__(self, samples: list[Sample]) -> None:
        self.store.add_samples(*self.where, [to_row(sample) for sample in samples])

    def completed(self) -> dict[str, Sample]:
        """Samples stored by an earlier, interrupted attempt, keyed like the task's `key`."""
        rows = self.store.completed_samples(*self.where)
        return {key: from_row(row) for key, row in rows.items()}


def to_row(sample: Sample) -> dict[str, Any]:
    public = {k: v for k, v in sample.items() if not k.startswith("_")}
    return {
        "doc_id": str(sample["key"]),
        "prompt": sample.get("_prompt"),
        "response": sample.get("_response"),
        "scores": sample.get("scores"),
        "correct": sample.get("correct"),
        "sample": public,
    }


def from_row(row: dict[str, Any]) -> Sample:
    sample: Sample = dict(row["sample"])
    sample["_prompt"] = row.get("prompt")
    sample["_response"] = row.get("response")
    return sample
