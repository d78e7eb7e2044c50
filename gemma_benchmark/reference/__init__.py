"""Runners for the reference harness (EleutherAI lm-evaluation-harness), used by the parity tests
and the side-by-side benchmarks. They need the `dev` extra (`lm-eval`)."""
