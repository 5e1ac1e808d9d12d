"""anli1: Adversarial NLI round 1 (entailment, neutral, contradiction), with its reasons."""

from __future__ import annotations

import re

from .base import HubSource, Task
from .nli import NLI_LABELS, hub_row_reader, prompt, read_record

TASK = Task("anli1", "choice", prompt, label_names=tuple(NLI_LABELS),
            fields=("premise", "hypothesis"), read_record=read_record,
            llm_answer=re.compile(r"\s*So the answer is\s*(.*)", re.S), llm_echo="\n\nPremise:",
            hub=HubSource("anli", None,
                          {"train": "train_r1", "valid": "dev_r1", "test": "test_r1"},
                          hub_row_reader("anli1")))
