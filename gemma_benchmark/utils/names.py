"""How a name written in a config is matched to a registered one."""

from __future__ import annotations


def fold_name(text: str) -> str:
    """`High-School Mathematics` -> `high_school_mathematics`: lower case, and runs of spaces and
    hyphens become one underscore, so configs may spell task types, model types and MMLU
    subjects the way papers and lm-eval do."""
    return "_".join(str(text).strip().lower().replace("-", " ").split())
