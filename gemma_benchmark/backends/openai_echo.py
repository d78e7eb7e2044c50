"""Reading a continuation's log-likelihood out of an echoed `/v1/completions` response.

The request is the legacy completions call lm-evaluation-harness makes of vLLM: the prompt is
`context + continuation`, `echo=true, logprobs=1, max_tokens=1`, and the server returns every
prompt token with its log-probability (`token_logprobs`, `None` for the first), its text
(`tokens`) and its character offset in the echoed text (`text_offset`). We have no tokenizer on
our side, so the continuation's tokens are found by those offsets:

- trailing whitespace of the context moves to the continuation, as lm-eval does;
- a token belongs to the continuation when it ends after the boundary and starts before the end
  of the prompt, so a token straddling the boundary counts as continuation (lm-eval's
  `enc(context + continuation)[len(enc(context)):]` differs only when the boundary is inside a
  merged token) and the generated token (offset at the end of the prompt) never does.

Pure functions over plain data, so they are tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class EchoFormatError(ValueError):
    """The response lacks what log-likelihood scoring needs; the message says what."""


@dataclass(frozen=True)
class EchoedTokens:
    """The per-token fields of one echoed choice; lists of equal length."""

    text: str
    offsets: list[int]
    tokens: list[str]
    logprobs: list[float | None]

    @classmethod
    def from_choice(cls, choice: Any) -> EchoedTokens:
        """From an openai `CompletionChoice` (or anything with the same attributes)."""
        logprobs = getattr(choice, "logprobs", None)
        fields = ("text_offset", "tokens", "token_logprobs")
        if logprobs is None or any(getattr(logprobs, f, None) is None for f in fields):
            raise EchoFormatError("the response has no logprobs with text_offset/tokens")
        offsets = [int(o) for o in logprobs.text_offset]
        tokens = [str(t) for t in logprobs.tokens]
        values = [None if v is None else float(v) for v in logprobs.token_logprobs]
        if not len(offsets) == len(tokens) == len(values):
            raise EchoFormatError("text_offset, tokens and token_logprobs differ in length")
        return cls(str(getattr(choice, "text", "")), offsets, tokens, values)


def continuation_logprob(echo: EchoedTokens, context: str, continuation: str) -> float:
    """Sum of the continuation tokens' log-probabilities.

    Raises EchoFormatError when the echoed text is not the prompt (the server did not echo it
    verbatim) or a continuation token has no log-probability (an empty context on a server that
    adds no BOS token).
    """
    prompt = context + continuation
    if not echo.text.startswith(prompt):
        raise EchoFormatError("the echoed text does not start with the prompt sent")
    start, end = len(context.rstrip()), len(prompt)
    ends = effective_ends(echo)
    total = 0.0
    for index in range(leading_specials(echo), len(echo.offsets)):
        if ends[index] <= start or echo.offsets[index] >= end:
            continue
        value = echo.logprobs[index]
        if value is None:
            raise EchoFormatError(
                f"no logprob for prompt token {index} ({echo.tokens[index]!r}); "
                "an empty context needs a server that adds a BOS token"
            )
        total += value
    return total


def leading_specials(echo: EchoedTokens) -> int:
    """How many tokens precede the first one with text: BOS and other specials, which decode
    to nothing and stand for no character of the prompt."""
    for index, token in enumerate(echo.tokens):
        if token:
            return index
    return len(echo.tokens)


def effective_ends(echo: EchoedTokens) -> list[int]:
    """Where each token's text ends. A token that decodes to nothing (part of a UTF-8
    character, reported empty until the character completes) ends where the next one does."""
    ends = [0] * len(echo.tokens)
    following: int | None = None
    for index in reversed(range(len(echo.tokens))):
        own = echo.offsets[index] + len(echo.tokens[index])
        ends[index] = own if echo.tokens[index] or following is None else following
        following = ends[index]
    return ends
