"""Where a dataset is read from.

Order: the config's `data_dir`, env `GEMMA_BENCHMARK_DATA_DIR`, `./data`, then a download from the
hub into the user cache (same layout). Each place holds `<dataset>/...` in the original layout.
"""

from __future__ import annotations

import os
from pathlib import Path

from gemma_benchmark.exceptions import DataNotFoundError

ENV_VAR = "GEMMA_BENCHMARK_DATA_DIR"

# A file or folder whose presence proves the dataset is there, relative to the data root.
DATASET_MARKERS: dict[str, str] = {
    "mmlu": "mmlu/test",
    "gsm8k": "gsm8k/test.jsonl",
    "humaneval": "humaneval/HumanEval.jsonl.gz",
    "arc": "arc/ARC-Challenge",
    "hellaswag": "hellaswag/hellaswag_val.jsonl.gz",
    "truthfulqa": "truthfulqa/v0/mc_task.json",  # the version lm-eval's hub dataset holds
}


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gemma_benchmark" / "data"


def candidate_roots(data_dir: str | None = None) -> list[Path]:
    """The local places searched, in order."""
    roots = []
    if data_dir:
        roots.append(Path(data_dir).expanduser())
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]).expanduser())
    roots.append(Path("data"))
    roots.append(cache_root())
    return roots


def find_dataset(name: str, data_dir: str | None = None, download: bool = True) -> Path:
    """The folder `<root>/<name>` of the first root holding the dataset.

    When no root has it and `download` is true, the hub copy is written into the cache. Raises
    DataNotFoundError naming every place looked in (and the hub error, if one was tried).
    """
    marker = DATASET_MARKERS[name]
    roots = candidate_roots(data_dir)
    for root in roots:
        if (root / marker).exists():
            return root / name
    hub_error = ""
    if download:
        from gemma_benchmark.utils.data_downloader import download_dataset

        try:
            download_dataset(name, cache_root() / name)
            return cache_root() / name
        except Exception as err:  # any hub failure becomes the one-line message below
            hub_error = f"; hub download failed: {str(err).splitlines()[0] if str(err) else err!r}"
    looked = ", ".join(str(root / marker) for root in roots)
    raise DataNotFoundError(
        f"{name} data not found; looked in: {looked}{hub_error}. "
        f"Set data_dir in the config or {ENV_VAR}, or run `gemma-benchmark download-data --{name}`."
    )
