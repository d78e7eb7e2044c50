"""User-style tasks (the spec's BenchmarkTask interface only), named by dotted path in tests."""

from __future__ import annotations

from typing import Any


class ConstantTask:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def evaluate(self, model: Any) -> dict[str, Any]:
        return {"overall": {"accuracy": self.config["answer"]}, "model": model.model_name}


class ExplodingTask:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def evaluate(self, model: Any) -> dict[str, Any]:
        raise RuntimeError("deliberate failure")
