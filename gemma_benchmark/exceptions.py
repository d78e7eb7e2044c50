"""Exceptions of the public API.

Each names its culprit (config key path, file, model id) in its message, so that the CLI can print
one line and exit 2 without a traceback.
"""


class GemmaBenchmarkError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(GemmaBenchmarkError):
    """The configuration is invalid; the message starts with the offending key path."""


class ModelLoadingError(GemmaBenchmarkError):
    """A model or tokenizer could not be loaded; the message names the model id or path."""


class TaskInitializationError(GemmaBenchmarkError):
    """A task could not be set up (bad options, missing data); the message names the task."""


class BenchmarkExecutionError(GemmaBenchmarkError):
    """A task failed while it ran against a model."""


class DataNotFoundError(TaskInitializationError):
    """A dataset is in none of the places looked in; the message lists them."""
