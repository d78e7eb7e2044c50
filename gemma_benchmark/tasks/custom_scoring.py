"""Deciding whether a generated answer is right, for user-defined generation tasks.

Two independent steps, each kept in the stored sample: an optional regex pulls the answer out of
the completion (its first group, else the whole match; no match means no answer, which is
wrong), then the answer is compared with the target by `exact` (after stripping), `contains`
(the target occurs in the answer) or `numeric` (the last number in the answer equals the target
as a decimal, so `1,200.0` matches `1200`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Literal

MatchMode = Literal["exact", "contains", "numeric"]
NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")


def extract(completion: str, pattern: re.Pattern[str] | None) -> str | None:
    """The answer part of a completion: the stripped completion, or the regex's capture."""
    if pattern is None:
        return completion.strip()
    found = pattern.search(completion)
    if found is None:
        return None
    text = found.group(1) if pattern.groups else found.group(0)
    return (text or "").strip()


def parse_number(text: str) -> Decimal | None:
    """A plain decimal (thousands commas allowed), or None."""
    try:
        return Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        return None


def last_number(text: str) -> Decimal | None:
    numbers = NUMBER.findall(text)
    return parse_number(numbers[-1]) if numbers else None


def is_match(extracted: str | None, target: str, mode: MatchMode, ignore_case: bool) -> bool:
    if extracted is None:
        return False
    if mode == "numeric":
        value, expected = last_number(extracted), parse_number(target)
        return value is not None and expected is not None and value == expected
    answer, wanted = extracted.strip(), target.strip()
    if ignore_case:
        answer, wanted = answer.casefold(), wanted.casefold()
    return answer == wanted if mode == "exact" else wanted in answer
