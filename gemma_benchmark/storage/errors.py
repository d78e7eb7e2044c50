"""Errors of the results store."""

from __future__ import annotations

from gemma_benchmark.exceptions import GemmaBenchmarkError

__all__ = ["RunNotFoundError", "StorageError"]


class StorageError(GemmaBenchmarkError):
    """The results database could not be read or written; the message says which and why."""


class RunNotFoundError(StorageError, LookupError):
    """No run with the requested id exists in the database."""
