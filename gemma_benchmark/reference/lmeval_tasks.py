"""Run lm-evaluation-harness's own `arc_challenge`, `arc_easy`, `hellaswag`, `truthfulqa_mc1` and
`truthfulqa_mc2` tasks offline on local data.

lm-eval reads these from the hub. Offline, this writes the local files in the hub's row shape
(`allenai/ai2_arc`, `Rowan/hellaswag`, `truthfulqa/truthful_qa`) to JSON lines and points the
task configs, loaded from lm-eval's installed YAML (with its `!function` hooks resolved), at them.
Prompt templates, preprocessing, choices, targets and metrics stay lm-eval's own.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from gemma_benchmark.data.readers import iter_jsonl
from gemma_benchmark.reference.lmeval_runner import make_hflm

ARC_SPLITS = {"train": "Train", "validation": "Dev", "test": "Test"}
TASK_YAML = {
    "arc_challenge": "arc/arc_challenge.yaml",
    "arc_easy": "arc/arc_easy.yaml",
    "hellaswag": "hellaswag/hellaswag.yaml",
    "truthfulqa_mc1": "truthfulqa/truthfulqa_mc1.yaml",
    "truthfulqa_mc2": "truthfulqa/truthfulqa_mc2.yaml",
}
ARC_SUBSETS = {"arc_challenge": "ARC-Challenge", "arc_easy": "ARC-Easy"}


@dataclass(frozen=True)
class ReferenceChoiceItem:
    """One item as lm-eval scored it: its prompt, per-choice log-likelihoods and metrics."""

    doc_id: int
    context: str
    continuations: list[str]
    scores: list[float]
    target: int
    metrics: dict[str, float]


def lmeval_task_config(task: str) -> dict[str, Any]:
    """lm-eval's installed config for `task`, includes merged and `!function`s resolved."""
    import lm_eval
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(Path(lm_eval.__file__).parent / "tasks" / TASK_YAML[task])
    config.pop("tag", None)
    return config


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> str:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return str(path)


def _point_at(config: dict[str, Any], data_files: dict[str, str]) -> dict[str, Any]:
    config["dataset_path"] = "json"
    config["dataset_name"] = None
    config["dataset_kwargs"] = {"data_files": data_files}
    for split in ("training_split", "validation_split", "test_split"):
        if config.get(split) not in data_files:
            config[split] = None
    return config


def arc_hub_row(record: dict[str, Any]) -> dict[str, Any]:
    """AI2 JSONL record -> `allenai/ai2_arc` row."""
    choices = record["question"]["choices"]
    return {
        "id": record["id"],
        "question": record["question"]["stem"],
        "choices": {"text": [c["text"] for c in choices], "label": [c["label"] for c in choices]},
        "answerKey": record["answerKey"],
    }


def arc_config(task: str, arc_dir: Path, out: Path, limit: int | None) -> dict[str, Any]:
    subset = ARC_SUBSETS[task]
    files = {}
    for split, name in ARC_SPLITS.items():
        rows = islice(iter_jsonl(Path(arc_dir) / subset / f"{subset}-{name}.jsonl"), limit)
        files[split] = _write_jsonl(out / f"{task}_{split}.jsonl", map(arc_hub_row, rows))
    return _point_at(lmeval_task_config(task), files)


def hellaswag_hub_row(record: dict[str, Any]) -> dict[str, Any]:
    """`Rowan/hellaswag` stores the label as a string."""
    return {**record, "label": str(record["label"])}


def hellaswag_config(hellaswag_dir: Path, out: Path, limit: int | None) -> dict[str, Any]:
    rows = islice(iter_jsonl(Path(hellaswag_dir) / "hellaswag_val.jsonl.gz"), limit)
    path = _write_jsonl(out / "hellaswag_validation.jsonl", map(hellaswag_hub_row, rows))
    return _point_at(lmeval_task_config("hellaswag"), {"validation": path})


def truthfulqa_hub_row(record: dict[str, Any]) -> dict[str, Any]:
    """mc_task.json record -> `truthfulqa/truthful_qa` `multiple_choice` row."""
    return {
        "question": record["question"],
        **{
            key: {"choices": list(record[key]), "labels": list(record[key].values())}
            for key in ("mc1_targets", "mc2_targets")
        },
    }


def truthfulqa_config(task: str, mc_file: Path, out: Path, limit: int | None) -> dict[str, Any]:
    records = json.loads(Path(mc_file).read_text(encoding="utf-8"))[:limit]
    path = _write_jsonl(out / f"{task}_validation.jsonl", map(truthfulqa_hub_row, records))
    return _point_at(lmeval_task_config(task), {"validation": path})


def local_task_config(task: str, data_dir: Path, out: Path, limit: int | None) -> dict[str, Any]:
    """lm-eval's `task` reading the local copy under `data_dir` (the shared data layout);
    TruthfulQA reads `v0/mc_task.json`, the hub's content."""
    data_dir = Path(data_dir)
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "hellaswag": lambda: hellaswag_config(data_dir / "hellaswag", out, limit),
        "truthfulqa_mc1": lambda: truthfulqa_config(
            task, data_dir / "truthfulqa" / "v0" / "mc_task.json", out, limit
        ),
        "arc": lambda: arc_config(task, data_dir / "arc", out, limit),
    }
    builders["truthfulqa_mc2"] = builders["truthfulqa_mc1"]
    return builders["arc" if task in ARC_SUBSETS else task]()


def run_lmeval_tasks(
    model: Any, data_dir: Path, tasks: list[str], limit: int | None = None
) -> dict[str, list[ReferenceChoiceItem]]:
    """Per-item results of lm-eval on the first `limit` items of each task, zero-shot.

    `model` is an HFLM (see `lmeval_runner.make_hflm`) or a checkpoint path.
    """
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    if isinstance(model, str):
        model = make_hflm(model)
    with tempfile.TemporaryDirectory() as tmp:
        configs = [local_task_config(task, data_dir, Path(tmp), limit) for task in tasks]
        output = simple_evaluate(
            model=model,
            tasks=configs,
            limit=limit,
            log_samples=True,
            bootstrap_iters=0,
            task_manager=TaskManager(include_defaults=False),  # skip indexing 10k YAMLs
        )
    if output is None:
        raise RuntimeError("lm-eval returned no results")
    return {task: [_item(s) for s in _by_doc(output["samples"][task])] for task in tasks}


def _by_doc(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(samples, key=lambda s: int(s["doc_id"]))


def _item(sample: dict[str, Any]) -> ReferenceChoiceItem:
    metrics: dict[str, float] = {k: float(sample[k]) for k in ("acc", "acc_norm") if k in sample}
    return ReferenceChoiceItem(
        doc_id=int(sample["doc_id"]),
        context=str(sample["arguments"][0][0]),
        continuations=[str(arg[1]) for arg in sample["arguments"]],
        scores=[float(resp[0]) for resp in sample["filtered_resps"]],
        target=int(sample["target"]),
        metrics=metrics,
    )
