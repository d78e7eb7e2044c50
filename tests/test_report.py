"""The HTML report: contents, escaping of untrusted model output, loading, and a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from gemma_benchmark.storage import ResultStore
from gemma_benchmark.visualization.cli_commands import report_command
from gemma_benchmark.visualization.loader import document_from_store, load_document
from gemma_benchmark.visualization.report import write_report
from tests.test_charts import realistic_results

EVIL_OUTPUT = '<script>alert("pwned")</script>" onmouseover="alert(1)'
EVIL_MODEL = "<img src=x onerror=alert(2)>"
CHARTS = 1 + 3 + 2 + 3  # heatmap, 3 comparisons, 2 subject breakdowns, 3 efficiency
CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--hide-scrollbars",
    "--window-size=1280,6000",
)
# With --enable-logging=stderr every console message, uncaught exception and CSP violation
# is logged as "...:CONSOLE(...)" or "...:CONSOLE:line]" whatever its level.
CONSOLE_LINE = re.compile(r":CONSOLE[(:]")


def _document() -> dict[str, Any]:
    results = realistic_results(completion=EVIL_OUTPUT)
    results[EVIL_MODEL] = {"error": f"could not load {EVIL_OUTPUT}"}
    return {
        "schema_version": 1,
        "metadata": {
            "run_id": 7,
            "started_at": "2026-01-02T03:04:05+00:00",
            "package_version": "0.1.0",
            "git_commit": "abc123",
            "config": {"evaluation": {"confidence_level": 0.95, "runs": 3}},
            "system_info": {"os": "Linux", "python": "3.11", "gpu": {"name": "H100"}},
        },
        "results": results,
        "comparisons": {
            "mmlu": {
                "gemma-2b vs gemma-9b": {
                    "diff": -0.2,
                    "ci_low": -0.24,
                    "ci_high": -0.16,
                    "mcnemar_p": 1e-9,
                    "bootstrap_p": 0.0,
                    "significant": True,
                    "n": 1000,
                }
            }
        },
    }


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(_document(), path)
    return path


class _Tags(HTMLParser):
    """Every start tag with its attributes, as the browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_model_output_is_escaped(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert '<script>alert("pwned")' not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&#34; onmouseover=&#34;" in html
    tags = _tags(html)
    assert [tag for tag, _ in tags].count("script") == 1  # the report's own
    assert "img" not in [tag for tag, _ in tags]
    handlers = [name for _, attrs in tags for name in attrs if name.startswith("on")]
    assert handlers == []


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    links = [
        value
        for tag, attrs in _tags(html)
        for name, value in attrs.items()
        if name in ("src", "href", "xlink:href") and value
    ]
    assert all(link.startswith(("#", "data:")) for link in links), links
    assert "<link" not in html and "@import" not in html
    assert "default-src 'none'" in html  # CSP: the page can fetch nothing


def test_report_contents(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert html.count("<svg") == CHARTS
    for expected in (
        "Benchmark report — run 7",
        "abc123",  # git commit
        "H100",  # system info
        "[54.4%, 60.5%]",  # Wilson interval in the summary table
        "[55.0%, 65.0%]",  # interval over repeated runs
        'class="sortable subjects"',
        "high_school_us_history",
        "HumanEval/0",
        "AssertionError: expected True",
        "55.0%",  # decode share of the roofline
        "CPUs are not in the peak table",
        "Significance",
        "-20.0",  # difference in points
        "could not load",  # the model that failed to load
    ):
        assert expected in html, expected
    assert html.count("<details") >= 4


def test_report_from_results_json_and_database(tmp_path: Path) -> None:
    results_json = tmp_path / "results.json"
    small = _document()
    small["results"] = {model: {"gsm8k": r["gsm8k"]} for model, r in realistic_results().items()}
    results_json.write_text(json.dumps(small), encoding="utf-8")
    out = tmp_path / "from_file.html"
    assert report_command(str(results_json), out) == 0
    assert "Benchmark report — run 7" in out.read_text(encoding="utf-8")

    db = tmp_path / "benchmark.db"
    with ResultStore(f"sqlite:///{db}") as store:
        run_id = store.start_run(
            {"config": {"evaluation": {"runs": 2}}}, "h", {"os": "X"}, "9", None
        )
        gsm8k = realistic_results()["gemma-2b"]["gsm8k"]
        store.record_task_result(run_id, "m", "gsm8k", 0, gsm8k, "finished")
        again = {**gsm8k, "overall": {**gsm8k["overall"], "accuracy": 0.3}}
        store.record_task_result(run_id, "m", "gsm8k", 1, again, "finished")
        store.record_task_result(run_id, "m", "mmlu", 0, {"status": "failed"}, "failed", "OOM")
        store.record_task_result(run_id, "m vs n", "gsm8k", -1, {"diff": 0.1}, "comparison")
        store.finish_run(run_id, "failed")
        document = document_from_store(store, run_id)
    assert document["metadata"]["run_id"] == run_id
    assert document["metadata"]["system_info"] == {"os": "X"}
    assert document["results"]["m"]["mmlu"] == {"status": "failed", "error": "OOM"}
    runs = document["results"]["m"]["gsm8k"]["runs"]
    assert runs["completed"] == 2 and runs["aggregate"]["overall.accuracy"]["mean"] == 0.25
    assert document["comparisons"] == {"gsm8k": {"m vs n": {"diff": 0.1}}}
    assert load_document(str(run_id), str(db))["results"] == document["results"]
    out = tmp_path / "from_db.html"
    assert report_command(str(run_id), out, str(db)) == 0
    assert "OOM" in out.read_text(encoding="utf-8")


def test_report_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_command(str(tmp_path / "nope.json"), tmp_path / "r.html") == 2
    assert "neither a results file nor a run id" in capsys.readouterr().err
    db = tmp_path / "empty.db"
    ResultStore(f"sqlite:///{db}").close()
    assert report_command("42", tmp_path / "r.html", str(db)) == 2
    assert "no run with id 42" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert report_command(str(broken), tmp_path / "r.html") == 2
    assert not (tmp_path / "r.html").exists()


def _chromium(page: Path, tmp_path: Path, *extra: str) -> tuple[str, list[str]]:
    """Load `page` headless: (the DOM after scripts ran, the console lines logged)."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *extra,
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if CONSOLE_LINE.search(line)]


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


@pytest.mark.chromium
@needs_chromium
def test_console_capture_sees_errors(tmp_path: Path) -> None:
    """Guards the browser test below against passing because logging stopped working."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><script>missingFunction();</script>", encoding="utf-8")
    _, console = _chromium(page, tmp_path)
    assert any("Uncaught" in line for line in console)


@pytest.mark.chromium
@needs_chromium
def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    dom, console = _chromium(report, tmp_path, f"--screenshot={screenshot}")
    assert console == []  # no uncaught error, console message or CSP violation
    assert 'data-report="ready"' in dom  # the page's script ran to the end
    assert dom.count('data-sortable="ready"') == 3
    assert dom.count("<svg") == CHARTS
    assert "&lt;script&gt;alert" in dom and '<script>alert("pwned")' not in dom
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
