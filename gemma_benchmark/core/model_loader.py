"""Loading models, and the wrapper every task talks to.

`ModelWrapper` is the one object a task sees: `loglikelihood` and `generate`/`generate_batch`.
It owns no decoding or scoring logic itself; that lives in `gemma_benchmark.backends`. torch and
transformers are imported inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from gemma_benchmark.core.model_registry import resolve_model
from gemma_benchmark.exceptions import ModelLoadingError

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 16
DEFAULT_MAX_LENGTH = 2048


class ModelWrapper:
    """A loaded model and tokenizer behind the task-facing interface."""

    def __init__(
        self,
        model_name: str,
        model: Any = None,
        tokenizer: Any = None,
        *,
        add_bos: bool | None = None,
        batch_size: int | str = DEFAULT_BATCH_SIZE,
        instruction_tuned: bool = False,
        prefix_cache: bool = True,
    ) -> None:
        self.model_name = model_name
        self.model = model
        self.tokenizer = tokenizer
        self._batch_setting: int | str = batch_size
        self._sizer: Any = None
        self.instruction_tuned = instruction_tuned
        self.prefix_cache = prefix_cache
        self.engine_stats: Any = None  # EngineStats of all loglikelihood calls so far
        if add_bos is None and model is not None:
            add_bos = True if "gemma" in str(model.config.model_type) else None
        self.add_bos = add_bos

    def _require_loaded(self) -> None:
        if self.model is None or self.tokenizer is None:
            raise ValueError(f"model {self.model_name!r} has no model or tokenizer loaded")

    @property
    def device(self) -> Any:
        self._require_loaded()
        return next(self.model.parameters()).device

    @property
    def max_length(self) -> int:
        """The context length, resolved as lm-eval does (config, then tokenizer, then 2048)."""
        self._require_loaded()
        config = getattr(self.model.config, "text_config", None) or self.model.config
        for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
            value = getattr(config, attr, None)
            if value is not None:
                return int(value)
        limit = getattr(self.tokenizer, "model_max_length", None)
        if limit is not None and limit < 10**12:
            return int(limit)
        return DEFAULT_MAX_LENGTH

    def encoder(self) -> Any:
        from gemma_benchmark.backends.tokenization import make_encoder

        return make_encoder(self.tokenizer, self.add_bos)

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """Sum of log-probabilities of each continuation given its context, in request order."""
        self._require_loaded()
        from gemma_benchmark.backends.hf_loglikelihood import (
            EngineStats,
            LoglikelihoodSettings,
            loglikelihood,
        )
        from gemma_benchmark.backends.tokenization import prefix_token_id

        settings = LoglikelihoodSettings(
            batch_size=self.batch_sizer(),
            max_length=self.max_length,
            device=self.device,
            empty_context_token=prefix_token_id(self.tokenizer),
            pad_token_id=self._pad_token_id(),
            prefix_cache=self.prefix_cache,
        )
        if self.engine_stats is None:
            self.engine_stats = EngineStats()
        return loglikelihood(self.model, self.encoder(), requests, settings, self.engine_stats)

    def batch_sizer(self) -> Any:
        """Batch size per sequence length (`auto` probes on CUDA; see backends.hf_batching)."""
        from gemma_benchmark.backends.hf_batching import BatchSizer

        if self._sizer is None or self._sizer.setting != self._batch_setting:
            self._sizer = BatchSizer(self._batch_setting, self.model, self.device)
        return self._sizer

    @property
    def batch_size(self) -> int:
        """The batch size for the longest inputs (generation batches use it)."""
        self._require_loaded()
        return int(self.batch_sizer().for_length(self.max_length))

    @batch_size.setter
    def batch_size(self, value: int | str) -> None:
        self._batch_setting = value

    def _pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.tokenizer.eos_token_id)

    def generate_batch(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 256,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[str]:
        """Completions of each prompt, in prompt order; greedy when temperature is 0.

        Each is cut at its first stop string (the tokenizer's EOS always stops). Greedy outputs
        do not depend on `batch_size`; sampled ones repeat for the same seed and batch size.
        """
        self._require_loaded()
        from gemma_benchmark.backends.hf_generate import GenerationRequest, generate_batch

        request = GenerationRequest(
            max_new_tokens=max_new_tokens,
            stop=tuple(stop),
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        return generate_batch(self, list(prompts), request)

    def generate(self, prompt: str, max_new_tokens: int = 100, **kwargs: Any) -> str:
        """One completion (spec API). kwargs: stop, temperature, top_p, seed."""
        self._require_loaded()
        return self.generate_batch([prompt], max_new_tokens=max_new_tokens, **kwargs)[0]

    def apply_chat_template(self, user_message: str) -> str:
        """The prompt text for one user turn, through the tokenizer's chat template."""
        self._require_loaded()
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user_message}], tokenize=False, add_generation_prompt=True
        )
        return str(text)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def resolve_dtype(precision: str, device: str) -> Any:
    """torch dtype for a `hardware.precision`; `auto` is bf16 on CUDA and float32 elsewhere."""
    import torch

    if precision == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
        precision
    ]


def resolve_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class HuggingFaceLoader:
    """Loads any causal LM by hub id or local path through `from_pretrained`."""

    def load_model(
        self,
        path: str,
        *,
        name: str | None = None,
        cache_dir: str | None = None,
        quantization: bool = False,
        precision: str = "auto",
        device: str = "auto",
        device_map: str | dict[str, Any] | None = None,
        max_memory: dict[Any, str] | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        instruction_tuned: bool = False,
        batch_size: int | str = DEFAULT_BATCH_SIZE,
        prefix_cache: bool = True,
    ) -> ModelWrapper:
        """Raises ModelLoadingError naming the id or path when it cannot be loaded."""
        from gemma_benchmark.backends.hf_load import load_pretrained

        target_device = resolve_device(device)
        model, tokenizer = load_pretrained(
            path,
            dtype=resolve_dtype(precision, target_device),
            device=target_device,
            quantize_4bit=quantization,
            cache_dir=cache_dir,
            device_map=device_map,
            max_memory=max_memory,
            trust_remote_code=trust_remote_code,
            revision=revision,
        )
        return ModelWrapper(
            name or path,
            model,
            tokenizer,
            batch_size=batch_size,
            instruction_tuned=instruction_tuned,
            prefix_cache=prefix_cache,
        )


class GemmaLoader(HuggingFaceLoader):
    """Gemma 1, 1.1, 2 and 3 by size and variant (`it` or `pt`)."""

    family = "gemma"

    def load_model(  # type: ignore[override]
        self,
        size: str = "2b",
        variant: str = "it",
        cache_dir: str | None = None,
        quantization: bool = True,
        *,
        version: str | None = None,
        **kwargs: Any,
    ) -> ModelWrapper:
        """Raises ValueError for an unsupported size/variant/version, ModelLoadingError else."""
        spec = resolve_model(self.family, size, variant, version)
        kwargs.setdefault("instruction_tuned", spec.instruction_tuned)
        return super().load_model(
            spec.hub_id, cache_dir=cache_dir, quantization=quantization, **kwargs
        )


class MistralLoader(GemmaLoader):
    """Mistral 7B v0.1/v0.2/v0.3, variants `instruct` and `base`."""

    family = "mistral"

    def load_model(  # type: ignore[override]
        self,
        size: str = "7b",
        variant: str = "instruct",
        cache_dir: str | None = None,
        quantization: bool = True,
        *,
        version: str | None = None,
        **kwargs: Any,
    ) -> ModelWrapper:
        return super().load_model(size, variant, cache_dir, quantization, version=version, **kwargs)


def hf_token_present() -> bool:
    """Whether a hub token is configured (never its value: secrets stay out of logs)."""
    return bool(os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"))


__all__ = [
    "GemmaLoader",
    "HuggingFaceLoader",
    "MistralLoader",
    "ModelLoadingError",
    "ModelWrapper",
]
