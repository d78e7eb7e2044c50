"""Tables of the results database.

Bump `SCHEMA_VERSION` whenever a table or column changes: a database written by another
version is refused at open time (see `ResultStore`) instead of being read wrongly.
All timestamps are UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["SCHEMA_VERSION", "Base", "Run", "Sample", "SchemaVersion", "TaskResult", "utcnow"]

SCHEMA_VERSION = 1

RUN_STATUSES = frozenset({"running", "finished", "failed"})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON(none_as_null=True)}


class SchemaVersion(Base):
    """Exactly one row: the layout version the file was created with."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class Run(Base):
    """One invocation of the benchmark over a config; resumable while not "finished"."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config_hash: Mapped[str] = mapped_column(String(64), index=True)
    config: Mapped[dict[str, Any]]
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    package_version: Mapped[str] = mapped_column(String(64))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    system_info: Mapped[dict[str, Any]]


class TaskResult(Base):
    """Aggregated metrics of one (model, task, repetition) within a run."""

    __tablename__ = "task_results"
    __table_args__ = (UniqueConstraint("run_id", "model", "task", "run_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    model: Mapped[str] = mapped_column(String(255))
    task: Mapped[str] = mapped_column(String(255))
    run_index: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class Sample(Base):
    """One scored item; written as soon as it is scored so an interrupted run can resume."""

    __tablename__ = "samples"
    __table_args__ = (UniqueConstraint("run_id", "model", "task", "run_index", "doc_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    model: Mapped[str] = mapped_column(String(255))
    task: Mapped[str] = mapped_column(String(255))
    run_index: Mapped[int] = mapped_column(Integer)
    doc_id: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(128))
    prompt: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
    scores: Mapped[dict[str, Any] | None]
    correct: Mapped[bool | None]
    extra: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


OWN_TABLES = frozenset(Base.metadata.tables)
