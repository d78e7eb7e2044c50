"""MMLU subjects and lm-evaluation-harness's category of each (its `mmlu_<category>` groups)."""

from gemma_benchmark.utils.names import fold_name

SUBJECT_CATEGORIES: dict[str, str] = {
    "abstract_algebra": "stem",
    "anatomy": "stem",
    "astronomy": "stem",
    "business_ethics": "other",
    "clinical_knowledge": "other",
    "college_biology": "stem",
    "college_chemistry": "stem",
    "college_computer_science": "stem",
    "college_mathematics": "stem",
    "college_medicine": "other",
    "college_physics": "stem",
    "computer_security": "stem",
    "conceptual_physics": "stem",
    "econometrics": "social_sciences",
    "electrical_engineering": "stem",
    "elementary_mathematics": "stem",
    "formal_logic": "humanities",
    "global_facts": "other",
    "high_school_biology": "stem",
    "high_school_chemistry": "stem",
    "high_school_computer_science": "stem",
    "high_school_european_history": "humanities",
    "high_school_geography": "social_sciences",
    "high_school_government_and_politics": "social_sciences",
    "high_school_macroeconomics": "social_sciences",
    "high_school_mathematics": "stem",
    "high_school_microeconomics": "social_sciences",
    "high_school_physics": "stem",
    "high_school_psychology": "social_sciences",
    "high_school_statistics": "stem",
    "high_school_us_history": "humanities",
    "high_school_world_history": "humanities",
    "human_aging": "other",
    "human_sexuality": "social_sciences",
    "international_law": "humanities",
    "jurisprudence": "humanities",
    "logical_fallacies": "humanities",
    "machine_learning": "stem",
    "management": "other",
    "marketing": "other",
    "medical_genetics": "other",
    "miscellaneous": "other",
    "moral_disputes": "humanities",
    "moral_scenarios": "humanities",
    "nutrition": "other",
    "philosophy": "humanities",
    "prehistory": "humanities",
    "professional_accounting": "other",
    "professional_law": "humanities",
    "professional_medicine": "other",
    "professional_psychology": "social_sciences",
    "public_relations": "social_sciences",
    "security_studies": "social_sciences",
    "sociology": "social_sciences",
    "us_foreign_policy": "social_sciences",
    "virology": "other",
    "world_religions": "humanities",
}

CATEGORIES: tuple[str, ...] = ("stem", "humanities", "social_sciences", "other")

# Named groups beyond lm-eval's categories, for quick focused runs.
NAMED_GROUPS: dict[str, tuple[str, ...]] = {
    "mathematics": (
        "abstract_algebra",
        "college_mathematics",
        "elementary_mathematics",
        "high_school_mathematics",
        "high_school_statistics",
    ),
    "computer_science": (
        "college_computer_science",
        "computer_security",
        "high_school_computer_science",
        "machine_learning",
    ),
}


def resolve_subset(subset: str | list[str]) -> list[str]:
    """Expand `all`, a subject, a category, a named group, or a list of them, to subjects.

    Returns subjects in alphabetical order without duplicates; raises ValueError on an unknown
    name, listing the kinds of names accepted.
    """
    names = [subset] if isinstance(subset, str) else list(subset)
    if not names:
        raise ValueError("must name at least one subject, category or group")
    chosen: set[str] = set()
    for name in names:
        chosen.update(_expand(name))
    return sorted(chosen)


def _canonical(name: str) -> str:
    """`High School Mathematics`, `STEM`, `mmlu_virology` (lm-eval's task name) -> our names."""
    return fold_name(name).removeprefix("mmlu_")


def _expand(raw: str) -> tuple[str, ...]:
    name = _canonical(raw)
    if name in ("all", "mmlu"):
        return tuple(SUBJECT_CATEGORIES)
    if name in SUBJECT_CATEGORIES:
        return (name,)
    if name in CATEGORIES:
        return tuple(s for s, c in SUBJECT_CATEGORIES.items() if c == name)
    if name in NAMED_GROUPS:
        return NAMED_GROUPS[name]
    import difflib

    known = [*SUBJECT_CATEGORIES, *CATEGORIES, *NAMED_GROUPS, "all"]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown subset {raw!r}: expected 'all', a subject, a category "
        f"({', '.join(CATEGORIES)}) or a group ({', '.join(NAMED_GROUPS)}){hint}"
    )
