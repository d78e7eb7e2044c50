"""gemma-benchmark: trustworthy evaluation of Gemma and other causal LMs.

Importing the package is cheap on purpose: torch and transformers load only when a model does,
so `gemma-benchmark --help` stays fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
