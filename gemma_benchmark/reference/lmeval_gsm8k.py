"""Run lm-evaluation-harness's own `gsm8k` / `gsm8k_cot` tasks offline on local data.

lm-eval reads GSM8K from the hub (`openai/gsm8k`, config `main`). The local JSONL files have the
hub's fields (question, answer), so this only points lm-eval's installed YAML at them; the prompt,
few-shot sampler (seed 1234), stop strings, filters and metric are lm-eval's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TASK_FILES = {False: "gsm8k.yaml", True: "gsm8k-cot.yaml"}


@dataclass(frozen=True)
class ReferenceGeneration:
    """One test item as lm-eval ran and scored it."""

    doc_id: int
    prompt: str
    completion: str
    extracted_strict: str
    extracted_flexible: str
    target: str
    exact_match_strict: bool
    exact_match_flexible: bool


def lmeval_task_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks" / "gsm8k"


def gsm8k_task_config(
    gsm8k_dir: Path, chain_of_thought: bool = False, max_new_tokens: int | None = None
) -> dict[str, Any]:
    """lm-eval's task config, reading `gsm8k_dir/{train,test}.jsonl` instead of the hub."""
    config: dict[str, Any] = yaml.safe_load(
        (lmeval_task_dir() / TASK_FILES[chain_of_thought]).read_text()
    )
    config.pop("tag", None)
    config["dataset_path"] = "json"
    config["dataset_name"] = None
    config["dataset_kwargs"] = {
        "data_files": {
            split: str(Path(gsm8k_dir) / f"{split}.jsonl") for split in ("train", "test")
        }
    }
    if max_new_tokens is not None:
        config["generation_kwargs"] = {
            **config["generation_kwargs"],
            "max_gen_toks": max_new_tokens,
        }
    return config


def make_lmeval_model(
    model_path: str, batch_size: int = 16, dtype: str = "float32", device: str = "cpu"
) -> Any:
    """lm-eval's HF backend (`HFLM`) on a local checkpoint."""
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=model_path, dtype=dtype, batch_size=batch_size, device=device)


def run_lmeval_gsm8k(
    model: Any,
    gsm8k_dir: Path,
    shots: int | None = None,
    limit: int | None = None,
    chain_of_thought: bool = False,
    max_new_tokens: int | None = None,
    apply_chat_template: bool = False,
) -> list[ReferenceGeneration]:
    """Per-item completions and decisions of lm-eval on the first `limit` test items.

    `model` is an `HFLM` (see `make_lmeval_model`) or a model path. `shots=None` keeps the task's
    own default (5 for gsm8k, 8 for gsm8k_cot).
    """
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    if isinstance(model, str):
        model = make_lmeval_model(model)
    config = gsm8k_task_config(Path(gsm8k_dir), chain_of_thought, max_new_tokens)
    output = simple_evaluate(
        model=model,
        tasks=[config],
        num_fewshot=shots,
        limit=limit,
        log_samples=True,
        apply_chat_template=apply_chat_template,
        fewshot_as_multiturn=False,
        bootstrap_iters=0,
        task_manager=TaskManager(include_defaults=False),  # skip indexing lm-eval's 10k YAMLs
    )
    if output is None:
        raise RuntimeError("lm-eval returned no results")
    return _items(output["samples"][config["task"]])


def _items(samples: list[dict[str, Any]]) -> list[ReferenceGeneration]:
    by_doc: dict[int, dict[str, dict[str, Any]]] = {}
    for sample in samples:
        by_doc.setdefault(int(sample["doc_id"]), {})[sample["filter"]] = sample
    return [_item(doc_id, filters) for doc_id, filters in sorted(by_doc.items())]


def _item(doc_id: int, filters: dict[str, dict[str, Any]]) -> ReferenceGeneration:
    strict, flexible = filters["strict-match"], filters["flexible-extract"]
    return ReferenceGeneration(
        doc_id=doc_id,
        prompt=str(strict["arguments"][0][0]),
        completion=str(strict["resps"][0][0]),
        extracted_strict=str(strict["filtered_resps"][0]),
        extracted_flexible=str(flexible["filtered_resps"][0]),
        target=str(strict["target"]),
        exact_match_strict=bool(strict["exact_match"]),
        exact_match_flexible=bool(flexible["exact_match"]),
    )
