"""Engine setup and transactions that survive concurrent SQLite writers.

SQLite specifics, applied on every new connection:

* `busy_timeout` first, so the statements below (and every later lock) wait instead of
  failing at once;
* `journal_mode=WAL`, so readers never block the writer and a killed writer loses at most
  its own uncommitted transaction;
* transactions are begun by us, not by the sqlite3 module: reads use `BEGIN` (deferred) and
  writes `BEGIN IMMEDIATE`, which takes the write lock up front. A deferred transaction that
  reads and then writes can fail with "database is locked" without waiting, because SQLite
  cannot upgrade a stale read snapshot; taking the lock first avoids that.

Anything still failing with "locked"/"busy" is retried with bounded exponential backoff.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError

from gemma_benchmark.storage.errors import StorageError

__all__ = ["make_engine", "read_transaction", "with_retry", "write_transaction"]

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
MAX_ATTEMPTS = 8
_BASE_DELAY_S = 0.05
_MAX_DELAY_S = 2.0
_BEGIN_OPTION = "gemma_sqlite_begin"
_JSON_SERIALIZER_BACKENDS = frozenset({"sqlite", "postgresql", "mysql", "mariadb"})


def make_engine(url: str | URL) -> Engine:
    """Create an engine for any SQLAlchemy URL, with the SQLite settings above when it is SQLite.

    JSON columns accept numpy scalars and arrays (as numbers and lists) and encode any other
    non-JSON value by its `str()`, so a metrics dict straight from numpy can be stored.
    """
    parsed = make_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() in _JSON_SERIALIZER_BACKENDS:
        options["json_serializer"] = _json_dumps
    engine = create_engine(parsed, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _json_dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level: `_begin_sqlite_transaction` emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the write lock from its start; commits on exit."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection for reads; its (deferred) transaction is rolled back on exit."""
    with engine.connect() as connection:
        yield connection


def with_retry(operation: Callable[[], T], what: str) -> T:
    """Run `operation`, retrying it whole while the database reports it is locked or busy.

    `operation` must open its own transaction, so a failed attempt is rolled back before the
    next. Gives up after `MAX_ATTEMPTS` with a `StorageError` naming `what`; other database
    errors propagate unchanged.
    """
    attempt = 0
    while True:
        try:
            return operation()
        except OperationalError as err:
            if not _is_lock_contention(err):
                raise
            attempt += 1
            if attempt >= MAX_ATTEMPTS:
                raise StorageError(
                    f"{what}: database stayed locked after {MAX_ATTEMPTS} attempts: {err.orig}"
                ) from err
            time.sleep(_backoff_delay(attempt))


def _is_lock_contention(err: OperationalError) -> bool:
    message = str(err.orig).lower()
    return "locked" in message or "busy" in message


def _backoff_delay(attempt: int) -> float:
    delay = min(_MAX_DELAY_S, _BASE_DELAY_S * 2**attempt)
    return delay * random.uniform(0.5, 1.0)
