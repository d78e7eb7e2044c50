"""The results store: runs, per-task metrics and per-sample records in one SQL database.

Every public method is its own short transaction, retried while SQLite reports contention,
so several processes can share one file and an interrupted run keeps everything it had
committed. Everything written passes through `redact` first: no secret from the environment
reaches a row. Timestamps are returned as ISO 8601 strings in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import URL, Connection, func, insert, inspect, make_url, select, update
from sqlalchemy.exc import SQLAlchemyError

from gemma_benchmark.exceptions import ConfigurationError
from gemma_benchmark.storage import queries
from gemma_benchmark.storage.engine import (
    make_engine,
    read_transaction,
    with_retry,
    write_transaction,
)
from gemma_benchmark.storage.errors import RunNotFoundError, StorageError
from gemma_benchmark.storage.redaction import redact
from gemma_benchmark.storage.schema import (
    OWN_TABLES,
    RUN_STATUSES,
    SCHEMA_VERSION,
    Base,
    Run,
    Sample,
    SchemaVersion,
    TaskResult,
    utcnow,
)

__all__ = ["DEFAULT_DB_NAME", "ResultStore"]

DEFAULT_DB_NAME = "benchmark.db"

T = TypeVar("T")


class ResultStore:
    """Persistent results of benchmark runs; see the module docstring for the guarantees.

    Raises `ConfigurationError` at open time when the database was created with another
    schema version, and `RunNotFoundError` when a method is given an unknown run id.
    """

    def __init__(self, url: str | URL) -> None:
        """Raises StorageError, one line naming the database, when it cannot be opened: a
        malformed URL, a missing driver, or a file that is not an SQLite database."""
        try:
            self._url = make_url(url)
            self._engine = make_engine(self._url)
        except (SQLAlchemyError, ImportError) as err:
            raise StorageError(
                f"cannot open results database {_shown(url)}: {_reason(err)}"
            ) from None
        try:
            with_retry(self._prepare_schema, "open results database")
        except SQLAlchemyError as err:
            self._engine.dispose()
            raise StorageError(
                f"cannot open results database {_shown(self._url)}: {_reason(err)}"
            ) from None
        except BaseException:
            self._engine.dispose()
            raise

    @classmethod
    def for_output_dir(cls, output_dir: str | Path, database_url: str | None = None) -> ResultStore:
        """`database_url` when given, else SQLite at `<output_dir>/benchmark.db` (dir created)."""
        if database_url:
            return cls(database_url)
        directory = Path(output_dir)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(URL.create("sqlite", database=str(directory / DEFAULT_DB_NAME)))

    def __repr__(self) -> str:
        return f"ResultStore({self._url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    # -- runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        config: dict[str, Any],
        config_hash: str,
        system_info: dict[str, Any],
        package_version: str,
        git_commit: str | None,
    ) -> int:
        """Record a new run with status "running" and return its id."""
        values = {
            "config_hash": config_hash,
            "config": redact(config),
            "system_info": redact(system_info),
            "package_version": package_version,
            "git_commit": git_commit,
            "status": "running",
            "started_at": utcnow(),
        }

        def write() -> int:
            with write_transaction(self._engine) as conn:
                primary_key = conn.execute(insert(Run).values(values)).inserted_primary_key
                if primary_key is None:
                    raise StorageError("start run: the database returned no id for the new run")
                return int(primary_key[0])

        return with_retry(write, "start run")

    def find_resumable_run(self, config_hash: str) -> int | None:
        """Id of the newest run with this config hash that did not finish, or None."""
        query = (
            select(Run.id)
            .where(Run.config_hash == config_hash, Run.status.in_(("running", "failed")))
            .order_by(Run.started_at.desc(), Run.id.desc())
            .limit(1)
        )
        return with_retry(lambda: self._read(lambda conn: conn.scalar(query)), "find run")

    def reopen_run(self, run_id: int) -> None:
        """Mark a run "running" again (clearing finished_at) before resuming it."""
        self._set_run_status(run_id, "running", finished_at=None)

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        """Close a run as "finished" or "failed" and stamp finished_at."""
        if status not in RUN_STATUSES - {"running"}:
            raise ValueError(f"run status must be 'finished' or 'failed', got {status!r}")
        self._set_run_status(run_id, status, finished_at=utcnow())

    def _set_run_status(self, run_id: int, status: str, finished_at: datetime | None) -> None:
        statement = (
            update(Run).where(Run.id == run_id).values(status=status, finished_at=finished_at)
        )

        def write() -> None:
            with write_transaction(self._engine) as conn:
                if conn.execute(statement).rowcount == 0:
                    raise RunNotFoundError(self._no_run(run_id))

        with_retry(write, f"set status of run {run_id}")

    def list_runs(self) -> list[dict[str, Any]]:
        """Summaries of all runs, oldest first, without config and system_info.

        Each has id, config_hash, started_at, finished_at, status, package_version, git_commit,
        models and tasks (names from the task results, else from the config) and n_samples.
        """
        return with_retry(lambda: self._read(queries.list_runs), "list runs")

    def get_run(self, run_id: int) -> dict[str, Any]:
        """The run's row plus `results`: {model: {task: {run_index: metrics}}}."""

        def read(conn: Connection) -> dict[str, Any]:
            row = conn.execute(select(Run.__table__).where(Run.id == run_id)).first()
            if row is None:
                raise RunNotFoundError(self._no_run(run_id))
            run = queries.run_dict(row._mapping)
            results: dict[str, dict[str, dict[int, Any]]] = {}
            for result in queries.task_result_rows(conn, run_id):
                per_task = results.setdefault(result["model"], {}).setdefault(result["task"], {})
                per_task[result["run_index"]] = result["metrics"]
            run["results"] = results
            return run

        return with_retry(lambda: self._read(read), f"read run {run_id}")

    # -- task results -------------------------------------------------------------------------

    def record_task_result(
        self,
        run_id: int,
        model: str,
        task: str,
        run_index: int,
        metrics: dict[str, Any],
        status: str,
        error: str | None = None,
    ) -> None:
        """Insert or replace the metrics of one (model, task, run_index) of a run."""
        key = {"run_id": run_id, "model": model, "task": task, "run_index": run_index}
        values = {"metrics": redact(metrics), "status": status, "error": redact(error)}

        def write() -> None:
            with write_transaction(self._engine) as conn:
                existing = conn.scalar(select(TaskResult.id).filter_by(**key))
                if existing is None:
                    conn.execute(insert(TaskResult).values(**key, **values))
                else:
                    conn.execute(update(TaskResult).filter_by(id=existing).values(values))

        with_retry(write, f"record result of {model}/{task}")

    def task_results(self, run_id: int) -> list[dict[str, Any]]:
        """Every task result row of a run: model, task, run_index, metrics, status, error."""
        return with_retry(
            lambda: self._read(lambda conn: queries.task_result_rows(conn, run_id)),
            "read task results",
        )

    # -- samples ------------------------------------------------------------------------------

    def add_samples(
        self, run_id: int, model: str, task: str, run_index: int, samples: list[dict[str, Any]]
    ) -> None:
        """Commit a batch of scored samples in one small transaction.

        Each dict needs `doc_id` (stored as str); `request_hash`, `prompt`, `response`,
        `scores` and `correct` have their own columns and every other key goes to `extra`.
        A prompt or response that is not a string is stored as its JSON text. A doc_id already
        stored for this (run, model, task, run_index), or repeated in the batch, is skipped;
        on SQLite the check runs under the write lock, so concurrent writers cannot race it.
        """
        key = {"run_id": run_id, "model": model, "task": task, "run_index": run_index}
        rows = queries.dedupe_by_doc_id(
            queries.sample_row(sample, key) for sample in redact(samples)
        )
        if not rows:
            return

        def write() -> None:
            with write_transaction(self._engine) as conn:
                stored = queries.stored_doc_ids(conn, key, [row["doc_id"] for row in rows])
                new_rows = [row for row in rows if row["doc_id"] not in stored]
                if new_rows:
                    conn.execute(insert(Sample), new_rows)

        with_retry(write, f"add samples of {model}/{task}")

    def completed_samples(
        self, run_id: int, model: str, task: str, run_index: int
    ) -> dict[str, dict[str, Any]]:
        """doc_id -> the sample as added (after redaction): its columns plus its extra keys."""
        query = select(*queries.sample_columns(), Sample.extra).filter_by(
            run_id=run_id, model=model, task=task, run_index=run_index
        )

        def read(conn: Connection) -> dict[str, dict[str, Any]]:
            samples = {}
            for row in conn.execute(query):
                sample = dict(row._mapping)
                extra = sample.pop("extra") or {}
                samples[sample["doc_id"]] = {**extra, **sample}
            return samples

        return with_retry(lambda: self._read(read), f"read samples of {model}/{task}")

    def count_samples(self, run_id: int) -> int:
        query = select(func.count()).select_from(Sample).where(Sample.run_id == run_id)
        return with_retry(lambda: self._read(lambda conn: int(conn.scalar(query) or 0)), "count")

    # -- internals ----------------------------------------------------------------------------

    def _read(self, reader: Callable[[Connection], T]) -> T:
        with read_transaction(self._engine) as conn:
            return reader(conn)

    def _no_run(self, run_id: int) -> str:
        return f"no run with id {run_id} in {self._url.render_as_string(hide_password=True)}"

    def _prepare_schema(self) -> None:
        """Create the tables in a fresh database, or check the version of an existing one."""
        with write_transaction(self._engine) as conn:
            tables = set(inspect(conn).get_table_names())
            if SchemaVersion.__tablename__ in tables:
                self._check_version(list(conn.scalars(select(SchemaVersion.version))))
            elif tables & OWN_TABLES:
                self._check_version([])
            Base.metadata.create_all(conn)
            if SchemaVersion.__tablename__ not in tables:
                conn.execute(insert(SchemaVersion).values(version=SCHEMA_VERSION))

    def _check_version(self, found: list[int]) -> None:
        if found == [SCHEMA_VERSION]:
            return
        where = self._url.render_as_string(hide_password=True)
        found_text = ", ".join(map(str, found)) or "none"
        raise ConfigurationError(
            f"output.database_url: results database {where} has schema version {found_text}, "
            f"but this gemma_benchmark reads version {SCHEMA_VERSION}; "
            "use a new output directory or database"
        )


def _shown(url: str | URL) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return redact(str(url))


def _reason(err: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's SQL echo and background link."""
    inner = getattr(err, "orig", None) or err
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__
