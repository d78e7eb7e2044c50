"""ChartGenerator on a realistic hand-built results dict: files, formats, labels, bad input."""

from __future__ import annotations

import copy
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from gemma_benchmark.visualization.charts import ChartGenerator, render_all_charts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"
MODELS = ("gemma-2b", "gemma-9b")
SUBJECTS = {
    "abstract_algebra": "stem",
    "college_physics": "stem",
    "high_school_biology": "stem",
    "philosophy": "humanities",
    "world_religions": "humanities",
    "high_school_us_history": "humanities",
    "econometrics": "social_sciences",
    "sociology": "social_sciences",
    "marketing": "other",
    "nutrition": "other",
}
LENGTHS = (128, 256, 512)


def _stats(correct: int, total: int) -> dict[str, Any]:
    accuracy = correct / total
    return {
        "correct": correct,
        "total": total,
        "accuracy": accuracy,
        "stderr": (accuracy * (1 - accuracy) / (total - 1)) ** 0.5,
    }


def _mmlu(skill: int) -> dict[str, Any]:
    subjects = {
        name: _stats(min(100, 25 + skill + 5 * index), 100) for index, name in enumerate(SUBJECTS)
    }
    categories: dict[str, dict[str, int]] = {}
    for name, category in SUBJECTS.items():
        entry = categories.setdefault(category, {"correct": 0, "total": 0})
        entry["correct"] += subjects[name]["correct"]
        entry["total"] += subjects[name]["total"]
    correct = sum(s["correct"] for s in subjects.values())
    return {
        "overall": _stats(correct, 100 * len(SUBJECTS)),
        "subjects": subjects,
        "categories": {c: _stats(e["correct"], e["total"]) for c, e in categories.items()},
    }


def _gsm8k(correct: int, completion: str) -> dict[str, Any]:
    return {
        "overall": _stats(correct, 200),
        "metrics": {"exact_match_strict": _stats(correct - 5, 200)},
        "config": {"shot_count": 5, "use_chain_of_thought": True, "num_samples": 200},
        "failed_examples": [
            {
                "doc_id": "7",
                "question": "Tom has 3 apples and buys 4 more. How many?",
                "completion": completion,
                "extracted": "12",
                "target": "7",
            }
        ],
    }


def _humaneval(passed: int, completion: str) -> dict[str, Any]:
    return {
        "overall": {"passed": passed, "total": 164, "pass_at_1": passed / 164},
        "pass_at_k": {"pass@1": passed / 164},
        "config": {"temperature": 0.0, "n_samples": 1},
        "failed_examples": [
            {
                "task_id": "HumanEval/0",
                "completion": completion,
                "status": "failed",
                "stderr_tail": "AssertionError: expected True",
            }
        ],
    }


def _efficiency(speed: float, decode_pct: float | None) -> dict[str, Any]:
    keys = [f"tokens_{n}" for n in LENGTHS]
    roofline = {
        "decode_pct_of_limit": decode_pct,
        "prefill_pct_of_limit": None if decode_pct is None else decode_pct / 2,
        "hardware": None if decode_pct is None else "H100 SXM",
        "note": "CPUs are not in the peak table" if decode_pct is None else None,
    }
    points = {k: {"roofline": roofline} for k in keys}
    return {
        "latency": {k: n / speed for k, n in zip(keys, LENGTHS, strict=True)},
        "memory_usage": {k: 1.0 + n / 1024 for k, n in zip(keys, LENGTHS, strict=True)},
        "tokens_per_second": {
            k: speed * (1 - n / 4096) for k, n in zip(keys, LENGTHS, strict=True)
        },
        "system_info": {"os": "Linux", "cpu_count": 8},
        "primary": {"mode": "eager", "batch_size": 1},
        "measurements": {"eager": {"batch_1": points}},
    }


def realistic_results(completion: str = "The answer is 12.") -> dict[str, Any]:
    """Two models × mmlu, gsm8k, humaneval, efficiency; gemma-9b has repeated gsm8k runs."""
    results: dict[str, Any] = {
        "gemma-2b": {
            "mmlu": _mmlu(10),
            "gsm8k": _gsm8k(40, completion),
            "humaneval": _humaneval(30, completion),
            "efficiency": _efficiency(40.0, 55.0),
        },
        "gemma-9b": {
            "mmlu": _mmlu(30),
            "gsm8k": _gsm8k(120, completion),
            "humaneval": _humaneval(70, completion),
            "efficiency": _efficiency(25.0, None),
        },
    }
    results["gemma-9b"]["gsm8k"]["runs"] = {
        "requested": 3,
        "completed": 3,
        "aggregate": {
            "overall.accuracy": {
                "mean": 0.6,
                "std": 0.02,
                "min": 0.58,
                "max": 0.62,
                "ci_low": 0.55,
                "ci_high": 0.65,
                "n_runs": 3,
                "values": [0.58, 0.6, 0.62],
            }
        },
    }
    return results


@pytest.fixture
def results() -> dict[str, Any]:
    return realistic_results()


def svg_texts(path: str) -> list[str]:
    """All text of an SVG chart (valid XML, else the parse raises)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg"
    return ["".join(node.itertext()) for node in root.iter(f"{SVG_NS}text")]


def _joined(path: str) -> str:
    return "\n".join(svg_texts(path))


def test_heatmap_png_and_svg(results: dict[str, Any], tmp_path: Path) -> None:
    png = ChartGenerator(tmp_path).create_performance_heatmap(results)
    assert Path(png).read_bytes().startswith(PNG_MAGIC)
    text = _joined(ChartGenerator(tmp_path, fmt="svg").create_performance_heatmap(results))
    for label in (*MODELS, "mmlu", "gsm8k", "humaneval", "Performance by model and task"):
        assert label in text
    assert "60.0%" in text  # gemma-9b gsm8k: the mean over runs
    assert "efficiency" in text  # named in the note as not shown


def test_heatmap_accepts_results_document(results: dict[str, Any], tmp_path: Path) -> None:
    document = {"schema_version": 1, "metadata": {}, "results": results, "comparisons": {}}
    path = ChartGenerator(tmp_path, fmt="svg").create_performance_heatmap(document)
    assert "gemma-9b" in _joined(path)


def test_comparison_chart(results: dict[str, Any], tmp_path: Path) -> None:
    path = ChartGenerator(tmp_path, fmt="svg").create_model_comparison_chart(results, "humaneval")
    text = _joined(path)
    assert "humaneval: pass@1 by model" in text
    assert "pass@1 (%)" in text
    assert "Wilson" in text  # error bars explained
    assert Path(ChartGenerator(tmp_path).create_model_comparison_chart(results, "mmlu")).exists()


def test_efficiency_charts(results: dict[str, Any], tmp_path: Path) -> None:
    paths = ChartGenerator(tmp_path, fmt="svg").create_efficiency_comparison_chart(results)
    assert set(paths) == {"latency", "memory", "throughput"}
    expected = {"latency": "latency (s)", "memory": "memory (GB)", "throughput": "(tokens/s)"}
    for name, path in paths.items():
        text = _joined(path)
        assert expected[name] in text
        assert "Output length (tokens)" in text
        assert all(model in text for model in MODELS)
        assert all(str(n) in text for n in LENGTHS)


def test_subject_breakdown(results: dict[str, Any], tmp_path: Path) -> None:
    generator = ChartGenerator(tmp_path, fmt="svg")
    text = _joined(generator.create_subject_breakdown_chart(results, "gemma-2b", "mmlu"))
    assert "abstract algebra" in text and "social sciences" in text
    assert "mmlu by subject: gemma-2b" in text
    png = ChartGenerator(tmp_path).create_subject_breakdown_chart(results, "gemma-9b", "mmlu")
    assert Path(png).read_bytes().startswith(PNG_MAGIC)


def test_render_all_charts(results: dict[str, Any], tmp_path: Path) -> None:
    paths = render_all_charts(results, tmp_path / "charts")
    names = sorted(Path(p).name for p in paths)
    assert "performance_heatmap.png" in names
    assert {"comparison_mmlu.png", "comparison_gsm8k.png", "comparison_humaneval.png"} <= set(names)
    assert {"efficiency_latency.png", "subjects_mmlu_gemma-2b.png"} <= set(names)
    assert len(names) == 1 + 3 + 3 + 2
    assert all(Path(p).read_bytes().startswith(PNG_MAGIC) for p in paths)


def test_failed_task_and_model_are_skipped_with_a_note(
    results: dict[str, Any], tmp_path: Path
) -> None:
    results["gemma-2b"]["gsm8k"] = {"status": "failed", "error": "RuntimeError: CUDA OOM"}
    results["broken-model"] = {"error": "repository not found"}
    generator = ChartGenerator(tmp_path, fmt="svg")
    text = _joined(generator.create_model_comparison_chart(results, "gsm8k"))
    assert "Skipped gemma-2b: failed: RuntimeError: CUDA OOM" in text
    assert "Skipped broken-model: model failed to load" in text
    heatmap = _joined(generator.create_performance_heatmap(results))
    assert "failed" in heatmap and "broken-model" in heatmap
    efficiency = _joined(generator.create_efficiency_comparison_chart(results)["latency"])
    assert "Skipped broken-model" in efficiency


def test_model_names_with_markup_are_drawn_literally(tmp_path: Path) -> None:
    results = {"<b>$x$</b>": {"gsm8k": _gsm8k(10, "")}}
    path = ChartGenerator(tmp_path, fmt="svg").create_model_comparison_chart(results, "gsm8k")
    assert "<b>$x$</b>" in _joined(path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda g, r: g.create_model_comparison_chart(r, "nope"), "task 'nope' is not in"),
        (lambda g, r: g.create_model_comparison_chart(r, "efficiency"), "no model has"),
        (lambda g, r: g.create_subject_breakdown_chart(r, "ghost", "mmlu"), "not in results"),
        (lambda g, r: g.create_subject_breakdown_chart(r, "gemma-2b", "gsm8k"), "no per-subject"),
        (lambda g, r: g.create_subject_breakdown_chart(r, "gemma-2b", "nope"), "not run"),
        (lambda g, r: g.create_performance_heatmap({}), "no model has a task"),
        (lambda g, r: g.create_efficiency_comparison_chart({"m": {}}), "no efficiency"),
        (lambda g, r: g.create_performance_heatmap([1, 2]), "must be a dict"),
        (lambda g, r: g.create_performance_heatmap({"m": 3}), "are not dicts"),
        (lambda g, r: g.create_performance_heatmap({"schema_version": 1, "results": 5}), "dict"),
    ],
)
def test_bad_input_raises_value_error(
    call: Any, message: str, results: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        call(ChartGenerator(tmp_path), results)


def test_malformed_values_never_raise_type_error(results: dict[str, Any], tmp_path: Path) -> None:
    broken = copy.deepcopy(results)
    broken["gemma-2b"]["mmlu"]["overall"] = {"accuracy": "high", "total": None}
    broken["gemma-2b"]["mmlu"]["subjects"]["philosophy"] = "n/a"
    broken["gemma-2b"]["gsm8k"] = ["not", "a", "dict"]
    broken["gemma-2b"]["efficiency"]["latency"] = {"tokens_128": None, "weird": 1.0}
    broken["gemma-9b"]["humaneval"]["runs"] = {"aggregate": {"overall.pass_at_1": 3}}
    generator = ChartGenerator(tmp_path, fmt="svg")
    assert "n/a" in _joined(generator.create_performance_heatmap(broken))
    assert Path(generator.create_subject_breakdown_chart(broken, "gemma-2b", "mmlu")).exists()
    assert Path(generator.create_model_comparison_chart(broken, "humaneval")).exists()
    assert len(generator.create_efficiency_comparison_chart(broken)) == 3


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="png, svg"):
        ChartGenerator(tmp_path, fmt="jpg")


def test_importing_does_no_work() -> None:
    """No matplotlib (or backend choice) at import: only drawing loads it."""
    code = (
        "import sys, gemma_benchmark.visualization as v, gemma_benchmark.visualization.charts, "
        "gemma_benchmark.visualization.cli_commands; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'; "
        "assert v.ChartGenerator is gemma_benchmark.visualization.charts.ChartGenerator"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_drawing_leaves_matplotlib_global_state_alone(
    results: dict[str, Any], tmp_path: Path
) -> None:
    import matplotlib

    before = (matplotlib.get_backend(), dict(matplotlib.rcParams))
    ChartGenerator(tmp_path, fmt="svg").create_performance_heatmap(results)
    assert (matplotlib.get_backend(), dict(matplotlib.rcParams)) == before
