"""Checks a run's config against this machine before any model loads: `gemma-benchmark run`.

A missing model directory, a CUDA device on a machine without one, an output folder that cannot
be created or a results database that cannot be opened are user mistakes. Found after an hour of
evaluation they cost the hour; found inside a model's load they become a per-model failure
instead of a usage error. Each check raises ConfigurationError naming the key path. Paths the
Ray workers read (models, data) are only checked for the local executor, since the workers may
see other filesystems.
"""

from __future__ import annotations

from pathlib import Path

from gemma_benchmark.config import BenchmarkConfig
from gemma_benchmark.exceptions import ConfigurationError

_LOCAL_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


def check_run(config: BenchmarkConfig, models: list[str], tasks: list[str]) -> None:
    """Raises ConfigurationError for the first problem found."""
    if not models:
        raise ConfigurationError("models: no models to run (the section is empty)")
    if not tasks:
        raise ConfigurationError("tasks: no tasks to run (the section is empty)")
    check_output_dir(config.output.path)
    check_database(config.output.path, config.output.database_url)
    if config.evaluation.executor != "local":
        return
    check_device(config.hardware.device)
    for name in models:
        check_model_path(name, config.models[name].path)
    for name in tasks:
        data_dir = config.task_options(name).get("data_dir")
        if data_dir is not None and not Path(str(data_dir)).expanduser().is_dir():
            raise ConfigurationError(f"tasks.{name}.data_dir: no such directory: {data_dir}")


def check_output_dir(path: str) -> None:
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigurationError(
            f"output.path: cannot create {folder}: {err.strerror or err}"
        ) from None


def check_database(output_path: str, database_url: str | None) -> None:
    """Open (and so create or schema-check) the results database the run will write to."""
    from gemma_benchmark.storage import ResultStore, StorageError

    try:
        ResultStore.for_output_dir(output_path, database_url).close()
    except StorageError as err:
        raise ConfigurationError(f"output.database_url: {err}") from None


def check_device(device: str) -> None:
    """`cuda`, `cuda:N` and `mps` must exist here; `auto` and `cpu` always do."""
    import torch

    kind, _, index = device.partition(":")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        wanted = int(index) if index.isdigit() else 0
        if wanted >= count:
            found = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise ConfigurationError(
                f"hardware.device: {device!r} requested, but torch {torch.__version__} sees "
                f"{found}; use 'auto' or 'cpu'"
            )
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigurationError("hardware.device: 'mps' requested, but MPS is not available")


def check_model_path(name: str, path: str | None) -> None:
    """A path written as one must be a checkpoint folder; `org/name` may also be a hub id."""
    if path is None:
        return
    local = Path(path).expanduser()
    if not (path.startswith(_LOCAL_PREFIXES) or local.exists()):
        return  # a hub id: resolved (or reported) by from_pretrained
    if not local.exists():
        raise ConfigurationError(f"models.{name}.path: no such directory: {path}")
    if not local.is_dir():
        raise ConfigurationError(f"models.{name}.path: {path} is a file, not a checkpoint folder")
    if not (local / "config.json").is_file():
        raise ConfigurationError(f"models.{name}.path: {path} has no config.json")
