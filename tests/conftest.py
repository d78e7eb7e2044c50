"""Shared fixtures: the real benchmark data beside the checkout, and tiny real models.

Tiny models are built once per test session (tokenizer trained on the local data, random
weights of the real architecture) and loaded through `from_pretrained`, never mocked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _data_dir() -> Path:
    configured = os.environ.get("GEMMA_BENCHMARK_DATA_DIR")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _data_dir()
    if not (path / "mmlu" / "test").is_dir():
        pytest.fail(f"benchmark data not found at {path}; set GEMMA_BENCHMARK_DATA_DIR")
    return path


def _tiny(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, arch: str) -> Path:
    from gemma_benchmark.tiny_model import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp(f"tiny-{arch}"), arch, 0, data_dir=str(data_dir)
    )


@pytest.fixture(scope="session")
def tiny_gemma_path(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return _tiny(tmp_path_factory, data_dir, "gemma")


@pytest.fixture(scope="session")
def tiny_gemma2_path(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return _tiny(tmp_path_factory, data_dir, "gemma2")


@pytest.fixture(scope="session")
def tiny_gemma3_path(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return _tiny(tmp_path_factory, data_dir, "gemma3")


@pytest.fixture(scope="session")
def tiny_gemma(tiny_gemma_path: Path):  # type: ignore[no-untyped-def]
    """A loaded tiny Gemma (float32, CPU)."""
    from gemma_benchmark.core.model_loader import HuggingFaceLoader

    return HuggingFaceLoader().load_model(str(tiny_gemma_path), name="tiny-gemma")


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """A tiny model runs faster on one thread: two threads spin-wait on each other per op."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
