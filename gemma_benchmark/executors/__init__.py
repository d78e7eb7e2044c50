"""Running jobs beyond one process: the Ray executor and data-parallel shards.

Nothing here imports Ray at import time; `run_on_ray` and `defer_models` import it when the
config chooses `evaluation.executor: ray`, and raise ConfigurationError with the install hint
when it is missing.
"""

from gemma_benchmark.executors.ray_executor import DeferredModel, defer_models, run_on_ray
from gemma_benchmark.executors.sharding import Shard, install_shard, is_shardable, shard_indices
from gemma_benchmark.executors.worker import ModelWorker, UnitOutcome, UnitSpec

__all__ = [
    "DeferredModel",
    "ModelWorker",
    "Shard",
    "UnitOutcome",
    "UnitSpec",
    "defer_models",
    "install_shard",
    "is_shardable",
    "run_on_ray",
    "shard_indices",
]
