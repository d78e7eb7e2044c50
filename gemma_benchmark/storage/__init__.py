"""Persistence of benchmark results: runs, task metrics and per-sample records in SQL.

SQLite (WAL mode) by default at `<output dir>/benchmark.db`; any SQLAlchemy URL otherwise.
Secrets from the environment are redacted from everything stored.
"""

from gemma_benchmark.storage.errors import RunNotFoundError, StorageError
from gemma_benchmark.storage.hashing import config_hash
from gemma_benchmark.storage.redaction import SecretRedactingFilter, redact
from gemma_benchmark.storage.schema import SCHEMA_VERSION
from gemma_benchmark.storage.store import DEFAULT_DB_NAME, ResultStore

__all__ = [
    "DEFAULT_DB_NAME",
    "SCHEMA_VERSION",
    "ResultStore",
    "RunNotFoundError",
    "SecretRedactingFilter",
    "StorageError",
    "config_hash",
    "redact",
]
