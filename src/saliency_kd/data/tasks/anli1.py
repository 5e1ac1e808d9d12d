"""anli1: Adversarial NLI round 1 (entailment, neutral, contradiction), with its reasons."""

from __future__ import annotations

from .nli import nli_task

TASK = nli_task("anli1", r"\s*So the answer is\s*(.*)", "anli",
                {"train": "train_r1", "valid": "dev_r1", "test": "test_r1"})
