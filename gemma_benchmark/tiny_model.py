"""Tiny random-weight checkpoints of the real architectures, built offline.

Tests and the demo need a real model that loads through `from_pretrained` without a hub. This
writes one: a BPE tokenizer trained on the local benchmark text, with Gemma's special tokens and
chat template, and a Gemma / Gemma 2 / Gemma 3 / Mistral / Llama model of a few hundred thousand
random parameters. The init std is about 1.0: with the default 0.02 a random model answers the
same letter for every question, which would make parity tests meaningless.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemma_benchmark.data import find_dataset, read_jsonl
from gemma_benchmark.data.readers import iter_jsonl, read_mmlu_split
from gemma_benchmark.tasks.mmlu_subjects import SUBJECT_CATEGORIES

ARCHES = ("gemma", "gemma2", "gemma3", "mistral", "llama")
SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


@dataclass(frozen=True)
class TinyShape:
    """Model dimensions; the defaults keep a forward pass at a few milliseconds on a CPU."""

    vocab_size: int = 4096
    hidden_size: int = 64
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    max_position_embeddings: int = 4096
    init_std: float = 1.0


def training_corpus(data_dir: str | None = None) -> Iterator[str]:
    """Benchmark text (MMLU dev/val, GSM8K train, HumanEval prompts) for the tokenizer."""
    mmlu = find_dataset("mmlu", data_dir, download=False)
    for subject in SUBJECT_CATEGORIES:
        for split in ("dev", "val"):
            for row in read_mmlu_split(mmlu, subject, split):
                yield "\n".join([row.question, *row.choices, f"Answer: {row.answer}"])
    gsm8k = find_dataset("gsm8k", data_dir, download=False)
    for index, record in enumerate(iter_jsonl(gsm8k / "train.jsonl")):
        if index >= 3000:
            break
        yield f"Question: {record['question']}\nAnswer: {record['answer']}"
    humaneval = find_dataset("humaneval", data_dir, download=False)
    for record in read_jsonl(humaneval / "HumanEval.jsonl.gz"):
        yield record["prompt"] + record["canonical_solution"]


def train_tokenizer(texts: Iterator[str], vocab_size: int) -> Any:
    """A byte-level BPE (every string encodes; no unknown tokens) that prepends <bos>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    bos = core.token_to_id("<bos>")
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
        model_max_length=TinyShape.max_position_embeddings,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def model_config(arch: str, shape: TinyShape, tokenizer: Any) -> Any:
    import transformers

    common: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.num_hidden_layers,
        "num_attention_heads": shape.num_attention_heads,
        "num_key_value_heads": shape.num_key_value_heads,
        "head_dim": shape.head_dim,
        "max_position_embeddings": shape.max_position_embeddings,
        "initializer_range": shape.init_std,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if arch == "gemma":
        return transformers.GemmaConfig(**common)
    if arch == "gemma2":
        return transformers.Gemma2Config(**common, sliding_window=256)
    if arch == "gemma3":
        return transformers.Gemma3TextConfig(
            **common, sliding_window=256, layer_types=["sliding_attention", "full_attention"]
        )
    if arch == "mistral":
        return transformers.MistralConfig(**common, sliding_window=None)
    if arch == "llama":
        return transformers.LlamaConfig(**common)
    raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(ARCHES)}")


def build_tiny_model(
    out_dir: str | Path,
    arch: str = "gemma",
    seed: int = 0,
    shape: TinyShape | None = None,
    data_dir: str | None = None,
) -> Path:
    """Write tokenizer and random model to `out_dir`; return it. Deterministic for a seed."""
    import torch
    from transformers import AutoModelForCausalLM

    if arch not in ARCHES:
        raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(ARCHES)}")
    shape = shape or TinyShape()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(seed)
    tokenizer = train_tokenizer(training_corpus(data_dir), shape.vocab_size)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(model_config(arch, shape, tokenizer))
    model.generation_config.do_sample = False
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
