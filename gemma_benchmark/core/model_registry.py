"""Which hub id a (family, version, size, variant) names.

Kept free of torch so that config validation and `list-models` stay instant.
"""

from __future__ import annotations

from dataclasses import dataclass

# version -> size -> variant -> hub id
GEMMA_MODELS: dict[str, dict[str, dict[str, str]]] = {
    "1": {
        "2b": {"pt": "google/gemma-2b", "it": "google/gemma-2b-it"},
        "7b": {"pt": "google/gemma-7b", "it": "google/gemma-7b-it"},
    },
    "1.1": {
        "2b": {"it": "google/gemma-1.1-2b-it"},
        "7b": {"it": "google/gemma-1.1-7b-it"},
    },
    "2": {
        "2b": {"pt": "google/gemma-2-2b", "it": "google/gemma-2-2b-it"},
        "9b": {"pt": "google/gemma-2-9b", "it": "google/gemma-2-9b-it"},
        "27b": {"pt": "google/gemma-2-27b", "it": "google/gemma-2-27b-it"},
    },
    "3": {
        "270m": {"pt": "google/gemma-3-270m", "it": "google/gemma-3-270m-it"},
        "1b": {"pt": "google/gemma-3-1b-pt", "it": "google/gemma-3-1b-it"},
        "4b": {"pt": "google/gemma-3-4b-pt", "it": "google/gemma-3-4b-it"},
        "12b": {"pt": "google/gemma-3-12b-pt", "it": "google/gemma-3-12b-it"},
        "27b": {"pt": "google/gemma-3-27b-pt", "it": "google/gemma-3-27b-it"},
    },
}

MISTRAL_MODELS: dict[str, dict[str, dict[str, str]]] = {
    "v0.1": {
        "7b": {
            "base": "mistralai/Mistral-7B-v0.1",
            "instruct": "mistralai/Mistral-7B-Instruct-v0.1",
        }
    },
    "v0.2": {
        # Mistral published the v0.2 base weights outside the hub; this is the community upload.
        "7b": {
            "base": "mistral-community/Mistral-7B-v0.2",
            "instruct": "mistralai/Mistral-7B-Instruct-v0.2",
        }
    },
    "v0.3": {
        "7b": {
            "base": "mistralai/Mistral-7B-v0.3",
            "instruct": "mistralai/Mistral-7B-Instruct-v0.3",
        }
    },
}

FAMILIES: dict[str, dict[str, dict[str, dict[str, str]]]] = {
    "gemma": GEMMA_MODELS,
    "mistral": MISTRAL_MODELS,
}

# When no version is given: Gemma 2 if it has the size (the spec's sizes are Gemma 2's), else
# the newest family that has it; Mistral's newest release.
DEFAULT_VERSION_ORDER: dict[str, list[str]] = {
    "gemma": ["2", "3", "1"],
    "mistral": ["v0.3", "v0.2", "v0.1"],
}

INSTRUCT_VARIANTS = frozenset({"it", "instruct"})


@dataclass(frozen=True)
class ModelSpec:
    """A resolved catalogue entry."""

    family: str
    version: str
    size: str
    variant: str
    hub_id: str

    @property
    def instruction_tuned(self) -> bool:
        return self.variant in INSTRUCT_VARIANTS


def resolve_model(family: str, size: str, variant: str, version: str | None = None) -> ModelSpec:
    """Map a catalogue entry to its hub id.

    Raises ValueError naming the bad part (family, version, size or variant) and what is valid.
    """
    table = FAMILIES.get(family)
    if table is None:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    size = size.lower()
    if version is None:
        version = next((v for v in DEFAULT_VERSION_ORDER[family] if size in table[v]), None)
        if version is None:
            sizes = sorted({s for v in table.values() for s in v})
            raise ValueError(f"unsupported {family} size {size!r}; supported: {', '.join(sizes)}")
    version = str(version)
    if version not in table:
        raise ValueError(f"unknown {family} version {version!r}; known: {', '.join(table)}")
    if size not in table[version]:
        raise ValueError(
            f"unsupported {family} {version} size {size!r}; supported: {', '.join(table[version])}"
        )
    variants = table[version][size]
    if variant not in variants:
        raise ValueError(
            f"unknown {family} {version} {size} variant {variant!r}; "
            f"supported: {', '.join(variants)}"
        )
    return ModelSpec(family, version, size, variant, variants[variant])


def catalogue() -> list[ModelSpec]:
    """Every known catalogue entry, for `list-models`."""
    return [
        ModelSpec(family, version, size, variant, hub_id)
        for family, versions in FAMILIES.items()
        for version, sizes in versions.items()
        for size, variants in sizes.items()
        for variant, hub_id in variants.items()
    ]
