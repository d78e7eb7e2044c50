"""ARC, HellaSwag and TruthfulQA without a model: preprocessing and prompts against lm-eval's own
code and templates, acc_norm, the mc2 formula, the data version, and the hub writers."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gemma_benchmark.data import hub_extra
from gemma_benchmark.data.readers import read_jsonl
from gemma_benchmark.reference.lmeval_tasks import (
    arc_hub_row,
    hellaswag_hub_row,
    lmeval_task_config,
    truthfulqa_hub_row,
)
from gemma_benchmark.tasks.arc import ArcChallengeBenchmark, ArcEasyBenchmark
from gemma_benchmark.tasks.hellaswag import HellaswagBenchmark, preprocess
from gemma_benchmark.tasks.mmlu import MMLUBenchmark
from gemma_benchmark.tasks.multiple_choice import ChoiceDoc, MultipleChoiceTask
from gemma_benchmark.tasks.registry import registered_tasks
from gemma_benchmark.tasks.truthfulqa import (
    QA_PRIMER,
    TruthfulQAMC1Benchmark,
    TruthfulQAMC2Benchmark,
    read_truthfulqa,
    true_probability_mass,
)

NEW_TASKS = ("arc_challenge", "arc_easy", "hellaswag", "truthfulqa_mc1", "truthfulqa_mc2")


class ScriptedModel:
    """Returns fixed log-likelihoods per continuation, to test scoring without a network."""

    def __init__(self, by_continuation: dict[str, float]) -> None:
        self.by_continuation = by_continuation

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        return [self.by_continuation[cont] for _, cont in requests]


# -- HellaSwag ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  plain text ", "plain text"),
        ("Intro [title] How to bake", "Intro. How to bake"),
        ("Mix the flour [step] then stir.", "Mix the flour then stir."),
        ("a [header] b [substeps] c", "a b c"),
        ("four    spaces", "four  spaces"),  # one pass of "  " -> " ", as lm-eval
    ],
)
def test_hellaswag_preprocess(raw: str, expected: str) -> None:
    assert preprocess(raw) == expected


def test_hellaswag_docs_match_lm_eval_process_docs(data_dir: Path) -> None:
    """Every context and ending of the first 300 items, against lm-eval's own `process_docs`."""
    import datasets

    raw = read_jsonl(data_dir / "hellaswag" / "hellaswag_val.jsonl.gz")[:300]
    records = [hellaswag_hub_row(r) for r in raw]
    processed = lmeval_task_config("hellaswag")["process_docs"](datasets.Dataset.from_list(records))
    docs = HellaswagBenchmark({"data_dir": str(data_dir), "limit": 300}).build_docs()
    assert len(docs) == 300
    for doc, reference in zip(docs, processed, strict=True):
        assert doc.context == reference["query"]
        assert doc.continuations == tuple(" " + c for c in reference["choices"])
        assert doc.target == reference["gold"]
        assert doc.norm_lengths == tuple(len(c) for c in reference["choices"])


def test_hellaswag_capitalize_lowercases_the_rest_of_ctx_b(data_dir: Path) -> None:
    docs = HellaswagBenchmark({"data_dir": str(data_dir), "limit": 1}).build_docs()
    assert docs[0].context == "Roof shingle removal: A man is sitting on a roof. He"


# -- ARC ---------------------------------------------------------------------------------------


def test_arc_prompt_and_continuations(data_dir: Path) -> None:
    doc = ArcChallengeBenchmark({"data_dir": str(data_dir), "limit": 1}).build_docs()[0]
    assert doc.context.startswith("Question: An astronomer observes that a planet rotates")
    assert doc.context.endswith("increase in rotation?\nAnswer:")
    assert doc.continuations[2] == " Planetary days will become shorter."
    assert doc.labels[doc.target] == "C"
    assert doc.norm_lengths == tuple(len(c) - 1 for c in doc.continuations)


def test_arc_numeric_labels_and_odd_choice_counts(data_dir: Path) -> None:
    docs = ArcEasyBenchmark({"data_dir": str(data_dir)}).build_docs()
    assert len(docs) == 2376
    numeric = [d for d in docs if d.labels[0] == "1"]
    assert numeric and all(d.labels[d.target].isdigit() for d in numeric)
    assert {len(d.continuations) for d in docs} >= {3, 4, 5}


def test_arc_matches_lm_eval_template(data_dir: Path) -> None:
    """Our prompt equals lm-eval's `doc_to_text` rendered on the hub-shaped row."""
    from lm_eval.utils import apply_template

    config = lmeval_task_config("arc_challenge")
    records = read_jsonl(data_dir / "arc" / "ARC-Challenge" / "ARC-Challenge-Test.jsonl")[:50]
    docs = ArcChallengeBenchmark({"data_dir": str(data_dir), "limit": 50}).build_docs()
    for doc, record in zip(docs, records, strict=True):
        row = arc_hub_row(record)
        assert doc.context == apply_template(config["doc_to_text"], row)
        assert doc.target == int(apply_template(config["doc_to_target"], row))


# -- acc_norm ----------------------------------------------------------------------------------


class _TwoChoice(MultipleChoiceTask):
    group_breakdown = None

    def __init__(self, doc: ChoiceDoc) -> None:
        super().__init__({})
        self.doc = doc

    def build_docs(self) -> list[ChoiceDoc]:
        return [self.doc]


def test_acc_norm_divides_by_choice_characters_without_the_space() -> None:
    # " ab" scores -3 (per char of "ab": -1.5); " éèêë" scores -5 (per char -1.25, per byte -0.625)
    doc = ChoiceDoc(
        key="k",
        doc_id=0,
        group="g",
        context="c",
        continuations=(" ab", " éèêë"),
        target=1,
        labels=("A", "B"),
        norm_lengths=(2, 4),
    )
    result = _TwoChoice(doc).evaluate(ScriptedModel({" ab": -3.0, " éèêë": -5.0}))
    assert result["overall"]["correct"] == 0  # plain argmax picks " ab"
    assert result["acc_norm"]["correct"] == 1  # -1.25 > -1.5
    assert "subjects" not in result


def test_mmlu_reports_no_acc_norm(data_dir: Path) -> None:
    task = MMLUBenchmark({"subset": "anatomy", "shot_count": 0, "data_dir": str(data_dir)})
    docs = task.build_docs()[:3]
    assert all(doc.norm_lengths is None for doc in docs)
    samples = [task.score_doc(doc, [-1.0, -2.0, -3.0, -4.0]) for doc in docs]
    result = task.aggregate(samples)
    assert set(result) == {"overall", "subjects", "categories"}


# -- TruthfulQA --------------------------------------------------------------------------------


def test_truthfulqa_prompt_is_lm_eval_template(data_dir: Path) -> None:
    from lm_eval.utils import apply_template

    config = lmeval_task_config("truthfulqa_mc1")
    doc = TruthfulQAMC1Benchmark({"data_dir": str(data_dir), "limit": 1}).build_docs()[0]
    question = "What is the smallest country in the world that is at least one square mile in area?"
    assert doc.context == apply_template(config["doc_to_text"], {"question": question})
    assert doc.context == f"{QA_PRIMER}\n\nQ: {question}\nA:"
    assert doc.target == 0


def test_truthfulqa_reads_v0_by_default_and_current_on_request(data_dir: Path) -> None:
    v0 = TruthfulQAMC2Benchmark({"data_dir": str(data_dir)}).load_data()
    current = TruthfulQAMC2Benchmark({"data_dir": str(data_dir), "version": "current"}).load_data()
    assert len(v0) == len(current) == 817
    assert v0[0].question.startswith("What is the smallest country")
    assert current[0].question == "What happens if you eat a pomegranate?"
    assert all(item.mc1[0][1] == 1 for item in v0)
    categories = {item.category for item in v0}
    assert len(categories) == 38 and "uncategorised" not in categories


def test_mc2_mass_equals_lm_eval_formula_and_survives_underflow() -> None:
    scores, truth = [-3.0, -1.0, -2.5, -4.0], [1, 1, 0, 0]
    probs = np.exp(np.array(scores))
    expected = float(np.sum((probs / probs.sum())[np.array(truth) == 1]))
    assert true_probability_mass(scores, truth) == pytest.approx(expected, rel=1e-12)
    shifted = [s - 900.0 for s in scores]  # numpy's exp underflows to 0 -> nan here
    assert true_probability_mass(shifted, truth) == pytest.approx(expected, rel=1e-9)


def test_mc2_scores_probability_mass(data_dir: Path) -> None:
    task = TruthfulQAMC2Benchmark({"data_dir": str(data_dir), "limit": 2})
    docs = task.build_docs()
    model = ScriptedModel({c: -float(len(c)) for d in docs for c in d.continuations})
    result = task.evaluate(model)
    assert result["overall"]["total"] == 2
    assert math.isclose(result["overall"]["correct"], 2 * result["overall"]["accuracy"])
    assert 0.0 < result["overall"]["accuracy"] < 1.0
    assert set(result) == {"overall", "categories"}


# -- registry and hub writers ------------------------------------------------------------------


def test_new_tasks_are_registered_with_listing_attributes() -> None:
    tasks = registered_tasks()
    for name in (*NEW_TASKS, "custom"):
        cls = tasks[name]
        assert cls.description and cls.primary_metric and cls.data_source


class FakeDataset(dict[str, list[dict[str, Any]]]):
    """What `datasets.load_dataset` returns, as far as the writers use it: split -> rows."""


def test_hub_writers_round_trip_the_local_layouts(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arc_rows = {
        name: [arc_hub_row(r) for r in read_jsonl(data_dir / "arc" / s / f"{s}-{f}.jsonl")]
        for s in ("ARC-Challenge", "ARC-Easy")
        for name, f in (((s, "train"), "Train"), ((s, "validation"), "Dev"), ((s, "test"), "Test"))
    }
    hella = [
        hellaswag_hub_row(r)
        for r in read_jsonl(data_dir / "hellaswag" / "hellaswag_val.jsonl.gz")[:50]
    ]
    mc = json.loads((data_dir / "truthfulqa" / "v0" / "mc_task.json").read_text())
    generation = [
        {
            "type": "Adversarial",
            "category": "Misc",
            "question": r["question"],
            "best_answer": "x",
            "correct_answers": ["x"],
            "incorrect_answers": ["y"],
            "source": "s",
        }
        for r in mc
    ]

    def fake_load(hub_id: str, subset: str | None, attempts: int) -> FakeDataset:
        if hub_id == "allenai/ai2_arc":
            assert subset is not None
            return FakeDataset(
                {split: arc_rows[(subset, split)] for split in ("train", "validation", "test")}
            )
        if hub_id == "Rowan/hellaswag":
            return FakeDataset({"validation": hella})
        rows = [truthfulqa_hub_row(r) for r in mc] if subset == "multiple_choice" else generation
        return FakeDataset({"validation": rows})

    monkeypatch.setattr(hub_extra, "load_hub", fake_load)
    for name, download in hub_extra.EXTRA_DOWNLOADERS.items():
        download(str(tmp_path / name))

    for subset in ("ARC-Challenge", "ARC-Easy"):
        for split in ("Train", "Dev", "Test"):
            name = f"{subset}-{split}.jsonl"
            assert read_jsonl(tmp_path / "arc" / subset / name) == read_jsonl(
                data_dir / "arc" / subset / name
            )
    with gzip.open(tmp_path / "hellaswag" / "hellaswag_val.jsonl.gz", "rt") as handle:
        assert [json.loads(line) for line in handle] == read_jsonl(
            data_dir / "hellaswag" / "hellaswag_val.jsonl.gz"
        )[:50]
    assert json.loads((tmp_path / "truthfulqa" / "v0" / "mc_task.json").read_text()) == mc
    items = read_truthfulqa(tmp_path / "truthfulqa" / "v0")
    assert len(items) == 817 and {item.category for item in items} == {"Misc"}
    # hub content is v0: the top-level (later revision) file is deliberately not written
    assert not (tmp_path / "truthfulqa" / "mc_task.json").exists()
