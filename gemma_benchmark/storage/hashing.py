"""Stable identity of a benchmark config, used to find a run to resume."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gemma_benchmark.storage.redaction import redact

__all__ = ["config_hash"]


def config_hash(config: dict[str, Any]) -> str:
    """sha256 hex digest of the config as canonical JSON (sorted keys, no whitespace).

    The config is redacted first, so rotating a token kept in it does not stop a resume and
    the digest never depends on a secret. Values JSON cannot encode (paths, enums) hash by
    their `str()`.
    """
    canonical = json.dumps(
        redact(config), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
