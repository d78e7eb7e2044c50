"""MMLU side by side: lm-evaluation-harness (HF backend) against gemma-benchmark.

Same tiny random model, same subjects, same batch size, float32, CPU. For each shot count it
prints wall time of each harness's evaluation (model already loaded for both), their ratio, and
per-item agreement of the predicted letter.

    python benchmarks/mmlu_vs_lmeval.py --subjects 8 --limit 40 --shots 0 5
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from gemma_benchmark.core.model_loader import HuggingFaceLoader
from gemma_benchmark.reference.lmeval_runner import make_hflm, run_lmeval_mmlu
from gemma_benchmark.tasks.mmlu import MMLUBenchmark
from gemma_benchmark.tasks.mmlu_subjects import SUBJECT_CATEGORIES
from gemma_benchmark.tiny_model import TinyShape, build_tiny_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=os.environ.get("GEMMA_BENCHMARK_DATA_DIR", DEFAULT_DATA)
    )
    parser.add_argument("--model", help="checkpoint dir; default: build a tiny Gemma")
    parser.add_argument("--hidden-size", type=int, default=256, help="tiny model width")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--subjects", type=int, default=8, help="first N subjects")
    parser.add_argument("--limit", type=int, default=40, help="questions per subject")
    parser.add_argument("--shots", type=int, nargs="+", default=[0, 5])
    parser.add_argument("--batch-size", type=int, default=16)
    return parser.parse_args()


def run_ours(
    model: Any, data_dir: str, subjects: list[str], shots: int, limit: int
) -> tuple[float, dict[tuple[str, int], str], Any]:
    """(seconds, predictions, engine stats) of gemma-benchmark's MMLU task."""
    from gemma_benchmark.backends.hf_loglikelihood import EngineStats

    task = MMLUBenchmark(
        {"subset": subjects, "shot_count": shots, "limit": limit, "data_dir": data_dir}
    )
    samples: list[dict[str, Any]] = []
    task.sample_sinks.append(samples.extend)
    model.engine_stats = EngineStats()
    start = time.perf_counter()
    task.evaluate(model)
    elapsed = time.perf_counter() - start
    predictions = {(s["subject"], s["doc_id"]): s["prediction"] for s in samples}
    return elapsed, predictions, model.engine_stats


def main() -> None:
    args = parse_args()
    subjects = sorted(SUBJECT_CATEGORIES)[: args.subjects]
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or str(
            build_tiny_model(
                Path(tmp) / "tiny",
                "gemma",
                0,
                shape=TinyShape(
                    hidden_size=args.hidden_size,
                    num_hidden_layers=args.layers,
                    intermediate_size=4 * args.hidden_size,
                ),
                data_dir=str(args.data_dir),
            )
        )
        ours_model = HuggingFaceLoader().load_model(path, batch_size=args.batch_size)
        params = sum(p.numel() for p in ours_model.model.parameters())
        reference = make_hflm(path, batch_size=args.batch_size)
        print(
            f"model: {path} ({params / 1e6:.1f}M params), subjects: {len(subjects)}, "
            f"limit {args.limit}/subject, batch size {args.batch_size}"
        )
        header = (
            "shots",
            "items",
            "lm-eval s",
            "ours s",
            "speed-up",
            "agreement",
            "tok/q lm-eval",
            "tok/q ours",
        )
        print(" ".join(f"{h:>13}" for h in header))
        for shots in args.shots:
            start = time.perf_counter()
            ref_items = run_lmeval_mmlu(
                reference, Path(args.data_dir) / "mmlu", subjects, shots, limit=args.limit
            )
            ref_time = time.perf_counter() - start
            our_time, ours, stats = run_ours(
                ours_model, str(args.data_dir), subjects, shots, args.limit
            )
            agree = sum(ours[(r.subject, r.doc_id)] == r.prediction for r in ref_items)
            n = len(ref_items)
            row = (
                shots,
                n,
                f"{ref_time:.2f}",
                f"{our_time:.2f}",
                f"{ref_time / our_time:.2f}x",
                f"{100 * agree / n:.2f}%",
                # lm-eval runs every distinct input whole: exactly our `tokens_full`
                f"{stats.tokens_full / n:.0f}",
                f"{stats.tokens_forwarded / n:.0f}",
            )
            print(" ".join(f"{v!s:>13}" for v in row))


if __name__ == "__main__":
    main()
