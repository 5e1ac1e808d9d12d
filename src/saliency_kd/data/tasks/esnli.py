"""esnli: e-SNLI (entailment, neutral, contradiction), with human explanations."""

from __future__ import annotations

import re

from .base import HubSource, Task
from .nli import NLI_LABELS, hub_row_reader, prompt, read_record

# Its PaLM outputs end in "Answer:", not in "So the answer is" as the other tasks' do.
TASK = Task("esnli", "choice", prompt, label_names=tuple(NLI_LABELS),
            fields=("premise", "hypothesis"), read_record=read_record,
            llm_answer=re.compile(r"\s*\nAnswer:\s*(.*)", re.S), llm_echo="\n\nPremise:",
            hub=HubSource("esnli", None,
                          {"train": "train", "valid": "validation", "test": "test"},
                          hub_row_reader("esnli")))
