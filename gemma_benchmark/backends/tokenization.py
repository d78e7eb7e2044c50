"""Context/continuation tokenisation, exactly as lm-evaluation-harness splits a request.

Trailing whitespace of the context moves to the continuation, and the continuation's tokens are
`enc(context + continuation)[len(enc(context)):]`, so a merge across the boundary is scored the
way lm-eval scores it. An empty context is replaced by the prefix (BOS) token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Encoder = Callable[[str], list[int]]


def make_encoder(tokenizer: Any, add_bos: bool | None) -> Encoder:
    """`text -> token ids`.

    `add_bos=None` keeps the tokenizer's own default (lm-eval's behaviour); True forces the BOS
    (Gemma is trained with it and degrades without). A text that already starts with the BOS
    string gets no second one.
    """
    bos_text = tokenizer.bos_token

    def encode(text: str) -> list[int]:
        kwargs: dict[str, bool] = {}
        if add_bos is not None:
            kwargs["add_special_tokens"] = add_bos
        if bos_text and text.startswith(bos_text):
            kwargs["add_special_tokens"] = False
        return list(tokenizer.encode(text, **kwargs))

    return encode


def prefix_token_id(tokenizer: Any) -> int:
    """The token that stands in for an empty context: BOS, else EOS."""
    if tokenizer.bos_token_id is not None:
        return int(tokenizer.bos_token_id)
    return int(tokenizer.eos_token_id)


def encode_pair(
    encode: Encoder, context: str, continuation: str, empty_context_token: int
) -> tuple[list[int], list[int]]:
    """(context tokens, continuation tokens) for one log-likelihood request."""
    if context == "":
        return [empty_context_token], encode(continuation)
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation = context[-spaces:] + continuation
        context = context[:-spaces]
    whole = encode(context + continuation)
    context_tokens = encode(context)
    return context_tokens, whole[len(context_tokens) :]
