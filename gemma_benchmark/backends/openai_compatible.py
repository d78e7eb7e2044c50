"""A model behind an OpenAI-compatible HTTP server (vLLM, SGLang, TGI, llama.cpp).

The backend only translates requests; the official `openai` client does the HTTP, and with
`max_retries` it retries connection errors, timeouts, 408/409/429 and 5xx with exponential
backoff (0.5 s doubling, at most 8 s, less up to 25 % jitter), honouring `Retry-After`. Requests
run concurrently up to `max_concurrency` threads, so the server's own batching does the rest.

- Generation: `/v1/completions`, or `/v1/chat/completions` for a prompt made by
  `apply_chat_template` (a `ChatPrompt`: the server applies the model's template).
- Log-likelihood: `/v1/completions` with `echo=true, logprobs=1, max_tokens=1`, read as
  `openai_echo` explains. Loading probes this once, so a server that cannot do it fails at load
  with ModelLoadingError rather than part way through a run.

A failed request (after the client's retries) raises BenchmarkExecutionError naming the server:
the task is marked failed; an error never becomes a wrong answer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from gemma_benchmark.backends.openai_echo import (
    EchoedTokens,
    EchoFormatError,
    continuation_logprob,
)
from gemma_benchmark.core.model_loader import ModelWrapper
from gemma_benchmark.exceptions import BenchmarkExecutionError, ModelLoadingError

if TYPE_CHECKING:
    from gemma_benchmark.config import ModelConfig

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'gemma-benchmark[serve]' (or: pip install openai)"
NO_KEY = "EMPTY"  # what vLLM's docs send when the server was started without --api-key
PROBE_CONTEXT = "Question: What is two plus two?\nAnswer:"
PROBE_CONTINUATION = " four"
ECHO_NOTE = (
    "; log-likelihood needs /v1/completions with echo=true, logprobs=1 returning the prompt's "
    "token logprobs, as vLLM does"
)

T = TypeVar("T")
R = TypeVar("R")


class ChatPrompt(str):
    """One user turn, sent to `/v1/chat/completions` so the server applies its chat template.

    A `str`, so tasks store and print it like any prompt."""


@dataclass(frozen=True)
class ServerSettings:
    """Where the server is and how hard to push it. The key never appears in a repr."""

    base_url: str
    model: str
    api_key: str = field(default=NO_KEY, repr=False)
    max_concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 4


def import_openai() -> Any:
    """The `openai` module, or ModelLoadingError with the install hint."""
    try:
        import openai
    except ImportError:
        raise ModelLoadingError(
            f"the openai_compatible backend needs the openai client: {INSTALL_HINT}"
        ) from None
    return openai


def api_key_from_env(name: str, variable: str | None) -> str:
    """The key held by the named environment variable (never the name of the key itself).

    Raises ModelLoadingError naming the variable, not its value, when it is unset or empty."""
    if variable is None:
        return NO_KEY
    value = os.environ.get(variable)
    if not value:
        raise ModelLoadingError(
            f"models.{name}.api_key_env: environment variable {variable} is not set"
        )
    return value


def is_instruction_tuned(entry: ModelConfig) -> bool:
    """`chat_template` when given, else guessed from the served model's name."""
    if entry.chat_template is not None:
        return entry.chat_template
    served = (entry.model or "").lower()
    return any(tag in served for tag in ("-it", "instruct", "chat"))


def load_openai_compatible(name: str, entry: ModelConfig) -> OpenAICompatibleModel:
    """The model of a config entry of type `openai_compatible`, probed once.

    Raises ModelLoadingError: no openai client, unset key variable, unreachable server, or a
    server that cannot return prompt log-probabilities."""
    if not entry.base_url or not entry.model:
        raise ModelLoadingError(f"models.{name}: base_url and model are required")
    settings = ServerSettings(
        base_url=entry.base_url,
        model=entry.model,
        api_key=api_key_from_env(name, entry.api_key_env),
        max_concurrency=entry.max_concurrency,
        timeout_s=entry.timeout_s,
        max_retries=entry.max_retries,
    )
    model = OpenAICompatibleModel(name, settings, instruction_tuned=is_instruction_tuned(entry))
    model.probe()
    return model


def bounded_map(fn: Callable[[T], R], items: Sequence[T], limit: int) -> list[R]:
    """`[fn(x) for x in items]` on up to `limit` threads, in order; the first error cancels
    what has not started and is raised."""
    if len(items) <= 1 or limit <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


class OpenAICompatibleModel(ModelWrapper):
    """The task-facing model interface over HTTP. It holds no weights and no tokenizer."""

    def __init__(
        self,
        model_name: str,
        settings: ServerSettings,
        *,
        instruction_tuned: bool = False,
        client: Any = None,
    ) -> None:
        super().__init__(model_name, instruction_tuned=instruction_tuned)
        self.settings = settings
        self.openai = import_openai()
        self.client = client or self.openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    def _require_loaded(self) -> None:
        raise BenchmarkExecutionError(
            f"{self.model_name} is served at {self.settings.base_url}: it has no local weights "
            "or tokenizer, which this task needs"
        )

    # -- the task-facing interface ----------------------------------------------------------

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """Sum of log-probabilities of each continuation given its context, in request order."""
        return self.map(lambda request: self._score(*request), list(requests))

    def generate_batch(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 256,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[str]:
        """Completions of each prompt, in prompt order; greedy when temperature is 0."""
        options: dict[str, Any] = {
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "stop": [s for s in stop if s] or None,
        }
        if seed is not None:
            options["seed"] = seed
        return self.map(lambda prompt: self._complete(prompt, options), list(prompts))

    def generate(self, prompt: str, max_new_tokens: int = 100, **kwargs: Any) -> str:
        return self.generate_batch([prompt], max_new_tokens=max_new_tokens, **kwargs)[0]

    def apply_chat_template(self, user_message: str) -> str:
        return ChatPrompt(user_message)

    @property
    def has_chat_template(self) -> bool:
        """Assumed: a server without a template answers the chat endpoint with an error."""
        return True

    def stream_latency(self, prompts: Sequence[str], max_new_tokens: int) -> dict[str, Any]:
        """TTFT, TPOT, ITL and end-to-end latency of streamed completions, as vLLM's
        `benchmark_serving` defines them (see `openai_latency`)."""
        from gemma_benchmark.backends.openai_latency import benchmark_streaming

        return benchmark_streaming(self, list(prompts), max_new_tokens)

    def close(self) -> None:
        self.client.close()

    # -- requests ---------------------------------------------------------------------------

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return bounded_map(fn, items, self.settings.max_concurrency)

    def _score(self, context: str, continuation: str) -> float:
        response = self.call(
            "log-likelihood",
            self.client.completions.create,
            prompt=context + continuation,
            echo=True,
            logprobs=1,
            max_tokens=1,
            temperature=0.0,
        )
        try:
            echo = EchoedTokens.from_choice(response.choices[0])
            return continuation_logprob(echo, context, continuation)
        except (EchoFormatError, IndexError) as err:
            raise BenchmarkExecutionError(f"{self._where()}: log-likelihood: {err}") from None

    def _complete(self, prompt: str, options: dict[str, Any]) -> str:
        if isinstance(prompt, ChatPrompt):
            message = {"role": "user", "content": str(prompt)}
            chat = self.call(
                "chat", self.client.chat.completions.create, messages=[message], **options
            )
            return str(chat.choices[0].message.content or "")
        response = self.call("completion", self.client.completions.create, prompt=prompt, **options)
        return str(response.choices[0].text)

    def call(self, what: str, create: Callable[..., Any], **kwargs: Any) -> Any:
        """One request (the client retries it); a final failure becomes one clear error."""
        try:
            return create(model=self.settings.model, **kwargs)
        except self.openai.APIError as err:
            raise self.request_error(what, err) from None

    def request_error(self, what: str, err: Exception) -> BenchmarkExecutionError:
        return BenchmarkExecutionError(f"{self._where()}: {what}: {self.describe(err)}")

    def describe(self, err: Exception) -> str:
        settings = self.settings
        retries = f"after {settings.max_retries} retries"
        if isinstance(err, self.openai.APITimeoutError):
            return f"timed out after {settings.timeout_s:g} s ({retries})"
        if isinstance(err, self.openai.APIConnectionError):
            return f"cannot connect ({retries}): {err}"
        status = getattr(err, "status_code", None)
        first_line = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
        return f"HTTP {status} ({retries} where retryable): {first_line}"

    def _where(self) -> str:
        return f"{self.model_name} at {self.settings.base_url}"

    def probe(self) -> None:
        """One echo request, so an unusable server fails at load, not mid-run.

        Raises ModelLoadingError: unreachable, refused (key, model name, URL), or unable to
        return prompt log-probabilities."""
        try:
            response = self.client.completions.create(
                model=self.settings.model,
                prompt=PROBE_CONTEXT + PROBE_CONTINUATION,
                echo=True,
                logprobs=1,
                max_tokens=1,
                temperature=0.0,
            )
            echo = EchoedTokens.from_choice(response.choices[0])
            continuation_logprob(echo, PROBE_CONTEXT, PROBE_CONTINUATION)
        except self.openai.APIError as err:
            unsupported = getattr(err, "status_code", None) in (400, 422)
            note = ECHO_NOTE if unsupported else ""
            raise ModelLoadingError(f"{self._where()}: {self.describe(err)}{note}") from None
        except (EchoFormatError, IndexError) as err:
            raise ModelLoadingError(f"{self._where()}: {err}{ECHO_NOTE}") from None
