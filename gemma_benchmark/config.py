"""The YAML configuration, validated at the edge with pydantic.

Every problem surfaces as one `ConfigurationError` whose message starts with the key path
(`tasks.mmlu.shot_count: must be between 0 and 10, got 12`), so the CLI prints one line.
Task-specific options are validated by the task's own options model, looked up in the registry.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gemma_benchmark.core.model_registry import FAMILIES, resolve_model
from gemma_benchmark.exceptions import ConfigurationError
from gemma_benchmark.utils.names import fold_name


class StrictModel(BaseModel):
    """Config sections reject unknown keys, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


MODEL_TYPES = ("gemma", "mistral", "huggingface", "openai_compatible")


class ModelConfig(StrictModel):
    type: str = "huggingface"
    path: str | None = None
    size: str | None = None
    variant: str | None = None
    version: str | None = None
    revision: str | None = None
    cache_dir: str | None = None
    quantization: bool | None = None
    device_map: str | dict[str, Any] | None = None
    max_memory: dict[int | str, str] | None = None
    trust_remote_code: bool = False
    precision: Literal["auto", "float32", "bfloat16", "float16"] | None = None
    chat_template: bool | None = None
    # type `openai_compatible`: a model served over HTTP (vLLM, SGLang, TGI, llama.cpp).
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    max_concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0)

    @field_validator("api_key_env")
    @classmethod
    def _env_var_name(cls, value: str | None) -> str | None:
        # The value itself is never echoed: a pasted key must not reach a log.
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must be the NAME of an environment variable holding the key")
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = fold_name(value)  # `Gemma`, `openai-compatible`
        if value not in MODEL_TYPES:
            raise ValueError(f"unknown model type {value!r}{_did_you_mean(value, MODEL_TYPES)}")
        return value

    @field_validator("size", "version", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # `version: 2` in YAML is an int; sizes and versions are names.
        return str(value) if isinstance(value, int | float) else value

    def hub_id(self) -> str:
        """The id or local path that `from_pretrained` receives."""
        if self.path:
            return self.path
        spec = resolve_model(self.type, self.size or "", self.variant or "", self.version)
        return spec.hub_id

    def is_instruction_tuned(self) -> bool:
        if self.variant is not None:
            return self.variant in ("it", "instruct")
        return bool(self.path and any(t in self.path.lower() for t in ("-it", "instruct")))


class EvaluationConfig(StrictModel):
    runs: int = Field(default=1, ge=1, le=100)
    batch_size: int | Literal["auto"] = "auto"
    statistical_tests: bool = False
    confidence_level: float = Field(default=0.95, gt=0.0, lt=1.0)
    force_repeats: bool = False
    seed: int = 1234
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    num_cpus: float = Field(default=1.0, ge=0)
    num_gpus: float | None = Field(default=None, ge=0)
    data_parallel: int = Field(default=1, ge=1)

    @field_validator("batch_size")
    @classmethod
    def _positive_batch(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"must be a positive integer or 'auto', got {value}")
        return value


ExportFormat = Literal["json", "yaml", "csv"]


def _default_formats() -> list[ExportFormat]:
    return ["json"]


class OutputConfig(StrictModel):
    path: str = "results"
    save_predictions: bool = False
    visualize: bool = False
    export_formats: list[ExportFormat] = Field(default_factory=_default_formats)
    database_url: str | None = None


class HardwareConfig(StrictModel):
    device: str = "auto"
    precision: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    quantization: bool = False
    mixed_precision: bool = False
    torch_compile: bool = False
    prefix_cache: bool = True

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        head = value.split(":", 1)[0]
        if head not in ("auto", "cpu", "cuda", "mps"):
            raise ValueError(f"must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
        return value


class TaskEntry(BaseModel):
    """A task's `type`; the rest is validated by that task's own options model."""

    model_config = ConfigDict(extra="allow")
    type: str

    @field_validator("type")
    @classmethod
    def _canonical_type(cls, value: str) -> str:
        """`MMLU`, `GSM8K`, `arc-challenge` name registered tasks; other values are kept."""
        from gemma_benchmark.tasks.registry import canonical_task_type

        return canonical_task_type(value)


class BenchmarkConfig(StrictModel):
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    tasks: dict[str, TaskEntry] = Field(default_factory=dict)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)
    data_dir: str | None = None

    def task_options(self, name: str) -> dict[str, Any]:
        """The task's options as given, with the global data_dir filled in when absent."""
        options = dict(self.tasks[name].model_extra or {})
        if self.data_dir is not None:
            options.setdefault("data_dir", self.data_dir)
        return options


# ---------------------------------------------------------------------------------------------
# Loading and error reporting


def load_config(path: str | Path) -> BenchmarkConfig:
    """Read and validate a YAML config.

    Raises FileNotFoundError (missing file), yaml.YAMLError (not YAML), ConfigurationError
    (anything else, message starting with the key path).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        with path.open(encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)  # reads the handle, so YAML errors name the file
    except UnicodeDecodeError as err:
        raise ConfigurationError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise ConfigurationError(f"{path}: cannot read: {err.strerror or err}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: Any, source: str = "config") -> BenchmarkConfig:
    """Validate an already-parsed config mapping (see `load_config`)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{source}: the top level must be a mapping of sections")
    raw = _fill_task_types(raw)
    try:
        config = BenchmarkConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigurationError(_first_error(err, BenchmarkConfig)) from None
    for name, model in config.models.items():
        _check_model(name, model)
    if config.evaluation.data_parallel > 1 and config.evaluation.executor != "ray":
        raise ConfigurationError("evaluation.data_parallel: needs `executor: ray`")
    for name in config.tasks:
        validate_task_options(name, config.tasks[name].type, config.task_options(name))
    return config


def _fill_task_types(raw: dict[str, Any]) -> dict[str, Any]:
    """`tasks: {mmlu: {...}}` may omit `type:`; it then defaults to the task's key."""
    tasks = raw.get("tasks")
    if not isinstance(tasks, dict):
        return raw
    filled: dict[str, Any] = {}
    for name, entry in tasks.items():
        if entry is None:
            entry = {}
        if isinstance(entry, dict) and "type" not in entry:
            entry = {"type": str(name), **entry}
        filled[name] = entry
    return {**raw, "tasks": filled}


def _check_model(name: str, model: ModelConfig) -> None:
    where = f"models.{name}"
    if model.type == "openai_compatible":
        _check_server_model(where, model)
        return
    if model.base_url or model.model or model.api_key_env:
        raise ConfigurationError(f"{where}: base_url, model, api_key_env need openai_compatible")
    if model.path:
        return
    if model.type == "huggingface":
        raise ConfigurationError(f"{where}.path: required for type 'huggingface' (hub id or dir)")
    if model.size is None:
        raise ConfigurationError(f"{where}.size: required for type {model.type!r} without path")
    if model.variant is None:
        default = "it" if model.type == "gemma" else "instruct"
        model.variant = default
    try:
        resolve_model(model.type, model.size, model.variant, model.version)
    except ValueError as err:
        field = _model_field_in(str(err))
        raise ConfigurationError(f"{where}.{field}: {err}") from None


def _check_server_model(where: str, model: ModelConfig) -> None:
    for field in ("base_url", "model"):
        if not getattr(model, field):
            raise ConfigurationError(f"{where}.{field}: required for type 'openai_compatible'")
    if model.path or model.size:
        raise ConfigurationError(f"{where}: path and size do not apply to 'openai_compatible'")


def _model_field_in(message: str) -> str:
    for field in ("variant", "version", "size"):
        if field in message:
            return field
    return "type"


def validate_task_options(name: str, task_type: str, options: dict[str, Any]) -> BaseModel | None:
    """Validate one task's options with its registered options model.

    Returns the validated model, or None for a user task (dotted path) without one.
    """
    from gemma_benchmark.tasks.registry import resolve_task_class

    try:
        task_class = resolve_task_class(task_type)
    except (ValueError, ImportError, AttributeError) as err:
        raise ConfigurationError(f"tasks.{name}.type: {err}") from None
    options_model = getattr(task_class, "Options", None)
    if options_model is None:
        return None
    try:
        validated: BaseModel = options_model.model_validate(options)
    except ValidationError as err:
        raise ConfigurationError(_first_error(err, options_model, f"tasks.{name}")) from None
    return validated


def _first_error(err: ValidationError, root: type[BaseModel], prefix: str = "") -> str:
    """One line for the first pydantic error: key path, then a plain-words reason."""
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    path = ".".join([prefix, *loc] if prefix else loc) or "config"
    return f"{path}: {_reason(first, root, loc)}"


_TYPE_WORDS = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _reason(error: Any, root: type[BaseModel], loc: list[str]) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        return f"unknown key{_did_you_mean(loc[-1], _sibling_fields(root, loc))}"
    if kind == "missing":
        return "required key is missing"
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {value!r}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}, got {value!r}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{error['msg'].replace('Input should be', 'must be')}, got {value!r}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _sibling_fields(root: type[BaseModel], loc: list[str]) -> list[str]:
    """Field names next to the unknown key, for the did-you-mean hint."""
    model: Any = root
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            continue  # a dict key such as a model's name
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        model = next((a for a in (annotation, *args) if _is_model(a)), model)
    return list(getattr(model, "model_fields", {}))


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _did_you_mean(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def known_model_types() -> list[str]:
    return [*FAMILIES, "huggingface", "openai_compatible"]
