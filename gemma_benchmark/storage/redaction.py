"""Keep credentials out of stored results and logs.

Two rules, applied recursively to str, dict, list and tuple values:

* any occurrence of a secret's *value* in any string becomes `***`. Secrets are the values of
  environment variables whose name contains TOKEN, KEY, SECRET or PASSWORD (case-insensitive;
  HF_TOKEN among them) and that are at least 6 characters long, so short flags such as
  `TOKENIZERS_PARALLELISM=false` do not blank out ordinary words. Hugging Face token-shaped
  strings (`hf_` + 30 or more letters and digits) are caught even when no variable holds them.
* in a dict, a string under a credential-like key (`token`, `hf_token`, `api_key`, `password`,
  `client_secret`, `accessToken`, ...) becomes `***`. Tokenizer special-token keys such as
  `eos_token` are data, not credentials, and are kept.

The environment is read on every call, so a variable set after import is still honoured.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "SecretRedactingFilter", "redact", "secret_values"]

REDACTED = "***"
_MIN_SECRET_LENGTH = 6
_SECRET_ENV_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)
_HF_TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")
_CREDENTIAL_KEY = re.compile(
    r"(?:^|_)(?:token|api_?key|secret|secret_?key|access_?key|private_?key|password|passwd"
    r"|auth|authorization|credentials?)$"
)
_SPECIAL_TOKEN_KEYS = frozenset(
    f"{name}_token" for name in ("pad", "eos", "bos", "unk", "sep", "cls", "mask", "additional")
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values to scrub from text, longest first so a secret containing another is fully hidden."""
    env = os.environ if environ is None else environ
    found = {
        value
        for name, value in env.items()
        if _SECRET_ENV_NAME.search(name) and len(value) >= _MIN_SECRET_LENGTH
    }
    return sorted(found, key=len, reverse=True)


def redact(obj: Any) -> Any:
    """Return a copy of `obj` with secrets replaced by `***`; other types pass through unchanged.

    Only str, dict, list and tuple are walked (dict keys are scrubbed too); numbers, bools and
    None are returned as they are. The input is never modified.
    """
    return _redact(obj, secret_values())


def _redact(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, str):
        return _redact_text(obj, secrets)
    if isinstance(obj, Mapping):
        return {
            _redact(key, secrets): _redact_entry(key, value, secrets) for key, value in obj.items()
        }
    if isinstance(obj, list):
        return [_redact(item, secrets) for item in obj]
    if isinstance(obj, tuple):
        return tuple(_redact(item, secrets) for item in obj)
    return obj


def _redact_entry(key: Any, value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str) and value and isinstance(key, str) and _is_credential_key(key):
        return REDACTED
    return _redact(value, secrets)


def _is_credential_key(key: str) -> bool:
    normalized = _CAMEL_BOUNDARY.sub("_", key).lower().replace("-", "_")
    if normalized in _SPECIAL_TOKEN_KEYS:
        return False
    return _CREDENTIAL_KEY.search(normalized) is not None


def _redact_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _HF_TOKEN_SHAPE.sub(REDACTED, text)


class SecretRedactingFilter(logging.Filter):
    """Scrub secrets from a log record's formatted message and traceback text; never drops one.

    Attach it to *handlers* (`handler.addFilter(...)`): a filter on a logger does not see
    records propagated from child loggers. The message is formatted once here and the record's
    `args` cleared, so later formatting cannot reintroduce a secret from the arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        try:
            message = record.getMessage()
        except Exception:  # a malformed logging call must not raise from a filter
            message = f"{record.msg} {record.args!r}"
        record.msg = _redact_text(message, secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _redact_text(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = _redact_text(record.stack_info, secrets)
        return True
