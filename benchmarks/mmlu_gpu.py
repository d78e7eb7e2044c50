"""Full MMLU (14,042 questions, 5-shot) on a GPU: gemma-benchmark against lm-evaluation-harness.

Builds a random-weight Gemma-2-2B-shaped bf16 model (weights do not change speed; the tokenizer is
the project's locally trained one, so token counts are close to but not Gemma's), saves it, and
runs both harnesses on it with the same batch size. Prints questions/s for each, the ratio,
per-item agreement, tokens processed, and the physical limit: tokens x 2 x params / peak FLOP/s.

    python benchmarks/mmlu_gpu.py                 # needs CUDA
    python benchmarks/mmlu_gpu.py --tiny          # a CPU dry run of the same script
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from gemma_benchmark.core.model_loader import HuggingFaceLoader
from gemma_benchmark.reference.lmeval_runner import run_lmeval_mmlu
from gemma_benchmark.tasks.mmlu_subjects import SUBJECT_CATEGORIES
from gemma_benchmark.tiny_model import TinyShape, build_tiny_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mmlu_vs_lmeval import run_ours

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GEMMA2_2B = TinyShape(
    vocab_size=4096,
    hidden_size=2304,
    intermediate_size=9216,
    num_hidden_layers=26,
    num_attention_heads=8,
    num_key_value_heads=4,
    head_dim=256,
    max_position_embeddings=8192,
    init_std=0.02,
)
H200_BF16_FLOPS = 989e12


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=os.environ.get("GEMMA_BENCHMARK_DATA_DIR", DEFAULT_DATA)
    )
    parser.add_argument("--tiny", action="store_true", help="CPU dry run: tiny model, 2 subjects")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="questions per subject")
    parser.add_argument("--peak-tflops", type=float, default=H200_BF16_FLOPS / 1e12)
    return parser.parse_args()


def build(args: argparse.Namespace, root: Path) -> tuple[str, str]:
    """(checkpoint dir, dtype name)."""
    shape = TinyShape() if args.tiny else GEMMA2_2B
    path = build_tiny_model(root / "model", "gemma2", 0, shape=shape, data_dir=str(args.data_dir))
    if args.tiny:
        return str(path), "float32"
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16)
    model.save_pretrained(path)  # re-saved in bf16 for both harnesses
    return str(path), "bfloat16"


def main() -> None:
    args = parse_args()
    if not args.tiny and not torch.cuda.is_available():
        print("mmlu_gpu.py needs CUDA (use --tiny for a CPU dry run)", file=sys.stderr)
        raise SystemExit(2)
    subjects = sorted(SUBJECT_CATEGORIES)[:2] if args.tiny else sorted(SUBJECT_CATEGORIES)
    limit = args.limit or (5 if args.tiny else None)
    device = "cpu" if args.tiny else "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        path, dtype = build(args, Path(tmp))
        ours_model = HuggingFaceLoader().load_model(
            path, precision=dtype, device=device, batch_size=args.batch_size
        )
        params = sum(p.numel() for p in ours_model.model.parameters())
        ours_time, ours, stats = run_ours(
            ours_model, str(args.data_dir), subjects, 5, limit or 10**6
        )
        del ours_model
        if device == "cuda":
            torch.cuda.empty_cache()
        reference = make_reference(path, args.batch_size, dtype, device)
        start = time.perf_counter()
        items = run_lmeval_mmlu(reference, Path(args.data_dir) / "mmlu", subjects, 5, limit=limit)
        ref_time = time.perf_counter() - start
    report(items, ours, ours_time, ref_time, stats, params, args.peak_tflops * 1e12)


def make_reference(path: str, batch_size: int, dtype: str, device: str) -> Any:
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=path, dtype=dtype, batch_size=batch_size, device=device)


def report(
    items: Any, ours: Any, ours_time: float, ref_time: float, stats: Any, params: int, peak: float
) -> None:
    n = len(items)
    agree = sum(ours[(r.subject, r.doc_id)] == r.prediction for r in items) / n
    print(f"questions: {n}, params: {params / 1e9:.2f}B")
    print(f"lm-eval: {ref_time:.1f} s ({n / ref_time:.1f} q/s)")
    print(f"ours:    {ours_time:.1f} s ({n / ours_time:.1f} q/s)")
    print(f"speed-up: {ref_time / ours_time:.2f}x, agreement {100 * agree:.2f}%")
    for name, tokens in (("lm-eval", stats.tokens_full), ("ours", stats.tokens_forwarded)):
        limit_s = tokens * 2 * params / peak
        print(f"{name:8} tokens {tokens:,} ({tokens / n:.0f}/q); compute limit {limit_s:.1f} s")


if __name__ == "__main__":
    main()
