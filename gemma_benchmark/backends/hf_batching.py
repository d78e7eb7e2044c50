"""`batch_size: auto`: the largest batch that fits, re-probed as sequence lengths fall.

On CUDA a probe halves from a cap until a forward pass at the given length succeeds (out-of-memory
errors recognised as accelerate does); results are cached per power-of-two length bucket, so
shorter inputs later in a run get larger batches (lm-eval's `auto:N` idea). On a CPU there is no
out-of-memory signal to probe (the machine swaps instead), so `auto` means the documented default.
An OOM on a real batch is still caught and halves that batch (`hf_loglikelihood.run_batches`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

CPU_DEFAULT = 16
PROBE_CAP = 512


def _bucket(length: int) -> int:
    return 1 << max(length - 1, 0).bit_length()


class BatchSizer:
    """Batch size per sequence length: fixed, or probed and cached (`auto`)."""

    def __init__(
        self,
        setting: int | str,
        model: Any,
        device: torch.device,
        probe: Callable[[Any, int, torch.device], int] | None = None,
    ) -> None:
        self.setting = setting
        self.model = model
        self.device = device
        self.probe = probe or probe_batch_size
        self.probed: dict[int, int] = {}

    def for_length(self, length: int) -> int:
        if isinstance(self.setting, int):
            return self.setting
        if self.device.type != "cuda":
            return CPU_DEFAULT
        bucket = _bucket(length)
        if bucket not in self.probed:
            self.probed[bucket] = self.probe(self.model, bucket, self.device)
        return self.probed[bucket]


def probe_batch_size(model: Any, length: int, device: torch.device, cap: int = PROBE_CAP) -> int:
    """The largest batch, halving from `cap`, whose forward pass at `length` fits in memory.

    An out-of-memory error is recognised as accelerate recognises one (`should_reduce_batch_size`:
    CUDA, cuDNN and CPU allocator failures); anything else propagates.
    """
    from accelerate.utils.memory import should_reduce_batch_size

    batch_size = cap
    while True:
        try:
            ids = torch.zeros((batch_size, length), dtype=torch.long, device=device)
            with torch.inference_mode():
                model(input_ids=ids, use_cache=False, logits_to_keep=1)
            break
        except Exception as err:
            if batch_size == 1 or not should_reduce_batch_size(err):
                raise
            batch_size //= 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return batch_size
