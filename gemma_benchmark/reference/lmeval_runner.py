"""Run lm-evaluation-harness's own `mmlu_<subject>` tasks offline on local data.

lm-eval reads MMLU from the hub (`cais/mmlu`). Offline, this writes the local CSVs in that hub
shape (question, subject, choices, answer index) to JSON files and points lm-eval's task configs at
them; every other part of the task (prompt template, description, few-shot sampler, metric) is
lm-eval's own, read from its installed YAML.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gemma_benchmark.data.readers import read_mmlu_split

SPLITS = {"test": "test", "dev": "dev", "validation": "val"}


@dataclass(frozen=True)
class ReferenceItem:
    subject: str
    doc_id: int
    prediction: str
    target: str
    scores: list[float]


def _lm_eval_mmlu_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default"


def _write_hub_shaped(mmlu_dir: Path, subject: str, out: Path) -> dict[str, str]:
    files = {}
    for hub_split, split in SPLITS.items():
        path = out / f"{subject}_{hub_split}.json"
        with path.open("w", encoding="utf-8") as handle:
            for row in read_mmlu_split(mmlu_dir, subject, split):
                record = {
                    "question": row.question,
                    "subject": subject,
                    "choices": list(row.choices),
                    "answer": "ABCD".index(row.answer),
                }
                handle.write(json.dumps(record) + "\n")
        files[hub_split] = str(path)
    return files


def mmlu_task_config(mmlu_dir: Path, subject: str, out: Path) -> dict[str, Any]:
    """lm-eval's `mmlu_<subject>` config, reading local files instead of the hub."""
    folder = _lm_eval_mmlu_dir()
    config: dict[str, Any] = yaml.safe_load((folder / "_default_template_yaml").read_text())
    config.update(yaml.safe_load((folder / f"mmlu_{subject}.yaml").read_text()))
    for key in ("include", "tag"):
        config.pop(key, None)
    config["dataset_path"] = "json"
    config["dataset_name"] = None
    config["dataset_kwargs"] = {"data_files": _write_hub_shaped(mmlu_dir, subject, out)}
    return config


def make_hflm(model_path: str, batch_size: int = 16, dtype: str = "float32") -> Any:
    """lm-eval's HF backend on CPU, loaded once and reusable across runs."""
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=model_path, dtype=dtype, batch_size=batch_size, device="cpu")


def run_lmeval_mmlu(
    model: Any,
    mmlu_dir: Path,
    subjects: list[str],
    shots: int,
    batch_size: int = 16,
    limit: int | None = None,
    dtype: str = "float32",
) -> list[ReferenceItem]:
    """Per-item predictions of lm-eval's HF backend on the given subjects.

    `model` is a checkpoint path or an HFLM from `make_hflm`.
    """
    from lm_eval import simple_evaluate

    if isinstance(model, str):
        model = make_hflm(model, batch_size, dtype)
    with tempfile.TemporaryDirectory() as tmp:
        configs = [mmlu_task_config(mmlu_dir, s, Path(tmp)) for s in subjects]
        output = simple_evaluate(
            model=model, tasks=configs, num_fewshot=shots, limit=limit, log_samples=True
        )
    if output is None:
        raise RuntimeError("lm-eval returned no results")
    return [
        _item(subject, sample)
        for subject in subjects
        for sample in output["samples"][f"mmlu_{subject}"]
    ]


def _item(subject: str, sample: dict[str, Any]) -> ReferenceItem:
    scores = [float(resp[0]) for resp in sample["filtered_resps"]]
    best = max(range(len(scores)), key=lambda i: scores[i])
    return ReferenceItem(
        subject=subject,
        doc_id=int(sample["doc_id"]),
        prediction="ABCD"[best],
        target="ABCD"[int(sample["target"])],
        scores=scores,
    )
