"""ResultStore: round trip, crash safety, concurrent writers, redaction and schema checks."""

from __future__ import annotations

import io
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gemma_benchmark
from gemma_benchmark.exceptions import ConfigurationError
from gemma_benchmark.storage import (
    ResultStore,
    RunNotFoundError,
    SecretRedactingFilter,
    StorageError,
    config_hash,
    redact,
)

PLANTED = "hf_planted_secret_123"
BATCH = 5

# Writes batches of BATCH samples forever (or `limit` batches) and prints each batch index once
# its transaction has committed. argv: db_path model limit
WRITER = textwrap.dedent(
    f"""
    import sys
    from gemma_benchmark.storage import ResultStore

    db_path, model, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = ResultStore("sqlite:///" + db_path)
    run_id = store.start_run({{"model": model}}, model, {{}}, "test", None)
    batch = 0
    while limit < 0 or batch < limit:
        samples = [
            {{"doc_id": f"{{batch}}-{{i}}", "prompt": "p" * 200 + f"{{batch}}-{{i}}",
              "response": f"answer {{batch}}-{{i}}", "correct": i % 2 == 0,
              "scores": {{"acc": float(i % 2 == 0)}}}}
            for i in range({BATCH})
        ]
        store.add_samples(run_id, model, "mmlu", 0, samples)
        print(batch, flush=True)
        batch += 1
    store.record_task_result(run_id, model, "mmlu", 0, {{"batches": batch}}, "finished")
    store.finish_run(run_id)
    """
)


def _writer(db_path: Path, model: str, limit: int) -> subprocess.Popen[str]:
    package_root = str(Path(gemma_benchmark.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package_root}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db_path), model, str(limit)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _assert_intact(sample: dict[str, object], doc_id: str) -> None:
    assert sample["prompt"] == "p" * 200 + doc_id
    assert sample["response"] == f"answer {doc_id}"
    assert sample["correct"] == (int(doc_id.split("-")[1]) % 2 == 0)


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    return ResultStore.for_output_dir(tmp_path)


def test_round_trip(store: ResultStore) -> None:
    config = {"models": {"gemma-2b": {"size": "2b"}}, "tasks": {"mmlu": {"shot_count": 5}}}
    run_id = store.start_run(config, config_hash(config), {"os": "Linux"}, "0.1.0", "abc123")
    assert store.list_runs()[0]["models"] == ["gemma-2b"]  # from the config, no results yet

    first = {"doc_id": 7, "prompt": "Q?", "response": "A", "scores": {"acc": 1.0}}
    store.add_samples(run_id, "gemma-2b", "mmlu", 0, [{**first, "correct": True, "subject": "x"}])
    # A repeated doc_id, in the batch or already stored, is skipped rather than an error.
    store.add_samples(
        run_id, "gemma-2b", "mmlu", 0, [{"doc_id": "7", "prompt": "other"}, {"doc_id": "8"}] * 2
    )
    samples = store.completed_samples(run_id, "gemma-2b", "mmlu", 0)
    assert set(samples) == {"7", "8"}
    expected = {**first, "doc_id": "7", "request_hash": None, "correct": True, "subject": "x"}
    assert samples["7"] == expected
    assert store.completed_samples(run_id, "gemma-2b", "mmlu", 1) == {}
    assert store.count_samples(run_id) == 2

    store.record_task_result(run_id, "gemma-2b", "mmlu", 0, {"overall": {"accuracy": 0.5}}, "ok")
    store.record_task_result(run_id, "gemma-2b", "mmlu", 0, {"overall": {"accuracy": 1.0}}, "ok")
    store.record_task_result(run_id, "gemma-2b", "gsm8k", 1, {}, "failed", error="boom")
    run = store.get_run(run_id)
    assert run["config"] == config
    assert run["git_commit"] == "abc123"
    assert run["results"]["gemma-2b"]["mmlu"] == {0: {"overall": {"accuracy": 1.0}}}
    assert [r["error"] for r in store.task_results(run_id)] == [None, "boom"]

    store.finish_run(run_id)
    (listed,) = store.list_runs()
    assert listed["status"] == "finished"
    assert listed["finished_at"] is not None
    assert (listed["tasks"], listed["n_samples"]) == (["gsm8k", "mmlu"], 2)


def test_invalid_calls(store: ResultStore) -> None:
    with pytest.raises(RunNotFoundError):
        store.get_run(99)
    with pytest.raises(RunNotFoundError):
        store.finish_run(99)
    run_id = store.start_run({}, "h", {}, "0.1.0", None)
    with pytest.raises(ValueError, match="doc_id"):
        store.add_samples(run_id, "m", "t", 0, [{"prompt": "no id"}])
    with pytest.raises(ValueError):
        store.finish_run(run_id, status="done")


def test_sqlite_uses_wal_mode(tmp_path: Path) -> None:
    ResultStore.for_output_dir(tmp_path).close()
    with sqlite3.connect(tmp_path / "benchmark.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_in_memory_url() -> None:
    store = ResultStore("sqlite://")
    run_id = store.start_run({}, "h", {}, "0.1.0", None)
    assert store.find_resumable_run("h") == run_id
    store.close()


def test_find_resumable_run_picks_newest_unfinished(store: ResultStore) -> None:
    finished = store.start_run({}, "h", {}, "0.1.0", None)
    store.finish_run(finished)
    failed = store.start_run({}, "h", {}, "0.1.0", None)
    store.finish_run(failed, status="failed")
    running = store.start_run({}, "h", {}, "0.1.0", None)
    store.start_run({}, "other", {}, "0.1.0", None)
    assert store.find_resumable_run("h") == running
    store.finish_run(running)
    assert store.find_resumable_run("h") == failed
    store.reopen_run(failed)
    assert store.get_run(failed)["status"] == "running"
    assert store.find_resumable_run("missing") is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url at all", "cannot open results database"),
        ("nodialect://host/db", "cannot open results database nodialect://host/db"),
        ("postgresql+nodriver://u:hunter2@h/db", "u:***@h/db"),
        ("sqlite:///{tmp}/text.db", "file is not a database"),
    ],
)
def test_unopenable_database_is_one_storage_error(tmp_path: Path, url: str, fragment: str) -> None:
    (tmp_path / "text.db").write_text("not sqlite " * 100)
    with pytest.raises(StorageError) as caught:
        ResultStore(url.format(tmp=tmp_path))
    message = str(caught.value)
    assert fragment in message and "hunter2" not in message
    assert "\n" not in message


def test_schema_version_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    ResultStore.for_output_dir(tmp_path).close()
    with sqlite3.connect(tmp_path / "benchmark.db") as conn:
        conn.execute("UPDATE schema_version SET version = 999")
    with pytest.raises(ConfigurationError, match="schema version 999"):
        ResultStore.for_output_dir(tmp_path)


def test_writes_survive_sigkill_of_writer(tmp_path: Path) -> None:
    db_path = tmp_path / "benchmark.db"
    writer = _writer(db_path, "killed", limit=-1)
    assert writer.stdout is not None
    committed = [int(writer.stdout.readline()) for _ in range(20)]
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL

    store = ResultStore(f"sqlite:///{db_path}")
    samples = store.completed_samples(1, "killed", "mmlu", 0)
    for batch in committed:
        for i in range(BATCH):
            _assert_intact(samples[f"{batch}-{i}"], f"{batch}-{i}")
    assert len(samples) % BATCH == 0  # each batch is all there or not at all
    assert store.list_runs()[0]["status"] == "running"
    store.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "benchmark.db"
    batches = 400
    writers = [_writer(db_path, model, limit=batches) for model in ("a", "b")]
    for writer in writers:
        writer.communicate(timeout=60)
        assert writer.returncode == 0

    store = ResultStore(f"sqlite:///{db_path}")
    runs = store.list_runs()
    assert sorted(run["models"][0] for run in runs) == ["a", "b"]
    assert all(run["status"] == "finished" for run in runs)
    for run in runs:
        model = run["models"][0]
        samples = store.completed_samples(run["id"], model, "mmlu", 0)
        assert len(samples) == batches * BATCH
        for doc_id, sample in samples.items():
            _assert_intact(sample, doc_id)
        assert store.get_run(run["id"])["results"][model]["mmlu"][0] == {"batches": batches}
    store.close()


def test_secrets_never_reach_the_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", PLANTED)
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "correct-horse-battery")
    store = ResultStore.for_output_dir(tmp_path)
    config = {
        "models": {"gemma": {"hf_token": PLANTED}},
        "note": f"token={PLANTED}",
        "api_key": "k",
    }
    run_id = store.start_run(config, config_hash(config), {"env": PLANTED}, "0.1.0", None)
    sample = {"doc_id": "1", "prompt": f"use {PLANTED}", "response": f"ok {PLANTED}"}
    store.add_samples(run_id, "gemma", "mmlu", 0, [{**sample, "note": "correct-horse-battery"}])
    store.record_task_result(
        run_id, "gemma", "mmlu", 0, {"log": PLANTED}, "failed", error=f"401 for {PLANTED}"
    )
    stored = store.completed_samples(run_id, "gemma", "mmlu", 0)["1"]
    assert stored["prompt"] == "use ***"
    assert stored["note"] == "***"
    assert store.get_run(run_id)["config"]["api_key"] == "***"
    assert store.task_results(run_id)[0]["error"] == "401 for ***"
    store.close()

    for path in tmp_path.iterdir():  # the database and any WAL/SHM left beside it
        raw = path.read_bytes()
        assert PLANTED.encode() not in raw, path
        assert b"correct-horse-battery" not in raw, path


def test_redact_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", PLANTED)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # too short to be a secret
    monkeypatch.setenv("HOME_DIR_LABEL", "planted_but_not_secret")
    shaped = "hf_" + "a1" * 17
    data = {
        "token": "abc",
        "accessToken": "abc",
        "eos_token": "</s>",
        "max_new_tokens": 256,
        "text": [f"x {PLANTED} y", ("false", "planted_but_not_secret", shaped)],
    }
    assert redact(data) == {
        "token": "***",
        "accessToken": "***",
        "eos_token": "</s>",
        "max_new_tokens": 256,
        "text": ["x *** y", ("false", "planted_but_not_secret", "***")],
    }
    assert data["token"] == "abc"  # the input is not modified


def test_logging_filter_redacts_message_and_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", PLANTED)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretRedactingFilter())
    logger = logging.getLogger("gemma_benchmark.test_storage")
    logger.addHandler(handler)
    try:
        logger.warning("token is %s", PLANTED)
        try:
            raise RuntimeError(f"bad credentials {PLANTED}")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert PLANTED not in output
    assert "token is ***" in output
    assert "RuntimeError: bad credentials ***" in output


def test_for_output_dir_prefers_an_explicit_url(tmp_path: Path) -> None:
    store = ResultStore.for_output_dir(tmp_path / "unused", f"sqlite:///{tmp_path / 'other.db'}")
    store.close()
    assert (tmp_path / "other.db").exists()
    assert not (tmp_path / "unused").exists()
