"""GSM8K side by side: lm-evaluation-harness (HF backend) against gemma-benchmark.

Same tiny random Gemma, same first N test items, same batch size, float32, CPU. Reports
completions/s of each harness end to end (task set-up, prompts, generation, scoring; models
already loaded; lm-eval without indexing its task library) and of the generation phase alone,
their ratios, and per-item agreement (prompt, completion, exact-match decisions).
`--engines` also times transformers' continuous-batching `generate_batch` against padded
`generate` on the same prompts: the comparison behind hf_generate's choice.

    python benchmarks/gsm8k_vs_lmeval.py --items 32 --max-new-tokens 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from gemma_benchmark.backends.hf_generate import (
    GenerationRequest,
    decode_continuation,
    encode_prompts,
    eos_token_ids,
    generation_config,
    stop_strings,
)
from gemma_benchmark.core.model_loader import HuggingFaceLoader, ModelWrapper
from gemma_benchmark.reference.lmeval_gsm8k import (
    ReferenceGeneration,
    make_lmeval_model,
    run_lmeval_gsm8k,
)
from gemma_benchmark.tasks.gsm8k import STOPS, Gsm8kBenchmark
from gemma_benchmark.tiny_model import build_tiny_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=os.environ.get("GEMMA_BENCHMARK_DATA_DIR", DEFAULT_DATA)
    )
    parser.add_argument("--model", help="checkpoint dir; default: build the tests' tiny Gemma")
    parser.add_argument("--items", type=int, default=32, help="first N test items")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--cot", action="store_true", help="gsm8k_cot format")
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings per side")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: leave as is)")
    parser.add_argument(
        "--lmeval-batch-sizes", type=int, nargs="*", default=[], help="extra lm-eval runs"
    )
    parser.add_argument("--engines", action="store_true", help="also time continuous batching")
    return parser.parse_args()


class Timed:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function, self.seconds = function, 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


@dataclass
class Run:
    total_s: float
    generation_s: float
    samples: list[dict[str, Any]]


def run_ours(model: ModelWrapper, args: argparse.Namespace) -> Run:
    options = {
        "data_dir": str(args.data_dir),
        "shot_count": args.shots,
        "use_chain_of_thought": args.cot,
        "max_new_tokens": args.max_new_tokens,
    }
    task = Gsm8kBenchmark(options)
    samples: list[dict[str, Any]] = []
    task.sample_sinks.append(samples.extend)
    timed = Timed(model.generate_batch)
    model.generate_batch = timed  # type: ignore[method-assign]
    start = time.perf_counter()
    try:
        task.evaluate(model, num_samples=args.items)
    finally:
        del model.generate_batch
    total = time.perf_counter() - start
    return Run(total, timed.seconds, sorted(samples, key=lambda s: int(s["doc_id"])))


def run_lmeval(model: Any, args: argparse.Namespace) -> tuple[Run, list[ReferenceGeneration]]:
    timed = Timed(model.generate_until)
    model.generate_until = timed
    start = time.perf_counter()
    try:
        items = run_lmeval_gsm8k(
            model,
            Path(args.data_dir) / "gsm8k",
            shots=args.shots,
            limit=args.items,
            chain_of_thought=args.cot,
            max_new_tokens=args.max_new_tokens,
        )
    finally:
        del model.generate_until
    return Run(time.perf_counter() - start, timed.seconds, []), items


def interleaved_best(
    repeats: int, ours: Callable[[], Run], theirs: Callable[[], tuple[Run, Any]]
) -> tuple[Run, tuple[Run, Any]]:
    """Alternate the two sides (a busy machine slows both alike); keep each side's best times."""
    mine: list[Run] = []
    reference: list[tuple[Run, Any]] = []
    for _ in range(repeats):
        mine.append(ours())
        reference.append(theirs())
    their_runs = [run for run, _ in reference]
    return fastest(mine), (fastest(their_runs), reference[0][1])


def fastest(runs: list[Run]) -> Run:
    """The best total and the best generation time seen (each may come from a different run)."""
    return Run(
        min(run.total_s for run in runs), min(run.generation_s for run in runs), runs[0].samples
    )


def agreement(ours: list[dict[str, Any]], reference: list[ReferenceGeneration]) -> dict[str, float]:
    pairs = list(zip(ours, reference, strict=True))

    def share(test: Callable[[dict[str, Any], ReferenceGeneration], bool]) -> float:
        return sum(test(s, r) for s, r in pairs) / len(pairs)

    return {
        "prompt": share(lambda s, r: s["prompt"] == r.prompt),
        "completion": share(lambda s, r: s["completion"] == r.completion),
        "strict": share(
            lambda s, r: (s["extracted_strict"] == s["target"]) == r.exact_match_strict
        ),
        "flexible": share(lambda s, r: bool(s["correct"]) == r.exact_match_flexible),
    }


def continuous_batching(wrapper: ModelWrapper, prompts: list[str], new_tokens: int) -> list[str]:
    """transformers' `generate_batch` (paged cache, requests refilled as others finish). It stops
    on EOS tokens only, so stop strings are applied to the text afterwards."""
    request = GenerationRequest(max_new_tokens=new_tokens, stop=STOPS[False])
    rows = encode_prompts(wrapper, prompts, new_tokens)
    config = generation_config(wrapper.model, wrapper.tokenizer, request)
    with torch.inference_mode():
        outputs = wrapper.model.generate_batch(rows, generation_config=config, progress_bar=False)
    stops = stop_strings(wrapper.tokenizer, request)
    eos_ids = frozenset(eos_token_ids(wrapper.model, wrapper.tokenizer))
    if len(outputs) != len(prompts):
        raise RuntimeError(f"continuous batching returned {len(outputs)} of {len(prompts)}")
    return [  # transformers returns them in input order
        decode_continuation(wrapper.tokenizer, out.generated_tokens, stops, eos_ids)
        for out in outputs.values()
    ]


def compare_engines(wrapper: ModelWrapper, prompts: list[str], args: argparse.Namespace) -> None:
    stops = list(STOPS[args.cot])
    padded = Timed(wrapper.generate_batch)
    expected = padded(prompts, args.max_new_tokens, stop=stops)
    paged = Timed(continuous_batching)
    got = paged(wrapper, prompts, args.max_new_tokens)
    same = sum(a == b for a, b in zip(expected, got, strict=True))
    print(
        f"engines, {len(prompts)} prompts: padded generate {len(prompts) / padded.seconds:.2f}/s, "
        f"continuous batching {len(prompts) / paged.seconds:.2f}/s "
        f"({padded.seconds / paged.seconds:.2f}x), identical {same}/{len(prompts)}"
    )


def report(label: str, items: int, run: Run, ours: Run | None = None) -> None:
    line = f"{label:<22} {items / run.total_s:>9.2f} {items / run.generation_s:>11.2f}"
    if ours is not None:
        line += (
            f"   ours is {run.total_s / ours.total_s:.2f}x end to end, "
            f"{run.generation_s / ours.generation_s:.2f}x in generation"
        )
    print(line)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or str(
            build_tiny_model(Path(tmp) / "tiny", "gemma", 0, data_dir=str(args.data_dir))
        )
        ours_model = HuggingFaceLoader().load_model(path, batch_size=args.batch_size)
        reference = make_lmeval_model(path, batch_size=args.batch_size)
        print(
            f"model {path}, {args.items} items, {args.shots}-shot{' CoT' if args.cot else ''}, "
            f"max_new_tokens {args.max_new_tokens}, batch size {args.batch_size}, "
            f"torch threads {torch.get_num_threads()}, best of {args.repeats}"
        )
        ours, (theirs, ref_items) = interleaved_best(
            args.repeats, lambda: run_ours(ours_model, args), lambda: run_lmeval(reference, args)
        )
        print(f"{'':<22} {'total c/s':>9} {'generate c/s':>11}")
        report("gemma-benchmark", args.items, ours)
        report(f"lm-eval bs={args.batch_size}", args.items, theirs, ours)
        for size in args.lmeval_batch_sizes:
            other, _ = run_lmeval(make_lmeval_model(path, batch_size=size), args)
            report(f"lm-eval bs={size}", args.items, other, ours)
        shares = agreement(ours.samples, ref_items)
        print("agreement: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares.items()))
        if args.engines:
            compare_engines(ours_model, [s["prompt"] for s in ours.samples], args)


if __name__ == "__main__":
    main()
