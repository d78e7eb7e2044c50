"""Benchmark data: where it is found, and readers for the original file layouts."""

from gemma_benchmark.data.locate import DATASET_MARKERS, find_dataset
from gemma_benchmark.data.readers import read_jsonl, read_mmlu_split

__all__ = ["DATASET_MARKERS", "find_dataset", "read_jsonl", "read_mmlu_split"]
