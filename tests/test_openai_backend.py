"""The openai_compatible backend against a real server process on 127.0.0.1.

The server (`tests/openai_test_server.py`) serves the same tiny model the in-process backend
loads, answering echo/logprobs the way vLLM does, so results must agree item by item.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gemma_benchmark.backends.openai_compatible import OpenAICompatibleModel
from gemma_benchmark.backends.openai_echo import (
    EchoedTokens,
    EchoFormatError,
    continuation_logprob,
)
from gemma_benchmark.config import EvaluationConfig, HardwareConfig, ModelConfig, parse_config
from gemma_benchmark.core.benchmark import GemmaBenchmark
from gemma_benchmark.core.model_factory import load_from_config
from gemma_benchmark.exceptions import (
    BenchmarkExecutionError,
    ConfigurationError,
    ModelLoadingError,
)

REPO = Path(__file__).resolve().parents[1]
SUBJECTS = ["anatomy", "astronomy", "marketing"]


# -- the server --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tiny_gemma_path: Path) -> Iterator[str]:
    """Base URL (`.../v1`) of a test server process on a free port."""
    pytest.importorskip("openai")
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "openai_test_server.py"), str(tiny_gemma_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        pytest.fail(f"test server did not start: {line}{proc.communicate()[1][-2000:]}")
    try:
        yield line.split()[-1] + "/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def control(base_url: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    root = base_url.removesuffix("/v1")
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        root + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def faults(base_url: str, **settings: Any) -> None:
    """Set the server's injected faults (and reset its counters)."""
    control(base_url, "/_test/faults", settings)


def served(base_url: str, **options: Any) -> OpenAICompatibleModel:
    entry = ModelConfig(type="openai_compatible", base_url=base_url, model="tiny", **options)
    model = load_from_config("served", entry, HardwareConfig(), EvaluationConfig())
    assert isinstance(model, OpenAICompatibleModel)
    return model


# -- echo parsing, no server ----------------------------------------------------------------------


def echoed(pieces: list[str], logprobs: list[float | None], text: str) -> EchoedTokens:
    offsets, position = [], 0
    for piece in pieces:
        offsets.append(position)
        position += len(piece)
    return EchoedTokens(text, offsets, pieces, logprobs)


def test_continuation_tokens_found_by_offset() -> None:
    echo = echoed(["", "Answer", ":", " A", "\n"], [None, -1.0, -2.0, -3.0, -9.0], "Answer: A\n")
    assert continuation_logprob(echo, "Answer:", " A") == -3.0
    assert continuation_logprob(echo, "Answer: ", "A") == -3.0  # trailing space moves over
    assert continuation_logprob(echo, "", "Answer: A") == -6.0  # BOS scores the first token


def test_straddling_and_partial_character_tokens_count_as_continuation() -> None:
    echo = echoed(["", "ab", "cd", "", "é"], [None, -1.0, -2.0, -4.0, -8.0], "abcdé")
    assert continuation_logprob(echo, "abc", "dé") == -14.0
    assert continuation_logprob(echo, "abcd", "é") == -12.0


def test_unusable_echo_is_a_clear_error() -> None:
    no_bos = echoed(["Answer", ":"], [None, -1.0], "Answer:")
    with pytest.raises(EchoFormatError, match="BOS"):
        continuation_logprob(no_bos, "", "Answer:")
    with pytest.raises(EchoFormatError, match="does not start with the prompt"):
        continuation_logprob(no_bos, "Question", ":")
    with pytest.raises(EchoFormatError, match="no logprobs"):
        EchoedTokens.from_choice(SimpleNamespace(text="x", logprobs=None))


# -- config ------------------------------------------------------------------------------------


def test_config_keys_and_a_pasted_key_is_refused_without_echoing_it() -> None:
    entry = {"type": "openai_compatible", "base_url": "http://127.0.0.1:1/v1", "model": "m"}
    config = parse_config({"models": {"m": {**entry, "api_key_env": "MY_KEY"}}})
    assert config.models["m"].max_concurrency == 8
    with pytest.raises(ConfigurationError) as err:
        parse_config({"models": {"m": {**entry, "api_key_env": "sk-secret-123"}}})
    assert "models.m.api_key_env" in str(err.value) and "sk-secret" not in str(err.value)
    with pytest.raises(ConfigurationError, match=r"models\.m\.base_url: required"):
        parse_config({"models": {"m": {"type": "openai_compatible", "model": "m"}}})


def test_missing_api_key_variable_is_a_one_line_load_error() -> None:
    os.environ.pop("GB_TEST_UNSET_KEY", None)
    with pytest.raises(ModelLoadingError) as err:
        served("http://127.0.0.1:1/v1", api_key_env="GB_TEST_UNSET_KEY")
    message = str(err.value)
    assert "GB_TEST_UNSET_KEY" in message and "\n" not in message


def test_missing_openai_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ModelLoadingError, match=r"pip install 'gemma-benchmark\[serve\]'"):
        served("http://127.0.0.1:1/v1")


def test_unreachable_server_fails_at_load() -> None:
    pytest.importorskip("openai")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ModelLoadingError, match="cannot connect"):
        served(f"http://127.0.0.1:{port}/v1", max_retries=0)


# -- against the server ------------------------------------------------------------------------


def write_config(path: Path, model_dir: Path, base_url: str, data_dir: Path) -> Path:
    path.write_text(
        textwrap.dedent(
            f"""
            models:
              local: {{type: huggingface, path: "{model_dir}"}}
              served: {{type: openai_compatible, base_url: "{base_url}", model: tiny,
                        max_concurrency: 4}}
            tasks:
              mmlu: {{subset: {json.dumps(SUBJECTS)}, shot_count: 1, limit: 4}}
            output: {{save_predictions: true, path: "{path.parent / "out"}"}}
            evaluation: {{batch_size: 4}}
            data_dir: "{data_dir}"
            """
        )
    )
    return path


def test_mmlu_through_server_equals_in_process(
    server: str, tiny_gemma_path: Path, data_dir: Path, tmp_path: Path
) -> None:
    faults(server)
    bench = GemmaBenchmark(
        str(write_config(tmp_path / "c.yaml", tiny_gemma_path, server, data_dir))
    )
    bench.load_tasks()
    bench.load_models()
    assert not bench.model_errors
    results = bench.run_benchmarks()
    assert results["served"]["mmlu"] == results["local"]["mmlu"]
    out = tmp_path / "out" / "predictions"
    local = [json.loads(x) for x in (out / "local/mmlu.jsonl").read_text().splitlines()]
    remote = [json.loads(x) for x in (out / "served/mmlu.jsonl").read_text().splitlines()]
    assert [(s["doc_id"], s["prediction"]) for s in remote] == [
        (s["doc_id"], s["prediction"]) for s in local
    ]
    for a, b in zip(local, remote, strict=True):
        assert b["scores"] == pytest.approx(a["scores"], abs=1e-3)
    stats = control(server, "/_test/stats")
    assert 1 < stats["peak_in_flight"] <= 4


def test_generation_and_chat_equal_in_process(server: str, tiny_gemma: Any) -> None:
    model = served(server)
    faults(server)  # resets the counters after the load probe
    prompts = ["Question: What is 3 + 4?\nAnswer:", "The capital of France is"]
    options: dict[str, Any] = {"max_new_tokens": 12, "stop": ["\n\n"]}
    assert model.generate_batch(prompts, **options) == tiny_gemma.generate_batch(prompts, **options)
    question = "Name a prime number."
    chat = model.generate(model.apply_chat_template(question), max_new_tokens=8)
    assert chat == tiny_gemma.generate(tiny_gemma.apply_chat_template(question), max_new_tokens=8)
    assert control(server, "/_test/stats")["counts"] == {
        "/v1/completions": 2,
        "/v1/chat/completions": 1,
    }


@pytest.mark.parametrize("status", [503, 429])
def test_two_failures_are_retried(server: str, status: int) -> None:
    model = served(server)
    faults(server, fail_next=2, status=status)
    assert isinstance(model.generate("Hello", max_new_tokens=2), str)
    assert control(server, "/_test/stats")["counts"]["/v1/completions"] == 3


def test_retries_are_bounded(server: str) -> None:
    model = served(server, max_retries=1)
    faults(server, fail_next=5)
    with pytest.raises(BenchmarkExecutionError, match="HTTP 503"):
        model.generate("Hello", max_new_tokens=2)
    assert control(server, "/_test/stats")["counts"]["/v1/completions"] == 2
    faults(server)


def test_timeout_is_a_clear_error(server: str) -> None:
    model = served(server, timeout_s=0.3, max_retries=1)
    faults(server, delay_next=2, delay_s=1.5)
    started = time.monotonic()
    with pytest.raises(BenchmarkExecutionError, match=r"timed out after 0\.3 s"):
        model.generate("Hello", max_new_tokens=2)
    assert time.monotonic() - started < 5


def test_server_without_echo_fails_at_load(server: str) -> None:
    faults(server, no_echo=True)
    with pytest.raises(ModelLoadingError, match="echo=true"):
        served(server)
    faults(server)


def test_streaming_latency(server: str) -> None:
    model = served(server)
    faults(server)
    report = model.stream_latency(["Question: What is 1 + 1?\nAnswer:"] * 3, max_new_tokens=6)
    assert report["completed"] == 3
    assert report["ttft_ms"]["mean"] > 0 and report["e2el_ms"]["mean"] >= report["ttft_ms"]["mean"]
    for request in report["requests"]:
        assert request["output_tokens"] >= 1
        assert len(request["itl_s"]) <= request["output_tokens"] - 1 or not request["itl_s"]
    assert report["output_throughput"] > 0


def test_efficiency_task_over_http(server: str) -> None:
    from gemma_benchmark.tasks.efficiency import EfficiencyBenchmark

    faults(server)
    task = EfficiencyBenchmark(
        {
            "output_lengths": [4, 8],
            "batch_sizes": [2],
            "warmup": 1,
            "repetitions": 2,
            "sample_prompts": ["Question: What is 2 + 2?\nAnswer:"],
        }
    )
    result = task.evaluate(served(server))
    assert set(result["latency"]) == {"tokens_4", "tokens_8"}
    assert all(v > 0 for v in result["latency"].values())
    assert all(v > 0 for v in result["tokens_per_second"].values())
    assert result["memory_usage"] == {"tokens_4": None, "tokens_8": None}
    point = result["measurements"]["served"]["batch_2"]["tokens_8"]
    assert point["completed"] == 2 and point["repetitions"] == 2
    assert point["ttft_ms"]["median"] <= point["e2el_ms"]["median"]
