"""A built-in task slowed down at its final aggregation, so a test can kill the run there."""

from __future__ import annotations

import time
from typing import Any

from gemma_benchmark.tasks.base import Sample
from gemma_benchmark.tasks.mmlu import MMLUBenchmark


class SlowAggregateMMLU(MMLUBenchmark):
    def aggregate(self, samples: list[Sample]) -> dict[str, Any]:
        time.sleep(4)
        return super().aggregate(samples)
