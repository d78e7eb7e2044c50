"""Print `name==version` for each package the GPU check needs that the device image lacks.

The lent H200 machine has PyTorch, transformers 5.17 and much else, but nothing can be fetched
there. This walks the requirements of gemma-benchmark and lm-eval as installed in this venv and
keeps what the image does not hold, plus the packages whose version must match ours
(transformers 5.24+ for the `cache=` keyword the profiler uses). `fetch_wheels.sh` downloads
them; `gpu_check.sh` installs them there.

    .venv/bin/python benchmarks/device/missing_wheels.py > .whl/requirements.txt
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys

# The device image's packages, from the device tool's KINDS.md (read 2026-11-17).
DEVICE_IMAGE = (
    "absl-py",
    "accelerate",
    "aiofiles",
    "aiohappyeyeballs",
    "aiohttp",
    "aiosignal",
    "annotated-doc",
    "anyio",
    "attrs",
    "botorch",
    "build",
    "certifi",
    "charset-normalizer",
    "chex",
    "click",
    "cloudpickle",
    "cmake",
    "colorama",
    "contourpy",
    "coverage",
    "cycler",
    "cython",
    "einops",
    "filelock",
    "fonttools",
    "frozenlist",
    "fsspec",
    "h11",
    "h5py",
    "hf-xet",
    "httpcore",
    "huggingface-hub",
    "idna",
    "jinja2",
    "joblib",
    "kiwisolver",
    "markdown-it-py",
    "markupsafe",
    "matplotlib",
    "mdurl",
    "mpmath",
    "msgpack",
    "multidict",
    "networkx",
    "ninja",
    "numpy",
    "packaging",
    "pandas",
    "pathspec",
    "peft",
    "pillow",
    "pip",
    "pluggy",
    "portalocker",
    "propcache",
    "protobuf",
    "psutil",
    "pyarrow",
    "pybind11",
    "pygments",
    "pyparsing",
    "python-dateutil",
    "pyyaml",
    "regex",
    "requests",
    "rich",
    "sacrebleu",
    "safetensors",
    "scikit-learn",
    "scipy",
    "sentencepiece",
    "setuptools",
    "shellingham",
    "six",
    "sympy",
    "tabulate",
    "threadpoolctl",
    "tiktoken",
    "tokenizers",
    "torch",
    "tqdm",
    "transformers",
    "triton",
    "typer",
    "typing-extensions",
    "urllib3",
    "wheel",
    "wrapt",
    "xxhash",
    "yarl",
    "zipp",
)
MUST_MATCH = {"transformers", "huggingface-hub", "tokenizers", "safetensors"}
ROOTS = ("gemma-benchmark", "lm-eval")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def needed() -> dict[str, str]:
    """Every distribution reachable from ROOTS, by normalised name -> installed version."""
    found: dict[str, str] = {}
    todo = list(ROOTS)
    while todo:
        name = normal(todo.pop())
        if name in found:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # a marker-gated requirement (older Pythons) not installed here
        found[name] = dist.version
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0))  # type: ignore[union-attr]
    return found


def main() -> int:
    image = {normal(n) for n in DEVICE_IMAGE}
    for name, version in sorted(needed().items()):
        if name in ("gemma-benchmark", "torch"):
            continue
        if name not in image or name in MUST_MATCH:
            print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
