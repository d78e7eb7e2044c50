"""Data location order and the hub downloaders (the hub itself is replaced by local data in
hub shape: these machines reach no hub)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import datasets
import pytest

from gemma_benchmark.data import find_dataset, read_jsonl, read_mmlu_split
from gemma_benchmark.tasks.mmlu_subjects import SUBJECT_CATEGORIES
from gemma_benchmark.utils import data_downloader
from gemma_benchmark.utils.data_downloader import (
    download_gsm8k_data,
    download_humaneval_data,
    download_mmlu_data,
    with_retries,
)

SUBJECTS = ["anatomy", "virology"]


def hub_mmlu(data_dir: Path) -> datasets.DatasetDict:
    """What `load_dataset("cais/mmlu", "all")` returns, built from the local CSVs."""
    splits = {}
    for hub_split, split in (("dev", "dev"), ("validation", "val"), ("test", "test")):
        rows = [r for s in SUBJECTS for r in read_mmlu_split(data_dir / "mmlu", s, split)]
        splits[hub_split] = datasets.Dataset.from_dict(
            {
                "question": [r.question for r in rows],
                "subject": [r.subject for r in rows],
                "choices": [list(r.choices) for r in rows],
                "answer": ["ABCD".index(r.answer) for r in rows],
            }
        )
    return datasets.DatasetDict(splits)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def load_dataset(path: str, name: str | None = None) -> datasets.DatasetDict:
        calls.append((path, name))
        if path == "cais/mmlu":
            return hub_mmlu(data_dir)
        if path == "openai/gsm8k":
            return datasets.DatasetDict(
                {
                    s: datasets.Dataset.from_list(read_jsonl(data_dir / f"gsm8k/{s}.jsonl")[:30])
                    for s in ("train", "test")
                }
            )
        records = read_jsonl(data_dir / "humaneval/HumanEval.jsonl.gz")
        return datasets.DatasetDict({"test": datasets.Dataset.from_list(records)})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_mmlu_download_writes_the_original_layout(
    tmp_path: Path, data_dir: Path, fake_hub: list[tuple[Any, ...]]
) -> None:
    target = tmp_path / "mmlu"
    download_mmlu_data(str(target))
    assert fake_hub == [("cais/mmlu", "all")]
    for subject in SUBJECTS:
        for split in ("dev", "val", "test"):
            assert read_mmlu_split(target, subject, split) == read_mmlu_split(
                data_dir / "mmlu", subject, split
            )


def test_download_honours_force(tmp_path: Path, fake_hub: list[tuple[Any, ...]]) -> None:
    download_gsm8k_data(str(tmp_path / "gsm8k"))
    download_gsm8k_data(str(tmp_path / "gsm8k"))
    assert len(fake_hub) == 1
    download_gsm8k_data(str(tmp_path / "gsm8k"), force=True)
    assert len(fake_hub) == 2
    lines = (tmp_path / "gsm8k/test.jsonl").read_text().splitlines()
    assert set(json.loads(lines[0])) == {"question", "answer"}


def test_humaneval_download_is_gzipped_jsonl(
    tmp_path: Path, data_dir: Path, fake_hub: list[tuple[Any, ...]]
) -> None:
    download_humaneval_data(str(tmp_path / "humaneval"))
    with gzip.open(tmp_path / "humaneval/HumanEval.jsonl.gz", "rt") as handle:
        written = [json.loads(line) for line in handle]
    assert written == read_jsonl(data_dir / "humaneval/HumanEval.jsonl.gz")


def test_retries_back_off_exponentially(monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []
    monkeypatch.setattr(data_downloader.time, "sleep", delays.append)
    attempts = iter([ConnectionError("a"), ConnectionError("b"), "done"])

    def flaky() -> str:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert with_retries(flaky, attempts=4) == "done"
    assert delays == [1.0, 2.0]
    with pytest.raises(ConnectionError):
        with_retries(lambda: (_ for _ in ()).throw(ConnectionError("down")), attempts=3)


def test_lookup_order_config_then_env_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    for name in ("cfg", "env", "cwd/data"):
        (tmp_path / name / "gsm8k").mkdir(parents=True)
        (tmp_path / name / "gsm8k/test.jsonl").write_text("{}\n")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("GEMMA_BENCHMARK_DATA_DIR", str(tmp_path / "env"))
    assert find_dataset("gsm8k", str(tmp_path / "cfg")) == tmp_path / "cfg/gsm8k"
    assert find_dataset("gsm8k") == tmp_path / "env/gsm8k"
    monkeypatch.delenv("GEMMA_BENCHMARK_DATA_DIR")
    assert find_dataset("gsm8k") == Path("data/gsm8k")


def test_hub_fallback_downloads_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_hub: list[tuple[Any, ...]]
) -> None:
    monkeypatch.delenv("GEMMA_BENCHMARK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    found = find_dataset("mmlu")
    assert found == tmp_path / "cache/gemma_benchmark/data/mmlu"
    assert len(read_mmlu_split(found, "anatomy", "test")) == 135
    assert len(SUBJECT_CATEGORIES) == 57
