"""esnli: e-SNLI (entailment, neutral, contradiction), with human explanations."""

from __future__ import annotations

from .nli import nli_task

# Its PaLM outputs end in "Answer:", not in "So the answer is" as the other tasks' do.
TASK = nli_task("esnli", r"\s*\nAnswer:\s*(.*)", "esnli",
                {"train": "train", "valid": "validation", "test": "test"})
