"""Model I/O. Only this package and the model loader touch torch and transformers."""
